"""JOPM against the strongest simple baselines, same data and same wall budget, in one run.

For each MPE environment (simple_spread N=3, simple_adversary N=2, simple_tag with
four agents of two observation sizes) this collects random-policy training episodes
and held-out episodes from other seeds, then trains, each for at most ``--budget``
seconds of wall clock on one torch thread:

- JOPM (`fit` with its default monitor, the prediction objective), and as an
  ablation JOPM before any gradient step (``JOPM ridge only``: the linear part of its
  change decoder, fitted by ridge regression; the MLP starts near zero);
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

from worldmodel_sdk.baselines import DeltaMLP
from worldmodel_sdk.data import EpisodeDataset, collect_parallel
from worldmodel_sdk.evaluation import HorizonErrors, evaluate
from worldmodel_sdk.models import JOPM, JOPMConfig
from worldmodel_sdk.training import episodes_to_input, fit

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


def train_jopm(data: EpisodeDataset, *, budget: float, seed: int, **options: Any) -> JOPM:
    torch.manual_seed(seed)
    model = JOPM(JOPMConfig.from_spec(data.spec, **options))
    fit(
        model, data, window=8, window_stride=2, epochs=10_000, batch_size=64, lr=2e-3,
        patience=8, time_budget=budget, seed=seed, progress=False,
    )  # fmt: skip
    return model


def ridge_only(data: EpisodeDataset, *, seed: int) -> JOPM:
    """JOPM before any gradient step: in effect its ridge-fitted linear change decoder.

    Its row shows what training the latents, the memory and the MLP adds (the MLP
    starts near zero, so this is what `fit` starts from, on the same training split).
    """
    torch.manual_seed(seed)
    model = JOPM(JOPMConfig.from_spec(data.spec))
    train, _ = data.split(val_fraction=0.2, seed=seed)
    model.prepare_for_training(episodes_to_input(model, train, window=8, stride=2))
    return model.eval()


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
    started = time.perf_counter()
    predictors: dict[str, Any] = {
        "JOPM": jopm,
        "JOPM ridge only": ridge_only(train, seed=args.seed),
    }
    seconds["JOPM ridge only"] = time.perf_counter() - started
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
                    f"{name} h={h}: JOPM {jopm[h - 1]:.3e} vs best MLP {best:.3e}",
                    jopm[h - 1] <= best,
                )
            )
    for text, ok in verdicts:
        console.print(f"{'PASS' if ok else 'FAIL'}  {text}")
    console.print(f"torch threads 1 of {os.cpu_count()} CPUs; budget {args.budget:.0f}s per model")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
