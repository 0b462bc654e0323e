import asyncio
import re
import time

import pytest
import torch

from worldmodel_sdk import ActionPayload, ContractError, Trajectory
from worldmodel_sdk.models import ExampleConfig, ExampleModel

from .models import TwoAgents, joint_action


@pytest.fixture
def model() -> ExampleModel:
    torch.manual_seed(0)
    return ExampleModel()


def test_rollout_shapes_and_predictions(model):
    state = model.encode(torch.randn(4, 8), deterministic=True)
    traj = model.rollout(state, torch.randn(15, 4, 2))
    assert isinstance(traj, Trajectory)
    assert len(traj.states) == 16 and traj.horizon == 15 and traj.batch_size == 4
    assert traj.rewards is not None and traj.rewards.shape == (15, 4)
    assert traj.predictions is not None and traj.predictions["obs"].shape == (15, 4, 8)
    assert traj.values is None and traj.continues is None
    assert traj.states[0] is state


def test_latent_mode_skips_decode(model):
    state = model.encode(torch.randn(2, 8))
    traj = model.rollout(state, torch.randn(3, 2, 2), mode="latent")
    assert traj.rewards is None and traj.predictions is None


def test_deterministic_rollout_repeats_exactly(model):
    state = model.encode(torch.randn(4, 8), deterministic=True)
    actions = torch.randn(10, 4, 2)
    a = model.rollout(state, actions, deterministic=True)
    b = model.rollout(state, actions, deterministic=True)
    assert torch.equal(a.stacked("z"), b.stacked("z")) and torch.equal(a.rewards, b.rewards)
    c = model.rollout(state, actions, deterministic=False)
    assert not torch.equal(a.stacked("z"), c.stacked("z"))


def test_async_rollout_equals_rollout(model):
    state = model.encode(torch.randn(4, 8), deterministic=True)
    actions = torch.randn(10, 4, 2)
    sync = model.rollout(state, actions, deterministic=True)
    done = asyncio.run(model.async_rollout(state, actions, deterministic=True))
    assert torch.equal(sync.stacked("h"), done.stacked("h"))
    assert torch.equal(sync.rewards, done.rewards)
    assert torch.equal(sync.predictions["obs"], done.predictions["obs"])


def test_async_twins_keep_grad_mode(model):
    state = model.encode(torch.randn(2, 8), deterministic=True)

    async def run():
        with torch.no_grad():
            nograd = await model.async_transition(state, torch.randn(2, 2), deterministic=True)
        grad = await model.async_transition(state, torch.randn(2, 2), deterministic=True)
        enc = await model.async_encode(torch.randn(2, 8))
        dec = await model.async_decode(enc)
        return nograd, grad, dec

    nograd, grad, dec = asyncio.run(run())
    assert not nograd["h"].requires_grad and grad["h"].requires_grad
    assert dec["obs"].shape == (2, 8)


def test_async_rollout_keeps_event_loop_responsive():
    torch.manual_seed(0)
    big = ExampleModel(ExampleConfig(obs_dim=64, action_dim=8, latent_dim=128, hidden_dim=512))
    state = big.encode(torch.randn(256, 64))
    actions = torch.randn(200, 256, 8)

    async def run():
        ticks = 0
        stop = False

        async def heartbeat():
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0.005)

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        start = time.perf_counter()
        with torch.no_grad():
            await big.async_rollout(state, actions)
        elapsed = time.perf_counter() - start
        stop = True
        await beat
        return ticks, elapsed

    ticks, elapsed = asyncio.run(run())
    # A blocked loop would tick once; a free one ticks roughly every 5 ms of the rollout.
    assert ticks >= max(3, int(elapsed / 0.005) // 10), (ticks, elapsed)


def test_rollout_validates_inputs_once_with_clear_errors(model):
    state = model.encode(torch.randn(4, 8))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action_sequence has shape (5, 3, 2); contract expects (T, B, 2) with B=4 [ExampleModel.rollout]"
        ),
    ):
        model.rollout(state, torch.randn(5, 3, 2))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action_sequence contains NaN or inf; contract expects finite values [ExampleModel.rollout]"
        ),
    ):
        model.rollout(state, torch.stack([torch.zeros(4, 2), torch.full((4, 2), float("nan"))]))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "unknown rollout mode 'beam'; expected one of ('autoregressive', 'latent')"
        ),
    ):
        model.rollout(state, torch.randn(5, 4, 2), mode="beam")
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action_sequence has shape (4,); contract expects (T, B, 2) [ExampleModel.rollout]"
        ),
    ):
        model.rollout(state, torch.randn(4))
    with pytest.raises(ContractError, match=re.escape("State is missing ['z']")):
        model.rollout(state.__class__({"h": state["h"]}), torch.randn(5, 4, 2))
    steps = [
        ActionPayload(kind="continuous", tensor=torch.zeros(4, 2)),
        ActionPayload(kind="continuous", tensor=torch.zeros(3, 2)),
    ]
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action_sequence[1] has shape (3, 2); contract expects (B, 2) with B=4 "
            "[ExampleModel.rollout]"
        ),
    ):
        model.rollout(state, steps)
    with pytest.raises(
        ContractError, match=re.escape("action_sequence[1] must be an ActionPayload; got Tensor")
    ):
        model.rollout(
            state, [ActionPayload(kind="continuous", tensor=torch.zeros(4, 2)), torch.zeros(4, 2)]
        )  # type: ignore[list-item]


def test_empty_action_sequences_are_refused(model):
    state = model.encode(torch.randn(2, 8))
    message = "action_sequence has no steps (T=0); a rollout needs T >= 1 [ExampleModel.rollout]"
    for empty in (
        torch.zeros(0, 2, 2),
        ActionPayload(kind="continuous", tensor=torch.zeros(0, 2, 2)),
        [],
    ):
        with pytest.raises(ContractError, match=re.escape(message)):
            model.rollout(state, empty)


def test_rollout_hot_loop_does_no_validation(model, monkeypatch):
    """Validation happens in prepare(); the loop itself must not re-check anything."""
    import worldmodel_sdk.rollout as engine
    import worldmodel_sdk.validation as validation

    state = model.encode(torch.randn(2, 8))
    plan = engine.prepare(model, state, torch.randn(6, 2, 2), None, False, "autoregressive")

    def forbidden(*args, **kwargs):
        raise AssertionError("validation inside the hot loop")

    for name in ("check_action", "check_state", "check_conditions", "check_observation"):
        monkeypatch.setattr(validation, name, forbidden)
        monkeypatch.setattr(engine, name, forbidden, raising=False)
    monkeypatch.setattr(type(model), "io_contract", forbidden)
    monkeypatch.setattr(torch.Tensor, "item", forbidden)
    monkeypatch.setattr(torch.Tensor, "__bool__", forbidden)
    traj = engine.run(plan)
    assert traj.horizon == 6


def test_multi_agent_rollout_with_joint_actions_and_value_series():
    torch.manual_seed(0)
    m = TwoAgents()
    state = m.encode({"agent_2": torch.randn(3, 4), "agent_10": torch.randn(3, 6)})
    steps = [joint_action(3) for _ in range(5)]
    traj = m.rollout(state, steps, deterministic=True)
    assert traj.actions.shape == (5, 3, 3)
    assert (
        traj.rewards.shape == (5, 3)
        and traj.continues.shape == (5, 3)
        and traj.values.shape == (6, 3)
    )
    assert set(traj.predictions) == {"agent_2", "agent_10"}
    # The same actions as one payload over [T, B, ...] give the same trajectory.
    stacked = ActionPayload(
        kind="joint",
        agents={k: torch.stack([s.agents[k] for s in steps]) for k in ("agent_2", "agent_10")},
    )
    again = m.rollout(state, stacked, deterministic=True)
    assert torch.equal(traj.stacked("z"), again.stacked("z"))


def test_rollout_gradients_follow_caller_grad_mode(model):
    state = model.encode(torch.randn(2, 8))
    with torch.no_grad():
        traj = model.rollout(state.detach(), torch.randn(3, 2, 2))
    assert not traj.states[-1]["h"].requires_grad
    traj = model.rollout(state, torch.randn(3, 2, 2))
    assert traj.states[-1]["h"].requires_grad
