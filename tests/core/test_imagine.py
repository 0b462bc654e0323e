import asyncio
import re
import sys

import pytest
import torch

from worldmodel_sdk import ContractError, State, Trajectory

from .batching_models import action, jopm, jopm_heads, rdlm, start
from .batching_models import example as example_model
from .models import TwoAgents, joint_action


class Recording:
    """A policy drawing random actions and recording what it saw and returned."""

    def __init__(self, model, seed: int = 0):
        self.model, self.seen, self.returned = model, [], []
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, state):
        self.seen.append(state)
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.gen)))
        act = action(self.model, (state.batch_size,))
        self.returned.append(act)
        return act


@pytest.mark.parametrize("make", [example_model, rdlm, jopm, jopm_heads], ids=lambda f: f.__name__)
def test_imagine_calls_the_policy_once_per_step_and_replays_as_a_rollout(make):
    torch.manual_seed(0)
    model = make().eval()
    state = start(model, 3)
    policy = Recording(model)
    with torch.no_grad():
        traj = model.imagine(state, policy, 4, deterministic=True)
        replay = model.rollout(state, traj.actions, deterministic=True)
    assert isinstance(traj, Trajectory) and traj.horizon == 4 and traj.states[0] is state
    assert len(policy.seen) == 4
    assert all(seen is traj.states[t] for t, seen in enumerate(policy.seen))
    for t, act in enumerate(policy.returned):
        packed = act if isinstance(act, torch.Tensor) else act.packed()
        assert torch.equal(traj.actions[t], packed.to(traj.actions.dtype))
    for key in state.tensors:
        torch.testing.assert_close(replay.stacked(key), traj.stacked(key), rtol=1e-5, atol=1e-6)


def test_gradients_flow_from_imagined_rewards_into_a_module_policy():
    torch.manual_seed(0)
    model = example_model().eval()
    actor = torch.nn.Linear(16, 2)
    traj = model.imagine(model.encode(torch.randn(2, 8)), lambda s: actor(s["h"]), 3)
    traj.rewards.sum().backward()
    assert actor.weight.grad is not None and actor.weight.grad.abs().sum() > 0


def test_policy_outputs_and_horizons_are_checked():
    model = example_model()
    state = start(model, 2)
    with pytest.raises(
        ContractError,
        match=re.escape(
            "policy output at step 0 has shape (3, 2); contract expects (B, 2) with B=2 "
            "[ExampleModel.imagine]"
        ),
    ):
        model.imagine(state, lambda s: torch.zeros(3, 2), 2)
    with pytest.raises(
        ContractError,
        match=re.escape(
            "policy returned list at step 0; expected an ActionPayload or a tensor [B, ...] "
            "with B=2 [ExampleModel.imagine]"
        ),
    ):
        model.imagine(state, lambda s: [0.0, 0.0], 2)
    with pytest.raises(
        ContractError, match=re.escape("horizon must be an int >= 1; got 0 [ExampleModel.imagine]")
    ):
        model.imagine(state, lambda s: torch.zeros(2, 2), 0)


def test_async_imagine_coalesces_callers_with_their_own_policies():
    torch.manual_seed(0)
    model = jopm().eval()
    states = [start(model, b) for b in (1, 2, 1, 3)]
    policies = [Recording(model, seed) for seed in range(4)]
    solos = [Recording(model, seed) for seed in range(4)]

    async def main():
        return await asyncio.gather(
            *(
                model.async_imagine(s, p, 3, deterministic=True)
                for s, p in zip(states, policies, strict=True)
            )
        )

    with torch.no_grad():
        trajs = asyncio.run(main())
        for state, traj, solo, policy in zip(states, trajs, solos, policies, strict=True):
            alone = model.imagine(state, solo, 3, deterministic=True)
            assert [s.batch_size for s in policy.seen] == [state.batch_size] * 3
            torch.testing.assert_close(traj.actions, alone.actions)
            for key in state.tensors:
                torch.testing.assert_close(traj.stacked(key), alone.stacked(key))


def test_discount_weights_mask_by_predicted_continues():
    torch.manual_seed(0)
    model = TwoAgents().eval()
    state = model.encode(
        {"agent_2": torch.randn(2, 4), "agent_10": torch.randn(2, 6)}, deterministic=True
    )
    traj = model.imagine(state, lambda s: joint_action(s.batch_size), 3)
    weights = traj.discount_weights(0.9)
    assert weights.shape == (4, 2) and torch.equal(weights[0], torch.ones(2))
    torch.testing.assert_close(weights[1:], torch.cumprod(0.9 * traj.continues.detach(), 0))
    assert not weights.requires_grad
    plain = Trajectory(states=[State({"h": torch.zeros(2, 1)})] * 2, actions=torch.zeros(1, 2))
    with pytest.raises(
        ContractError, match=re.escape("needs predicted continues; this trajectory has none")
    ):
        plain.discount_weights()
    with pytest.raises(ContractError, match=re.escape("discount must be in [0, 1]; got 1.5")):
        traj.discount_weights(1.5)


def test_async_imagine_uses_an_overridden_imagine():
    class Counting(type(example_model())):
        made = 0

        def imagine(self, *args, **kwargs):
            type(self).made += 1
            return super().imagine(*args, **kwargs)

    model = Counting().eval()
    state = start(model, 2)
    with torch.no_grad():
        traj = asyncio.run(model.async_imagine(state, lambda s: torch.zeros(2, 2), 2))
    assert Counting.made == 1 and traj.horizon == 2


NOTES = sys.version_info >= (3, 11)  # exception notes: Python 3.11+


class Failing(Recording):
    """A recording policy that fails at step ``at``: it returns ``bad`` there, or raises it."""

    def __init__(self, model, seed: int, at: int, bad):
        super().__init__(model, seed)
        self.at, self.bad = at, bad

    def __call__(self, state):
        if len(self.seen) == self.at:
            self.seen.append(state)
            if isinstance(self.bad, Exception):
                raise self.bad
            return self.bad(state)
        return super().__call__(state)


@pytest.mark.parametrize("make", [example_model, jopm], ids=lambda f: f.__name__)
def test_a_failing_policy_fails_its_caller_only(make):
    torch.manual_seed(0)
    model = make().eval()
    states = [start(model, b) for b in (1, 2, 1, 2)]
    policies = [
        Recording(model, 0),
        Failing(model, 1, 0, ZeroDivisionError("policy bug")),
        Failing(model, 2, 2, lambda s: [0.0]),
        Recording(model, 3),
    ]

    async def main():
        return await asyncio.gather(
            *(
                model.async_imagine(s, p, 4, deterministic=True)
                for s, p in zip(states, policies, strict=True)
            ),
            return_exceptions=True,
        )

    with torch.no_grad():
        results = asyncio.run(main())
        assert isinstance(results[1], ZeroDivisionError) and str(results[1]) == "policy bug"
        where = f"[{type(model).__name__}.imagine]"
        assert not NOTES or results[1].__notes__ == [f"raised by the policy at step 0 {where}"]
        assert isinstance(results[2], ContractError)
        assert str(results[2]).startswith("policy returned list at step 2; expected")
        assert str(results[2]).endswith(where)
        assert [len(p.seen) for p in policies] == [4, 1, 3, 4]  # never called after failing
        for i in (0, 3):
            alone = model.imagine(states[i], Recording(model, i), 4, deterministic=True)
            torch.testing.assert_close(results[i].actions, alone.actions)
            for key in states[i].tensors:
                torch.testing.assert_close(results[i].stacked(key), alone.stacked(key))


def test_a_batch_whose_policies_all_fail_gives_each_caller_its_own_error():
    model = example_model().eval()
    errors = [ValueError("first"), KeyError("second")]

    async def main():
        return await asyncio.gather(
            *(
                model.async_imagine(start(model, 1), Failing(model, 0, at, error), 3)
                for at, error in enumerate(errors)
            ),
            return_exceptions=True,
        )

    with torch.no_grad():
        results = asyncio.run(main())
    assert results == errors
    assert not NOTES or results[1].__notes__ == [
        "raised by the policy at step 1 [ExampleModel.imagine]"
    ]


def test_a_raising_policy_keeps_its_error_and_is_told_the_step():
    model = example_model()
    state = start(model, 2)
    calls = []

    def policy(s):
        calls.append(s)
        if len(calls) == 3:
            raise RuntimeError("actor diverged")
        return torch.zeros(2, 2)

    with pytest.raises(RuntimeError, match="actor diverged") as caught:
        model.imagine(state, policy, 5)
    assert not NOTES or caught.value.__notes__ == [
        "raised by the policy at step 2 [ExampleModel.imagine]"
    ]


def test_a_joint_policy_may_return_the_packed_tensor_it_is_recorded_as():
    torch.manual_seed(0)
    model = jopm().eval()
    state = start(model, 3)
    with torch.no_grad():
        recorded = model.imagine(state, Recording(model), 3, deterministic=True)
        steps = iter(recorded.actions)
        packed = model.imagine(state, lambda s: next(steps), 3, deterministic=True)
    torch.testing.assert_close(packed.actions, recorded.actions)
    for key in state.tensors:
        torch.testing.assert_close(packed.stacked(key), recorded.stacked(key))
    wrong = torch.zeros(3, recorded.actions.shape[-1] + 1)
    with pytest.raises(ContractError, match=re.escape("policy output at step 0")):
        model.imagine(state, lambda s: wrong, 2)


def test_a_failed_callers_rows_step_on_an_action_the_contract_accepts():
    from ..envs.test_vector import bounded

    model = bounded()
    states = [model.encode(torch.randn(b, 8), deterministic=True) for b in (2, 1)]
    good = lambda s: torch.full((s.batch_size, 2), 1.5)  # noqa: E731 - a one-line policy

    async def main():
        return await asyncio.gather(
            model.async_imagine(
                states[0], Failing(model, 0, 0, lambda s: [0.0]), 3, deterministic=True
            ),
            model.async_imagine(states[1], good, 3, deterministic=True),
            return_exceptions=True,
        )

    with torch.no_grad():
        failed, traj = asyncio.run(main())
        alone = model.imagine(states[1], good, 3, deterministic=True)
    assert isinstance(failed, ContractError) and "policy returned list at step 0" in str(failed)
    assert isinstance(traj, Trajectory)  # zeros for the failed rows would have broken the batch
    torch.testing.assert_close(traj.stacked("h"), alone.stacked("h"))
