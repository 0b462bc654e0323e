"""Overhead of `WorldModel.rollout` over a hand-written loop calling the same modules.

All paths run the same `ExampleModel` (GRU cell + linear heads) for horizon 15,
deterministically, under ``torch.no_grad``, and produce the same tensors: the
per-step hidden and latent states and the stacked observation and reward
predictions. The script checks that they agree, then prints the median time of
each and the overhead ratio, measured in one run.

Run: ``python benchmarks/rollout_overhead.py [--repeats N] [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from worldmodel_sdk.models import ExampleConfig, ExampleModel

HORIZON = 15


def hand_loop(model: ExampleModel, h: torch.Tensor, z: torch.Tensor, actions: torch.Tensor):
    """The loop as a user would write it: the model's modules, looked up on the model."""
    hs, zs, obs, rewards = [h], [z], [], []
    for t in range(actions.shape[0]):
        h = model.cell(torch.cat([z, actions[t]], -1), h)
        z = model.prior(h).chunk(2, dim=-1)[0]
        feat = torch.cat([h, z], -1)
        hs.append(h)
        zs.append(z)
        obs.append(model.obs_head(feat))
        rewards.append(model.reward_head(feat))
    return hs, zs, torch.stack(obs), torch.stack(rewards).squeeze(-1)


def tight_loop(model: ExampleModel, h: torch.Tensor, z: torch.Tensor, actions: torch.Tensor):
    """The same loop with the modules bound to locals once (the tightest Python loop)."""
    cell, prior, obs_head, reward_head = model.cell, model.prior, model.obs_head, model.reward_head
    hs, zs, obs, rewards = [h], [z], [], []
    for t in range(actions.shape[0]):
        h = cell(torch.cat([z, actions[t]], -1), h)
        z = prior(h).chunk(2, dim=-1)[0]
        feat = torch.cat([h, z], -1)
        hs.append(h)
        zs.append(z)
        obs.append(obs_head(feat))
        rewards.append(reward_head(feat))
    return hs, zs, torch.stack(obs), torch.stack(rewards).squeeze(-1)


def median_time(fn: Callable[[], object], repeats: int, inner: int) -> float:
    for _ in range(inner):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def measure(batch: int, repeats: int) -> tuple[float, float, float]:
    torch.manual_seed(0)
    model = ExampleModel(ExampleConfig()).eval()
    state = model.encode(torch.randn(batch, 8), deterministic=True)
    actions = torch.randn(HORIZON, batch, 2)
    loops = {
        "rollout": lambda: model.rollout(state, actions, deterministic=True),
        "hand": lambda: hand_loop(model, state["h"], state["z"], actions),
        "tight": lambda: tight_loop(model, state["h"], state["z"], actions),
    }
    with torch.no_grad():
        traj = model.rollout(state, actions, deterministic=True)
        for loop in (hand_loop, tight_loop):
            hs, zs, obs, rewards = loop(model, state["h"], state["z"], actions)
            assert torch.equal(traj.stacked("h"), torch.stack(hs))
            assert torch.equal(traj.stacked("z"), torch.stack(zs))
            assert torch.equal(traj.predictions["obs"], obs) and torch.equal(traj.rewards, rewards)
        inner = 20 if batch <= 64 else 3
        # Interleave the measurements so drift affects all alike.
        times: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(5):
            for name, fn in loops.items():
                times[name].append(median_time(fn, repeats, inner))
    sdk, hand, tight = (statistics.median(times[name]) for name in loops)
    return sdk, hand, tight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, horizon {HORIZON}")
    print(
        f"{'batch':>6} {'rollout':>10} {'hand loop':>10} {'overhead':>9} "
        f"{'tight loop':>10} {'overhead':>9}"
    )
    for batch in (16, 1024):
        sdk, hand, tight = measure(batch, args.repeats)
        print(
            f"{batch:>6} {sdk * 1e3:>8.3f}ms {hand * 1e3:>8.3f}ms {sdk / hand - 1:>9.1%} "
            f"{tight * 1e3:>8.3f}ms {sdk / tight - 1:>9.1%}"
        )
    print("hand loop: modules looked up on the model each step; tight loop: bound to locals once")
    print("target: overhead <= 3% at batch 16")


if __name__ == "__main__":
    main()
