"""JOPM against the strongest simple baselines, same data and same wall budget, in one run.

For each MPE environment (simple_spread N=3, simple_adversary N=2, simple_tag with
four agents of two observation sizes) this collects random-policy training episodes
and held-out episodes from other seeds, then trains, each for at most ``--budget``
seconds of wall clock on one torch thread:

- JOPM (`fit` with its default monitor, the prediction objective);
- ``mlp``: an MLP predicting the observation change from [joint obs, one-hot joint action];
- ``mlp+hist``: the same MLP that also sees the previous change and the previous action;

and scores them with `worldmodel_sdk.evaluation.evaluate` against copy-last: joint
open-loop MSE at horizons 1..5 (each model fed its own predictions), and each
model's training time. Ratios below 1 beat copy-last.

    python benchmarks/jopm_quality.py [--budget 60] [--episodes 300] [--envs spread,adversary,tag]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from worldmodel_sdk.data import EpisodeDataset, collect_parallel, concat_joint_obs
from worldmodel_sdk.data.episode import Episode
from worldmodel_sdk.data.joint import encode_joint_action
from worldmodel_sdk.data.spec import DatasetSpec
from worldmodel_sdk.evaluation import HorizonErrors, Predictor, evaluate
from worldmodel_sdk.models import JOPM, JOPMConfig
from worldmodel_sdk.training import fit

HORIZON = 5


def make_env(name: str) -> Any:
    """The MPE environment of a short name, with discrete actions and 25-step episodes."""
    from mpe2 import simple_adversary_v3, simple_spread_v3, simple_tag_v3

    makers: dict[str, Callable[[], Any]] = {
        "spread": lambda: simple_spread_v3.parallel_env(N=3, max_cycles=25),
        "adversary": lambda: simple_adversary_v3.parallel_env(N=2, max_cycles=25),
        "tag": lambda: simple_tag_v3.parallel_env(max_cycles=25),
    }
    return makers[name]()


class DeltaMLP(Predictor):
    """Predicts the joint observation change; with ``history``, from the previous one too."""

    def __init__(self, spec: DatasetSpec, *, history: bool, width: int = 256) -> None:
        self.spec, self.history = spec, history
        d, a = spec.joint_obs_size, spec.joint_action_size
        inputs = (2 * d + 2 * a) if history else d + a
        self.net = nn.Sequential(
            nn.Linear(inputs, width), nn.ELU(), nn.Linear(width, width), nn.ELU(),
            nn.Linear(width, d),
        )  # fmt: skip
        self.mean, self.std = torch.zeros(d), torch.ones(d)
        self.delta_std = torch.ones(d)

    def _inputs(
        self, x: torch.Tensor, a: torch.Tensor, dx_prev: torch.Tensor, a_prev: torch.Tensor
    ) -> torch.Tensor:
        parts = [(x - self.mean) / self.std, a]
        if self.history:
            parts += [dx_prev / self.delta_std, a_prev]
        return torch.cat(parts, dim=-1)

    def _episode_tensors(self, episode: Episode) -> tuple[torch.Tensor, ...]:
        x = concat_joint_obs(episode.obs, self.spec)  # [T+1, D]
        a = encode_joint_action(episode.actions, self.spec)  # [T, A]
        dx = x[1:] - x[:-1]
        dx_prev = torch.cat([torch.zeros_like(dx[:1]), dx[:-1]])
        a_prev = torch.cat([torch.zeros_like(a[:1]), a[:-1]])
        return x[:-1], a, dx_prev, a_prev, dx

    def fit(self, data: EpisodeDataset, *, budget: float, seed: int) -> float:
        """Train for at most ``budget`` seconds, keeping the best held-out epoch."""
        started = time.perf_counter()
        torch.manual_seed(seed)
        train, val = data.split(val_fraction=0.2, seed=seed)
        rows = [torch.cat(p) for p in zip(*map(self._episode_tensors, train), strict=True)]
        vrows = [torch.cat(p) for p in zip(*map(self._episode_tensors, val), strict=True)]
        self.mean, self.std = rows[0].mean(0), rows[0].std(0).clamp_min(1e-6)
        self.delta_std = rows[4].std(0).clamp_min(1e-6)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        best, state, waited = float("inf"), None, 0
        while time.perf_counter() - started < budget and waited < 8:
            for index in torch.randperm(len(rows[0])).split(64):
                pred = self.net(self._inputs(*(r[index] for r in rows[:4])))
                loss = ((pred - rows[4][index] / self.delta_std) ** 2).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            with torch.no_grad():
                val_loss = float(
                    ((self.net(self._inputs(*vrows[:4])) - vrows[4] / self.delta_std) ** 2).mean()
                )
            if val_loss < best:
                best, waited = val_loss, 0
                state = {k: v.clone() for k, v in self.net.state_dict().items()}
            else:
                waited += 1
        assert state is not None
        self.net.load_state_dict(state)
        return time.perf_counter() - started

    @torch.no_grad()
    def rollouts(self, episode: Episode, spec: DatasetSpec, horizon: int) -> torch.Tensor:
        """Open loop from every step: the model's own changes feed the next step."""
        x, a, dx_prev, a_prev, _ = self._episode_tensors(episode)
        steps = x.shape[0]
        a_all = torch.cat([a, a[-1:].expand(horizon, -1)])  # past the end: any action
        preds = []
        for k in range(horizon):
            index = (torch.arange(steps) + k).clamp_max(len(a_all) - 1)
            dx = self.net(self._inputs(x, a_all[index], dx_prev, a_prev)) * self.delta_std
            x, dx_prev, a_prev = x + dx, dx, a_all[index]
            preds.append(x)
        return torch.stack(preds, dim=1)


def train_jopm(data: EpisodeDataset, *, budget: float, seed: int, **options: Any) -> JOPM:
    torch.manual_seed(seed)
    model = JOPM(JOPMConfig.from_spec(data.spec, **options))
    fit(
        model, data, window=8, window_stride=2, epochs=10_000, batch_size=64, lr=2e-3,
        patience=8, time_budget=budget, seed=seed, progress=False,
    )  # fmt: skip
    return model


def run_env(
    name: str, args: argparse.Namespace, console: Console
) -> tuple[HorizonErrors, dict[str, float]]:
    env = make_env(name)
    train = collect_parallel(env, episodes=args.episodes, seed=args.seed)
    held_out = collect_parallel(env, episodes=args.eval_episodes, seed=10_000 + args.seed)
    env.close()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    jopm = train_jopm(train, budget=args.budget, seed=args.seed)
    seconds["JOPM"] = time.perf_counter() - started
    predictors: dict[str, Any] = {"JOPM": jopm}
    for label, history in (("mlp", False), ("mlp+hist", True)):
        baseline = DeltaMLP(train.spec, history=history)
        seconds[label] = baseline.fit(train, budget=args.budget, seed=args.seed)
        predictors[label] = baseline
    return evaluate(held_out, predictors, horizon=HORIZON), seconds


def table(name: str, errors: HorizonErrors, seconds: dict[str, float], agents: str) -> Table:
    out = Table(title=f"{name} ({agents}): joint open-loop MSE on held-out episodes")
    out.add_column("model")
    for h in range(1, HORIZON + 1):
        out.add_column(f"h={h}", justify="right")
    out.add_column("/copy h=1", justify="right")
    out.add_column("/copy h=5", justify="right")
    out.add_column("train s", justify="right")
    for model, parts in errors.mse.items():
        ratio = errors.ratio(model, "copy-last")
        out.add_row(
            model,
            *(f"{v:.2e}" for v in parts["joint"]),
            f"{ratio[0]:.3f}",
            f"{ratio[-1]:.3f}",
            f"{seconds[model]:.1f}" if model in seconds else "-",
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per model")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--envs", default="spread,adversary,tag")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(width=120)
    verdicts = []
    for name in args.envs.split(","):
        errors, seconds = run_env(name, args, console)
        agents = ", ".join(make_env(name).possible_agents)
        console.print(table(name, errors, seconds, agents))
        jopm = errors.mse["JOPM"]["joint"]
        for h in (1, HORIZON):
            best = min(errors.mse[b]["joint"][h - 1] for b in ("mlp", "mlp+hist"))
            verdicts.append(
                (
                    f"{name} h={h}: JOPM {jopm[h - 1]:.5f} vs best MLP {best:.5f}",
                    jopm[h - 1] <= best,
                )
            )
    for text, ok in verdicts:
        console.print(f"{'PASS' if ok else 'FAIL'}  {text}")
    console.print(f"torch threads 1 of {os.cpu_count()} CPUs; budget {args.budget:.0f}s per model")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
