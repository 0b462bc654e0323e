import asyncio
import gc
import random
import re
import threading

import numpy as np
import pytest
import torch

from worldmodel_sdk import (
    ActionSpec,
    BatchSettings,
    Capability,
    ConditionPayload,
    ConditionSpec,
    ContractError,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
)
from worldmodel_sdk.batching import _BATCHERS, _Batcher
from worldmodel_sdk.models import ExampleModel

from .batching_models import MODELS, Call, batcher_threads_end, calls, start, tensors_of


def assert_same(got, want, where: str) -> None:
    got_t, want_t = tensors_of(got), tensors_of(want)
    assert got_t.keys() == want_t.keys(), where
    for key, value in want_t.items():
        torch.testing.assert_close(got_t[key], value, rtol=1e-5, atol=1e-6, msg=f"{where}: {key}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_coalesced_calls_equal_solo_calls_under_random_cancellation(name, monkeypatch):
    sizes: list[int] = []
    execute = _Batcher._execute

    def spy(self, batch):
        sizes.append(len(batch))
        execute(self, batch)

    monkeypatch.setattr(_Batcher, "_execute", spy)
    torch.manual_seed(0)
    rng = random.Random(0)
    model = MODELS[name]().eval()
    make = calls(model, rng)
    threads = threading.active_count()
    callers: list[Call] = [make() for _ in range(200)]
    cancel = set(rng.sample(range(len(callers)), 60))

    async def main():
        tasks = [asyncio.create_task(c.run()) for c in callers]
        await asyncio.sleep(0)
        for i in cancel:
            tasks[i].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return results

    with torch.no_grad():
        results = asyncio.run(main())
        for i, (call, result) in enumerate(zip(callers, results, strict=True)):
            if i in cancel:
                assert isinstance(result, asyncio.CancelledError), (i, result)
            else:
                assert_same(result, call.solo(), f"{name} caller {i}")
    batcher_threads_end()
    assert threading.active_count() == threads
    assert max(sizes) > 10 and len(sizes) < 20


class Recorder(WorldModel):
    """A small batch-independent model recording the batch of every transition it makes."""

    capabilities = frozenset({Capability.LATENT_DYNAMICS, Capability.REWARD_PRED})

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)
        self.head = torch.nn.Linear(4, 1)
        self.seen: list[tuple[int, bool, torch.dtype]] = []

    def io_contract(self):
        return IOContract(
            action=ActionSpec(kind="continuous", shape=(2,)),
            state={"h": TensorSpec(shape=("B", 4))},
            prediction={"reward": TensorSpec(shape=("B", 1))},
        )

    def transition(self, state, action, conditions=None, deterministic=False):
        if float(state["h"].detach().abs().max()) > 1e6:
            raise KeyError("poisoned row")
        self.seen.append((state.batch_size, deterministic, action.dtype))
        h = torch.tanh(self.lin(torch.cat([state["h"], action.float()], -1)))
        return State({"h": h if deterministic else h + 0.01 * torch.randn_like(h)})

    def decode(self, state, conditions=None):
        return ModelOutput({"reward": self.head(state["h"])}, state)

    def loss(self, batch):
        return LossOutput(total=torch.zeros(()))


def start_h(batch: int = 1, scale: float = 1.0) -> State:
    return State({"h": torch.randn(batch, 4) * scale})


def gather(*coros):
    async def main():
        return await asyncio.gather(*coros, return_exceptions=True)

    return asyncio.run(main())


def test_only_compatible_requests_share_a_batch():
    model = Recorder().eval()
    one = start_h()
    acts = torch.randn(3, 1, 2)
    with torch.no_grad():
        results = gather(
            *(model.async_rollout(one, acts, deterministic=True) for _ in range(4)),
            *(model.async_rollout(one, acts, deterministic=False) for _ in range(2)),
            model.async_rollout(State(one.tensors, {"tag": 1}), acts, deterministic=True),
            model.async_rollout(one, acts[:2], deterministic=True),
        )
    assert not any(isinstance(r, BaseException) for r in results), results
    # One transition per step and batch: the 4 deterministic rollouts share one batch, the
    # 2 sampled ones another; other metadata and another horizon run alone.
    assert sorted(b for b, _, _ in model.seen) == [1] * 5 + [2] * 3 + [4] * 3
    assert {(b, det) for b, det, _ in model.seen} == {(4, True), (2, False), (1, True)}


def test_an_exception_reaches_only_its_batch_with_its_type():
    model = Recorder().eval()
    good, bad = start_h(), start_h(scale=1e7)
    with torch.no_grad():
        results = gather(
            model.async_rollout(good, torch.randn(3, 1, 2), deterministic=True),
            model.async_rollout(bad, torch.randn(3, 1, 2), deterministic=True),
            model.async_rollout(good, torch.randn(3, 1, 2), deterministic=True),
            model.async_rollout(good, torch.randn(2, 1, 2), deterministic=True),
            model.async_rollout(good, torch.randn(2, 5, 2), deterministic=True),
        )
    assert [type(r).__name__ for r in results] == [
        "KeyError",
        "KeyError",
        "KeyError",
        "Trajectory",
        "ContractError",
    ]
    assert str(results[4]) == (
        "action_sequence has shape (2, 5, 2); contract expects (T, B, 2) with B=1 "
        "[Recorder.rollout]"
    )


def test_train_mode_and_opted_out_classes_are_never_coalesced():
    model = Recorder()
    one = start_h()
    with torch.no_grad():
        gather(*(model.async_rollout(one, torch.randn(2, 1, 2)) for _ in range(4)))
    assert [b for b, _, _ in model.seen] == [1] * 8

    class Apart(Recorder):
        batch_independent = False

    apart = Apart().eval()
    with torch.no_grad():
        gather(*(apart.async_transition(one, torch.randn(1, 2)) for _ in range(4)))
    assert [b for b, _, _ in apart.seen] == [1] * 4


def test_max_batch_size_and_cancelled_requests_leave_nothing_queued():
    model = Recorder().eval()
    model.batching = BatchSettings(max_batch_size=3, window=0.05)
    one = start_h()

    async def main():
        tasks = [
            asyncio.create_task(model.async_transition(one, torch.randn(1, 2))) for _ in range(8)
        ]
        await asyncio.sleep(0)
        tasks[-1].cancel()
        tasks[-2].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    with torch.no_grad():
        results = asyncio.run(main())
    assert sum(isinstance(r, asyncio.CancelledError) for r in results) == 2
    assert [b for b, _, _ in model.seen] == [3, 3]


def test_with_grad_enabled_each_caller_keeps_its_own_graph():
    model = Recorder().eval()
    firsts = [start_h() for _ in range(3)]
    actions = [torch.randn(2, 1, 2, requires_grad=True) for _ in range(3)]
    trajs = gather(
        *(
            model.async_rollout(s, a, deterministic=True)
            for s, a in zip(firsts, actions, strict=True)
        )
    )
    for traj, acts in zip(trajs, actions, strict=True):
        traj.rewards.sum().backward()
        assert acts.grad is not None and acts.grad.abs().sum() > 0
    assert [b for b, _, _ in model.seen] == [1] * 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be >= 1; got 0"),
        ({"window": -1.0}, "window must be in [0, 1] seconds; got -1.0"),
    ],
)
def test_batch_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BatchSettings(**kwargs)


def test_bad_input_fails_its_caller_before_queueing():
    model = ExampleModel().eval()
    with pytest.raises(ContractError, match=re.escape("[ExampleModel.transition]")):
        gather_one = model.async_transition(start(model, 2), torch.randn(3, 2))
        asyncio.run(gather_one)


class Conditioned(Recorder):
    """Adds a per-row condition tensor to its state."""

    def io_contract(self):
        base = super().io_contract()
        condition = ConditionSpec(tensors={"g": TensorSpec(shape=("B", 4))})
        return base.model_copy(update={"condition": condition})

    def transition(self, state, action, conditions=None, deterministic=False):
        out = super().transition(state, action, conditions, deterministic)
        return State({"h": out["h"] + conditions.tensors["g"]})


def test_conditions_are_concatenated_and_extras_keep_requests_apart():
    model = Conditioned().eval()
    callers = [
        (start_h(), torch.randn(2, 1, 2), ConditionPayload({"g": torch.randn(1, 4)}, extras))
        for extras in ({}, {}, {"acme.goal": 1}, {})
    ]
    with torch.no_grad():
        got = gather(*(model.async_rollout(s, a, c, True) for s, a, c in callers))
        # The three callers without extras share a batch; the one with extras runs alone.
        assert sorted(b for b, _, _ in model.seen) == [1, 1, 3, 3]
        model.seen.clear()
        for (s, a, c), traj in zip(callers, got, strict=True):
            torch.testing.assert_close(traj.stacked("h"), model.rollout(s, a, c, True).stacked("h"))
    assert sorted(b for b, _, _ in model.seen) == [1] * 8


def test_async_twins_take_numpy_inputs_like_their_sync_twins():
    model = ExampleModel().eval()
    obs = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    with torch.no_grad():
        state = asyncio.run(model.async_encode(obs, deterministic=True))
        torch.testing.assert_close(state["z"], model.encode(obs, deterministic=True)["z"])


def test_batchers_of_finished_event_loops_are_released():
    model = Recorder().eval()
    with torch.no_grad():
        for _ in range(5):
            gather(model.async_transition(start_h(), torch.randn(1, 2)))
    gc.collect()
    assert len(_BATCHERS[model]) <= 1


def test_a_loop_closing_during_a_batch_leaves_no_thread_behind():
    model = ExampleModel().eval()
    state = model.encode(torch.randn(64, 8), deterministic=True)

    async def main():
        with torch.no_grad():
            await asyncio.wait_for(model.async_rollout(state, torch.randn(400, 64, 2)), 0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    batcher_threads_end()


@pytest.mark.parametrize(
    ("caller", "cpus", "worker"),
    [(1, 2, 1), (2, 4, 2), (3, 2, 1), (4, 4, 3), (2, 1, 1)],
)
def test_the_worker_uses_the_callers_torch_threads_less_the_loops_cpu(
    caller, cpus, worker, monkeypatch
):
    seen = []

    class Threads(Recorder):
        def transition(self, state, action, conditions=None, deterministic=False):
            seen.append(torch.get_num_threads())
            return super().transition(state, action, conditions, deterministic)

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    model, before = Threads().eval(), torch.get_num_threads()
    torch.set_num_threads(caller)
    try:
        with torch.no_grad():
            gather(model.async_transition(start_h(), torch.randn(1, 2)))
    finally:
        torch.set_num_threads(before)
    assert seen == [worker]
    batcher_threads_end()


def test_one_worker_serves_bursts_that_follow_each_other():
    workers = []

    class Threads(Recorder):
        def transition(self, state, action, conditions=None, deterministic=False):
            workers.append(threading.current_thread())
            return super().transition(state, action, conditions, deterministic)

    model = Threads().eval()
    model.batching = BatchSettings(window=0.5)

    async def main():
        for _ in range(3):
            await asyncio.gather(
                *(model.async_transition(start_h(), torch.randn(1, 2)) for _ in range(4))
            )

    with torch.no_grad():
        asyncio.run(main())
    # Each burst has company, so none waits out the long window; the idle worker does.
    assert [b for b, _, _ in model.seen] == [4, 4, 4]
    assert len(set(workers)) == 1 and workers[0] is not threading.current_thread()
    batcher_threads_end()


def test_exit_waits_for_the_idle_worker_instead_of_tearing_it_down():
    # A daemon worker woken by its window's end while the interpreter finalises aborts
    # the process in torch's thread-local cleanup; exit joins the worker instead.
    workers = []

    class Threads(Recorder):
        def transition(self, state, action, conditions=None, deterministic=False):
            workers.append(threading.current_thread())
            return super().transition(state, action, conditions, deterministic)

    model = Threads().eval()

    async def main():
        await asyncio.gather(
            *(model.async_transition(start_h(), torch.randn(1, 2)) for _ in range(4))
        )

    with torch.no_grad():
        asyncio.run(main())
    assert workers and not workers[0].daemon
    batcher_threads_end()
