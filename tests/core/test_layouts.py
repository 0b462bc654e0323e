import asyncio
import gc
import re

import numpy as np
import pytest
import torch

from worldmodel_sdk import (
    ActionSpec,
    Capability,
    ContractError,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    Trajectory,
    WorldModel,
)
from worldmodel_sdk import rollout as rollout_module
from worldmodel_sdk._layouts import _CACHE

from .batching_models import batcher_threads_end


class Bounded(WorldModel):
    """Actions bounded in [-1, 1]; records the batch size of every transition."""

    capabilities = frozenset({Capability.LATENT_DYNAMICS, Capability.REWARD_PRED})

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)
        self.head = torch.nn.Linear(4, 1)
        self.seen: list[int] = []

    def io_contract(self):
        return IOContract(
            action=ActionSpec(kind="continuous", shape=(2,), low=-1.0, high=1.0),
            state={"h": TensorSpec(shape=("B", 4))},
            prediction={"reward": TensorSpec(shape=("B", 1))},
        )

    def transition(self, state, action, conditions=None, deterministic=False):
        self.seen.append(state.batch_size)
        return State({"h": torch.tanh(self.lin(torch.cat([state["h"], action], -1)))})

    def decode(self, state, conditions=None):
        return ModelOutput({"reward": self.head(state["h"])}, state)

    def loss(self, batch):
        return LossOutput(total=torch.zeros(()))


def gather(*coros):
    async def main():
        return await asyncio.gather(*coros, return_exceptions=True)

    return asyncio.run(main())


def sync_error(model, state, actions) -> str:
    with pytest.raises(ContractError) as caught:
        model.rollout(state, actions, deterministic=True)
    return str(caught.value)


@pytest.fixture
def prepares(monkeypatch):
    """Counts the full preparations (every check) of rollouts."""
    calls: list[int] = []
    prepare = rollout_module.prepare

    def spy(model, initial_state, *args):
        calls.append(len(next(iter(initial_state.tensors.values()))))
        return prepare(model, initial_state, *args)

    monkeypatch.setattr(rollout_module, "prepare", spy)
    return calls


def test_a_recorded_layout_is_checked_in_full_once(prepares):
    model = Bounded().eval()
    start = State({"h": torch.randn(1, 4)})
    acts = torch.rand(3, 1, 2)
    with torch.no_grad():
        gather(*(model.async_rollout(start, acts, deterministic=True) for _ in range(4)))
        gather(model.async_rollout(State({"h": torch.randn(2, 4)}), torch.rand(3, 2, 2)))
        gather(model.async_rollout(State({"h": start["h"]}, {"tag": 1}), acts))
        gather(model.async_rollout(start, acts.numpy()))
    # One full check per new signature (B=1, then B=2); metadata and numpy input every time.
    assert prepares == [1, 2, 1, 1]


def test_bad_action_values_of_a_recorded_layout_fail_their_caller_only():
    model = Bounded().eval()
    start = State({"h": torch.randn(1, 4)})
    good = [torch.rand(3, 1, 2) * 2 - 1 for _ in range(2)]
    nan = good[0].clone()
    nan[1, 0, 1] = float("nan")
    high = good[0].clone()
    high[2, 0, 0] = 3.5
    with torch.no_grad():
        results = gather(
            *(model.async_rollout(start, a, deterministic=True) for a in (good[0], nan)),
            *(model.async_rollout(start, a, deterministic=True) for a in (high, good[1])),
        )
        assert [isinstance(r, Trajectory) for r in results] == [True, False, False, True]
        assert [type(r) for r in results[1:3]] == [ContractError, ContractError]
        assert str(results[1]) == (
            "action_sequence contains NaN or inf; contract expects finite values [Bounded.rollout]"
        )
        assert str(results[2]) == (
            "action_sequence has values above high=1.0: max 3.5 [Bounded.rollout]"
        )
        assert str(results[1]) == sync_error(model, start, nan)
        assert str(results[2]) == sync_error(model, start, high)
        # The two good callers ran as one batch of 2 (one transition per step).
        assert model.seen[:3] == [2, 2, 2]
        for acts, traj in zip(good, (results[0], results[3]), strict=True):
            want = model.rollout(start, acts, deterministic=True)
            torch.testing.assert_close(traj.stacked("h"), want.stacked("h"))
            torch.testing.assert_close(traj.rewards, want.rewards)


def test_a_lone_request_of_a_recorded_layout_still_has_its_values_checked():
    model = Bounded().eval()
    start = State({"h": torch.randn(1, 4)})
    low = torch.full((2, 1, 2), -4.0)
    with torch.no_grad():
        first = gather(model.async_rollout(start, torch.zeros(2, 1, 2)))
        (error,) = gather(model.async_rollout(start, low))
    assert isinstance(first[0], Trajectory)
    assert isinstance(error, ContractError)
    assert str(error) == "action_sequence has values below low=-1.0: min -4.0 [Bounded.rollout]"


def test_a_bad_layout_is_never_recorded_and_keeps_its_message(prepares):
    model = Bounded().eval()
    start = State({"h": torch.randn(1, 4)})
    wide = torch.zeros(2, 1, 3)
    message = "action_sequence has shape (2, 1, 3); contract expects (T, B, 2) [Bounded.rollout]"
    for _ in range(2):
        with pytest.raises(ContractError, match=re.escape(message)):
            asyncio.run(model.async_rollout(start, wide))
    assert prepares == [1, 1]


def test_records_do_not_keep_their_model_alive():
    model = Bounded().eval()
    with torch.no_grad():
        gather(model.async_rollout(State({"h": torch.randn(1, 4)}), torch.zeros(2, 1, 2)))
    assert model in _CACHE
    del model
    batcher_threads_end()  # the worker holds its last batch until it is done with it
    gc.collect()
    assert not [m for m in _CACHE.keys() if isinstance(m, Bounded)]


def test_numpy_state_tensors_are_checked_in_full(prepares):
    model = Bounded().eval()
    start = State({"h": np.zeros((1, 4), dtype=np.float32)})  # type: ignore[dict-item]
    with torch.no_grad():
        for _ in range(2):
            (traj,) = gather(model.async_rollout(start, torch.zeros(2, 1, 2)))
            assert isinstance(traj, Trajectory)
    assert prepares == [1, 1]
