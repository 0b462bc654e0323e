"""Cost of ``repr`` of a rollout's `Trajectory` and `State`, against printing every tensor.

A rollout of `ExampleModel` (batch 256, horizon 64) is summarised by ``repr``: keys,
dtypes, shapes and devices, never values. The baseline is what a field-by-field
dataclass ``repr`` prints (every tensor's values), built from the same objects in the
same run. The script prints the time and length of each and the ratios.

Run: ``python benchmarks/repr_cost.py [--batch 256] [--horizon 64] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from worldmodel_sdk import Trajectory
from worldmodel_sdk.models import ExampleConfig, ExampleModel


def values_repr(trajectory: Trajectory) -> str:
    """Every field with every tensor's values, as a generated dataclass repr prints them."""
    states = ", ".join(f"State(tensors={s.tensors!r}, meta={s.meta!r})" for s in trajectory.states)
    return (
        f"Trajectory(states=[{states}], actions={trajectory.actions!r}, "
        f"rewards={trajectory.rewards!r}, values={trajectory.values!r}, "
        f"continues={trajectory.continues!r}, predictions={trajectory.predictions!r})"
    )


def median_time(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--horizon", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = ExampleModel(ExampleConfig()).eval()
    with torch.no_grad():
        state = model.encode(torch.randn(args.batch, 8), deterministic=True)
        trajectory = model.rollout(state, torch.randn(args.horizon, args.batch, 2))
    rows: list[tuple[str, Callable[[], str], Callable[[], str]]] = [
        ("Trajectory", lambda: repr(trajectory), lambda: values_repr(trajectory)),
        ("State", lambda: repr(state), lambda: f"State(tensors={state.tensors!r})"),
    ]
    print(f"ExampleModel rollout, batch {args.batch}, horizon {args.horizon}")
    for name, summary, baseline in rows:
        fast = median_time(summary, max(args.repeats, 100))
        slow = median_time(baseline, args.repeats)
        print(
            f"{name:<10} repr {fast * 1e6:8.1f} us, {len(summary()):6d} chars | "
            f"values {slow * 1e3:8.1f} ms, {len(baseline()):8d} chars | "
            f"time ratio {slow / fast:8.0f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
