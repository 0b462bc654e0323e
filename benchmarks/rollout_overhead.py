"""Overhead of `WorldModel.rollout` over a hand-written loop calling the same modules.

Both paths run the same `ExampleModel` (GRU cell + linear heads) for horizon 15,
deterministically, under ``torch.no_grad``, and produce the same tensors: the
per-step hidden and latent states and the stacked observation and reward
predictions. The script checks that they agree, then prints the median time of
each and the overhead ratio, measured in one run.

Run: ``python benchmarks/rollout_overhead.py [--repeats N]``
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


def measure(batch: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = ExampleModel(ExampleConfig()).eval()
    state = model.encode(torch.randn(batch, 8), deterministic=True)
    actions = torch.randn(HORIZON, batch, 2)
    with torch.no_grad():
        traj = model.rollout(state, actions, deterministic=True)
        hs, zs, obs, rewards = hand_loop(model, state["h"], state["z"], actions)
        assert torch.equal(traj.stacked("h"), torch.stack(hs))
        assert torch.equal(traj.stacked("z"), torch.stack(zs))
        assert torch.equal(traj.predictions["obs"], obs) and torch.equal(traj.rewards, rewards)
        inner = 20 if batch <= 64 else 3
        # Interleave the two measurements so drift affects both alike.
        sdk, hand = [], []
        for _ in range(5):
            sdk.append(
                median_time(
                    lambda: model.rollout(state, actions, deterministic=True), repeats, inner
                )
            )
            hand.append(
                median_time(
                    lambda: hand_loop(model, state["h"], state["z"], actions), repeats, inner
                )
            )
    return statistics.median(sdk), statistics.median(hand)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, horizon {HORIZON}")
    print(f"{'batch':>6} {'rollout':>12} {'hand loop':>12} {'overhead':>9}")
    for batch in (16, 1024):
        sdk, hand = measure(batch, args.repeats)
        print(f"{batch:>6} {sdk * 1e3:>10.3f}ms {hand * 1e3:>10.3f}ms {sdk / hand - 1:>8.1%}")
    print("target: overhead <= 3% at batch 16")


if __name__ == "__main__":
    main()
