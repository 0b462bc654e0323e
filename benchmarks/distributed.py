"""Throughput and per-request overhead of `RolloutPool` against local rollouts.

One run, one saved `ExampleModel`, horizon 15, deterministic:

* requests/s for N concurrent requests (B=1): local ``async_rollout`` in this
  process, a pool of 1 worker and a pool of 2 workers on a local Ray;
* per-request latency of a lone request through the pool against a local
  ``async_rollout``, at B=1 and B=64 (the difference is the pool's overhead:
  encoding, the object store both ways, the actor call, decoding).

Run: ``python benchmarks/distributed.py [--requests N] [--repeats N]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import torch

from worldmodel_sdk import State
from worldmodel_sdk.distributed import RolloutPool
from worldmodel_sdk.models import ExampleModel

HORIZON = 15


def inputs(model: ExampleModel, batch: int) -> tuple[State, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch)
    state = model.encode(torch.randn(batch, 8, generator=gen), deterministic=True)
    return state, torch.rand(HORIZON, batch, 2, generator=gen) * 2 - 1


async def throughput(call: Callable[[], Awaitable[object]], requests: int) -> float:
    await call()  # warm up
    start = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(requests)))
    return requests / (time.perf_counter() - start)


async def latency(call: Callable[[], Awaitable[object]], repeats: int) -> float:
    for _ in range(3):
        await call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ExampleModel().eval()
    directory = tempfile.mkdtemp(prefix="wmsdk-bench-")
    model.save_pretrained(directory)
    small, large = inputs(model, 1), inputs(model, 64)

    def local(batch: tuple[State, torch.Tensor]) -> Callable[[], Awaitable[object]]:
        return lambda: model.async_rollout(*batch, deterministic=True)

    async def measure(workers: int) -> tuple[float, list[tuple[int, float]]]:
        pool = RolloutPool(
            directory,
            num_workers=workers,
            max_in_flight=args.requests,
            ray_options={"num_cpus": 2, "object_store_memory": 256 * 1024 * 1024},
        )
        try:

            def remote(batch: tuple[State, torch.Tensor]) -> Callable[[], Awaitable[object]]:
                return lambda: pool.rollout(*batch, deterministic=True)

            rps = await throughput(remote(small), args.requests)
            lone = [(1, await latency(remote(small), args.repeats))]
            lone.append((64, await latency(remote(large), args.repeats)))
            return rps, lone
        finally:
            pool.close()

    async def run() -> None:
        with torch.no_grad():
            local_rps = await throughput(local(small), args.requests)
            local_lone = {
                1: await latency(local(small), args.repeats),
                64: await latency(local(large), args.repeats),
            }
        print(f"{args.requests} concurrent requests, B=1, horizon {HORIZON}:")
        print(f"  local async_rollout      {local_rps:9.1f} req/s")
        lone: list[tuple[int, float]] = []
        for workers in (1, 2):
            rps, measured = await measure(workers)
            lone = lone or measured
            print(
                f"  pool, {workers} worker(s)       {rps:9.1f} req/s ({rps / local_rps:.2f}x local)"
            )
        print("lone request latency (median), pool of 1 worker:")
        for batch, pooled in lone:
            ref = local_lone[batch]
            print(
                f"  B={batch:<3} local {ref * 1e3:7.2f} ms   pool {pooled * 1e3:7.2f} ms   "
                f"overhead {(pooled - ref) * 1e3:7.2f} ms ({pooled / ref:.1f}x)"
            )

    asyncio.run(run())


if __name__ == "__main__":
    main()
