"""Request batching of `WorldModel.async_rollout`, measured against its baselines in one run.

1. Throughput: 64 concurrent ``async_rollout`` calls with B=1, against the same 64
   calls made one after another, one ``rollout`` with B=64 of the same inputs, and
   64 concurrent calls each in its own worker thread (``asyncio.to_thread``, the
   path without batching). Target: concurrent <= 2x the single B=64 call, as the
   median ratio of pairs run back to back (each pair sees the same machine).
   The "read" lines do the same and then read what a caller typically reads of its
   trajectory (both state stacks, the predictions, the last state): coalesced
   results make those on first read, so that cost lands in each caller's task.
2. Responsiveness: the largest gap an asyncio 1 ms ticker sees while 8 concurrent
   rollouts run back to back for a while. Target: < 20 ms.

All rollouts use `ExampleModel` in eval mode, horizon 15, deterministic, under
``torch.no_grad``. Coalesced results are checked against the B=64 call first.
Besides wall time, each line shows the CPU time of the process (all threads): on a
busy machine the wall time of the coalesced calls also holds the waits for the
scheduler at each hand-over between the event loop and the compute thread, which
the CPU time does not.

Run: ``python benchmarks/async_batching.py [--repeats N] [--seconds S]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import torch

from worldmodel_sdk import State, Trajectory
from worldmodel_sdk.models import ExampleConfig, ExampleModel

HORIZON = 15
CALLERS = 64


def rows(state: State, i: int) -> State:
    return State({k: v[i : i + 1] for k, v in state.tensors.items()})


def median_async(make: Callable[[], Awaitable[object]], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of the process (every thread) per call."""

    async def timed() -> tuple[list[float], list[float]]:
        await make()
        wall, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            await make()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        return wall, cpu

    wall, cpu = asyncio.run(timed())
    return statistics.median(wall), statistics.median(cpu)


def paired_ratio(
    subject: Callable[[], Awaitable[object]],
    baseline: Callable[[], Awaitable[object]],
    pairs: int,
) -> tuple[float, list[float]]:
    """Median over ``pairs`` of subject wall time / baseline wall time, each pair run back
    to back (in alternating order), so that both sides of a ratio see the same machine."""

    async def timed(make: Callable[[], Awaitable[object]]) -> float:
        start = time.perf_counter()
        await make()
        return time.perf_counter() - start

    async def run() -> list[float]:
        await subject()
        await baseline()
        ratios = []
        for i in range(pairs):
            if i % 2:
                b, a = await timed(baseline), await timed(subject)
            else:
                a, b = await timed(subject), await timed(baseline)
            ratios.append(a / b)
        return ratios

    ratios = asyncio.run(run())
    return statistics.median(ratios), ratios


def throughput(
    model: ExampleModel, repeats: int
) -> tuple[dict[str, tuple[float, float]], tuple[float, list[float]]]:
    state = model.encode(torch.randn(CALLERS, 8), deterministic=True)
    actions = torch.randn(HORIZON, CALLERS, 2)
    singles = [(rows(state, i), actions[:, i : i + 1]) for i in range(CALLERS)]

    async def concurrent() -> list[object]:
        return await asyncio.gather(
            *(model.async_rollout(s, a, deterministic=True) for s, a in singles)
        )

    async def sequential() -> None:
        for s, a in singles:
            await model.async_rollout(s, a, deterministic=True)

    async def threads() -> list[object]:
        return await asyncio.gather(
            *(asyncio.to_thread(model.rollout, s, a, None, True) for s, a in singles)
        )

    async def batched() -> object:
        return model.rollout(state, actions, deterministic=True)

    def read(traj: Trajectory) -> None:
        traj.stacked("h"), traj.stacked("z"), traj.predictions, traj.states[-1]

    async def concurrent_read() -> None:
        for traj in await concurrent():
            read(traj)  # type: ignore[arg-type]

    async def batched_read() -> None:
        read(model.rollout(state, actions, deterministic=True))

    whole = model.rollout(state, actions, deterministic=True)
    parts = asyncio.run(concurrent())
    got = torch.cat([p.stacked("h") for p in parts], dim=1)  # type: ignore[attr-defined]
    torch.testing.assert_close(got, whole.stacked("h"), rtol=1e-5, atol=1e-6)
    paired = paired_ratio(concurrent, batched, 2 * repeats)
    return {
        name: median_async(fn, repeats)
        for name, fn in (
            ("one B=64 rollout", batched),
            ("64 concurrent async_rollout", concurrent),
            ("64 sequential async_rollout", sequential),
            ("64 concurrent to_thread(rollout)", threads),
            ("one B=64 rollout, read", batched_read),
            ("64 concurrent async_rollout, read", concurrent_read),
        )
    }, paired


def idle_tick_gap(seconds: float) -> float:
    """The largest gap of the same ticker with nothing else running (the machine's floor)."""

    async def run() -> float:
        gaps, last, end = [], time.perf_counter(), time.perf_counter() + seconds
        while last < end:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        return max(gaps)

    return asyncio.run(run())


def max_tick_gap(model: ExampleModel, seconds: float, batch: int) -> tuple[float, int]:
    state = model.encode(torch.randn(batch, 8), deterministic=True)
    actions = torch.randn(HORIZON, batch, 2)

    async def run() -> tuple[float, int]:
        stop = False
        gaps: list[float] = []
        done = 0

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        async def caller() -> None:
            nonlocal done
            while not stop:
                await model.async_rollout(state, actions, deterministic=True)
                done += 1

        tick = asyncio.create_task(ticker())
        callers = [asyncio.create_task(caller()) for _ in range(8)]
        await asyncio.sleep(seconds)
        stop = True
        await asyncio.gather(tick, *callers)
        return max(gaps), done

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ExampleModel(ExampleConfig()).eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, horizon {HORIZON}")
    with torch.no_grad():
        times, (ratio, ratios) = throughput(model, args.repeats)
        print(f"{'(medians)':>37}  {'wall':>8}     {'vs B=64':>7}  {'CPU':>8}     {'vs B=64':>7}")
        for name, (wall, cpu) in times.items():
            # Each line against the B=64 call of its kind (read or not).
            one_wall, one_cpu = times["one B=64 rollout" + (", read" if "read" in name else "")]
            print(
                f"{name:>37}: {wall * 1e3:8.2f} ms  {wall / one_wall:6.2f}x  {cpu * 1e3:8.2f} ms  "
                f"{cpu / one_cpu:6.2f}x"
            )
        low, high = min(ratios), max(ratios)
        print(
            f"64 concurrent / one B=64 call, {len(ratios)} pairs run back to back: median "
            f"{ratio:.2f}x (range {low:.2f}-{high:.2f}x); target <= 2x (wall): "
            f"{'met' if ratio <= 2 else 'NOT met'}"
        )
        faster = times["64 sequential async_rollout"][0] / times["64 concurrent async_rollout"][0]
        print(f"64 concurrent vs 64 sequential: {faster:.1f}x faster")
        idle = idle_tick_gap(args.seconds)
        print(f"max event-loop gap, nothing running (machine floor): {idle * 1e3:.1f} ms")
        for batch in (1, 16):
            gap, done = max_tick_gap(model, args.seconds, batch)
            print(
                f"max event-loop gap, 8 concurrent rollouts of B={batch} for {args.seconds:g} s "
                f"({done} rollouts): {gap * 1e3:.1f} ms; target < 20 ms: "
                f"{'met' if gap < 0.020 else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
