import asyncio
import copy
import dataclasses
import pickle

import pytest
import torch

from worldmodel_sdk import BatchSettings, ContractError, State, Trajectory
from worldmodel_sdk._caller_rows import split_trajectory
from worldmodel_sdk.batching import Job, _Batcher, _Request
from worldmodel_sdk.models import ExampleConfig, ExampleModel


def batched(states: int = 3, batch: int = 5, meta: dict | None = None) -> Trajectory:
    return Trajectory(
        states=[
            State({"h": torch.randn(batch, 4), "z": torch.randn(batch, 2)}, meta)
            for _ in range(states)
        ],
        actions=torch.randn(states - 1, batch, 2),
        rewards=torch.randn(states - 1, batch),
        predictions={"obs": torch.randn(states - 1, batch, 3)},
    )


def solo_rows(traj: Trajectory, start: int, stop: int) -> dict[str, torch.Tensor]:
    return {
        "h": torch.stack([s["h"][start:stop] for s in traj.states[1:]]),
        "rewards": traj.rewards[:, start:stop],
        "obs": traj.predictions["obs"][:, start:stop],
    }


@pytest.mark.parametrize("sizes", [[1] * 5, [2, 1, 2], [2, 2, 2]])
def test_each_caller_reads_its_own_rows_like_a_trajectory(sizes):
    whole = batched(batch=sum(sizes), meta={"step": 1})
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    starts = [State({"h": torch.randn(n, 4), "z": torch.randn(n, 2)}) for n in sizes]
    parts = split_trajectory(whole, starts, sizes)
    for part, start, offset, n in zip(parts, starts, offsets, sizes, strict=True):
        want = solo_rows(whole, offset, offset + n)
        assert isinstance(part, Trajectory) and part.batch_size == n and part.horizon == 2
        stacked = part.stacked("h")
        assert stacked.is_contiguous()  # its own memory, not a view of the batch's
        assert stacked.untyped_storage().nbytes() == stacked.numel() * stacked.element_size()
        torch.testing.assert_close(stacked[0], start["h"], rtol=0, atol=0)
        torch.testing.assert_close(stacked[1:], want["h"], rtol=0, atol=0)
        for series, name in ((part.rewards, "rewards"), (part.predictions["obs"], "obs")):
            torch.testing.assert_close(series, want[name], rtol=0, atol=0)
            assert series.is_contiguous()
        assert part.states[0] is start and len(part.states) == 3
        assert part.states is part.states  # made once, then kept
        torch.testing.assert_close(part.stacked("h"), stacked, rtol=0, atol=0)
        assert part.states[1].meta == {"step": 1}
    parts[0].states[1].meta["step"] = 7  # each caller's metadata is its own copy
    assert parts[1].states[1].meta == {"step": 1} and whole.states[1].meta == {"step": 1}


def test_caller_rows_copy_pickle_and_replace_like_a_trajectory():
    whole = batched()
    starts = [State({"h": torch.randn(1, 4), "z": torch.randn(1, 2)}) for _ in range(5)]
    part = split_trajectory(whole, starts, [1] * 5)[2]
    for other in (copy.copy(part), copy.deepcopy(part), pickle.loads(pickle.dumps(part))):
        assert type(other) is Trajectory  # a plain one, every field made
        torch.testing.assert_close(other.stacked("z"), part.stacked("z"), rtol=0, atol=0)
        torch.testing.assert_close(other.predictions["obs"], part.predictions["obs"])
        torch.testing.assert_close(other.actions, whole.actions[:, 2:3], rtol=0, atol=0)
        assert len(other.states) == 3
    replaced = dataclasses.replace(part, rewards=None)
    torch.testing.assert_close(replaced.stacked("h"), part.stacked("h"), rtol=0, atol=0)
    with pytest.raises(ContractError, match="Trajectory has 2 states and 2 actions"):
        dataclasses.replace(part, states=part.states[:2])
    assert repr(part).startswith("Trajectory(T=2, batch_size=1, states=3")


def test_stacked_falls_back_where_the_states_do_not_stack_as_they_are():
    whole = batched()
    starts = [State({"h": torch.randn(1, 4), "x": torch.randn(1, 1)}) for _ in range(5)]
    part = split_trajectory(whole, starts, [1] * 5)[0]
    with pytest.raises(KeyError):
        part.stacked("x")  # the steps have no "x", as Trajectory.stacked finds
    uneven = batched()
    uneven.states[2] = State({**uneven.states[2].tensors, "extra": torch.randn(5, 1)})
    part = split_trajectory(uneven, starts, [1] * 5)[3]
    assert [list(s.tensors) for s in part.states[1:]] == [["h", "z"], ["h", "z", "extra"]]
    torch.testing.assert_close(part.states[2]["extra"], uneven.states[2]["extra"][3:4])
    double = State({"h": torch.randn(1, 4, dtype=torch.float64)})
    mixed = split_trajectory(whole, [double] * 5, [1] * 5)[1]
    assert mixed.stacked("h").dtype == Trajectory.stacked(mixed, "h").dtype


def test_coalesced_rollouts_read_like_solo_rollouts_in_every_form():
    model = ExampleModel(ExampleConfig(hidden_dim=16, latent_dim=8)).eval()
    with torch.no_grad():
        starts = [model.encode(torch.randn(n, 8), deterministic=True) for n in (1, 2, 1)]
        actions = [torch.randn(4, s.batch_size, 2) for s in starts]

        async def main():
            return await asyncio.gather(
                *(
                    model.async_rollout(s, a, deterministic=True)
                    for s, a in zip(starts, actions, strict=True)
                )
            )

        parts = asyncio.run(main())
        for part, start, acts in zip(parts, starts, actions, strict=True):
            solo = model.rollout(start, acts, deterministic=True)
            assert part.actions is acts  # the caller's own tensor, as a solo rollout returns
            for got, want in zip(part.states, solo.states, strict=True):
                for key, value in want.tensors.items():
                    torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6)
            for key, value in solo.predictions.items():
                torch.testing.assert_close(part.predictions[key], value, rtol=1e-5, atol=1e-6)


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def queued(batcher: _Batcher, loop, keys: list[str]) -> list[_Request]:
    job = Job("test", lambda payloads, sizes: list(payloads))
    requests = [_Request(job, key, 1, i, loop.create_future(), False) for i, key in enumerate(keys)]
    for request in requests:
        batcher._pending.append(request)
        batcher._rows[request.key] = batcher._rows.get(request.key, 0) + 1
    return requests


def refuse_to_wait(timeout=None):
    raise AssertionError(f"waited {timeout}")


def test_a_request_with_company_runs_without_waiting_out_the_window(loop):
    batcher = _Batcher(BatchSettings(window=1.0))
    batcher._cond.wait = refuse_to_wait
    first, second, other = queued(batcher, loop, ["a", "a", "b"])
    with batcher._cond:
        assert batcher._next_batch() == [first, second]
    with batcher._cond, pytest.raises(AssertionError, match="waited"):
        batcher._next_batch()  # "b" is alone: it waits for company
    assert list(batcher._pending) == [other]


def test_a_cancelled_request_is_dropped_when_a_batch_is_taken(loop):
    batcher = _Batcher(BatchSettings(window=1.0))
    batcher._cond.wait = refuse_to_wait
    cancelled, *rest = queued(batcher, loop, ["a", "a", "a"])
    cancelled.future.cancel()
    with batcher._cond:
        assert batcher._next_batch() == rest
    assert not batcher._pending and not batcher._rows


def test_nothing_is_taken_while_the_loop_is_still_queueing(loop):
    batcher = _Batcher(BatchSettings(window=1.0))
    batcher._cond.wait = refuse_to_wait
    requests = queued(batcher, loop, ["a", "a"])
    batcher._waking = True  # the loop has queued requests and will wake the worker
    with batcher._cond, pytest.raises(AssertionError, match="waited 0.9"):
        batcher._next_batch()
    for request in requests:  # a loop that has queued nothing for a window is not awaited
        request.arrived -= 2.0
    with batcher._cond:
        assert batcher._next_batch() == requests
