"""The quickstart pipeline behind ``wmsdk quickstart``, on ``mpe2``'s ``simple_spread_v3``.

`run_quickstart` collects random-policy episodes, trains a `JOPM`, saves it with
what a `WorldModelEnv` needs (``save_env``: recorded episode starts, settings, the
task's components by name) and reloads it, trains the two `DeltaMLP` baselines on
the same data, scores the reloaded model, the baselines and copy-last on held-out
episodes collected with different seeds (`worldmodel_sdk.evaluation.evaluate`:
whole episodes, open-loop MSE at each horizon), rebuilds the env from the saved
directory alone and plays one episode, and writes two figures: the error against
the horizon of every model, and the 2-D arena with true and predicted paths. It
needs the ``envs`` extra.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from .baselines import DeltaMLP
from .data.collect import collect_parallel
from .data.dataset import EpisodeDataset
from .envs import ComponentFunctions, JointAction, JointObs, WorldModelEnv, save_env
from .evaluation import HorizonErrors, Predictor, evaluate
from .models.jopm import JOPM, JOPMConfig
from .quickstart_figures import plot_arena, plot_error_vs_horizon
from .training import FitResult, fit, limit_threads

__all__ = [
    "BASELINES",
    "COMPONENTS",
    "QuickstartResult",
    "QuickstartSettings",
    "episode_starts",
    "results_table",
    "run_quickstart",
    "simple_spread_components",
]

COMPONENTS = "mpe2.simple_spread_v3"
"""The name `simple_spread_components` is registered under for ``save_env``."""

BASELINES = {"mlp": False, "mlp+hist": True}
"""The `DeltaMLP` baselines the quickstart trains, by name: ``history`` or not."""


class QuickstartSettings(BaseModel):
    """Settings of `run_quickstart` (the defaults run in about two minutes on 2 CPU cores).

    Attributes:
        episodes: Random-policy training episodes (20% are held out for validation).
        eval_episodes: Held-out evaluation episodes (seeds from ``eval_seed``).
        max_cycles: Steps per simple_spread episode.
        epochs: Maximum training epochs.
        patience: Early-stopping patience, in epochs.
        window: Steps per training window.
        window_stride: Steps between training windows.
        batch_size: Windows per optimiser step.
        lr: Learning rate.
        baseline_budget: Wall-clock seconds at most for each MLP baseline.
        horizon: Open-loop horizon of the results table.
        curve_horizon: Longest horizon of the error-against-horizon figure.
        seed: Seed of the training data, the initial weights, the split and training.
        eval_seed: First seed of the evaluation episodes.
        out_dir: Where the model and the figures are written.
        progress: Show progress bars.
        threads: Torch intra-op threads during the run (``None``: leave as is); these
            small models run fastest on one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    episodes: int = Field(300, ge=2)
    eval_episodes: int = Field(50, ge=1)
    max_cycles: int = Field(25, ge=2)
    epochs: int = Field(30, ge=1)
    patience: int = Field(5, ge=1)
    window: int = Field(8, ge=2)
    window_stride: int = Field(2, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(2e-3, gt=0.0)
    baseline_budget: float = Field(30.0, gt=0.0)
    horizon: int = Field(5, ge=1)
    curve_horizon: int = Field(10, ge=1)
    seed: int = 0
    eval_seed: int = 10_000
    out_dir: Path = Path("wmsdk-quickstart")
    progress: bool = True
    threads: int | None = Field(1, ge=1)


@dataclass(slots=True)
class QuickstartResult:
    """What `run_quickstart` produced.

    Attributes:
        errors: Held-out open-loop MSE at horizons ``1..curve_horizon`` (capped by the
            episode length) of ``JOPM``, the `BASELINES` and ``copy-last``.
        horizon: The horizon of the results table.
        train_seconds: Training time of JOPM and of each baseline.
        fit: JOPM's training summary.
        model_dir: Where the trained model was saved, with what `WorldModelEnv` needs
            (``WorldModelEnv.from_pretrained(model_dir)``).
        figures: The PNGs: error against horizon, and the 2-D arena.
        env_return: Summed reward of agent 0 over one `WorldModelEnv` episode, in the
            env rebuilt from ``model_dir``.
        seconds: Wall-clock time of the whole pipeline.
    """

    errors: HorizonErrors
    horizon: int
    train_seconds: dict[str, float]
    fit: FitResult
    model_dir: Path
    figures: list[Path]
    env_return: float
    seconds: float


def simple_spread_components(agents: list[str]) -> ComponentFunctions:
    """simple_spread's shared reward, computed from predicted observations.

    An agent's observation is ``[vel(2), pos(2), landmark offsets(2L), other agents'
    offsets(2(N-1)), communication]``; the reward is minus the sum over landmarks of
    the distance to the nearest agent. Episodes never terminate (they are truncated).
    The functions take one episode's observations (`WorldModelEnv`: floats out) or
    a batch of them with a leading env axis (`BatchedWorldModelEnv`: ``[N]`` out).
    """
    count = len(agents)

    def reward_fn(obs: JointObs, action: JointAction, next_obs: JointObs) -> dict[str, Any]:
        first = np.asarray(next_obs[agents[0]], dtype=np.float64)
        lead = first.shape[:-1]
        landmarks = first[..., 4 : 4 + 2 * count].reshape(*lead, count, 2)
        others = first[..., 4 + 2 * count : 4 + 2 * count + 2 * (count - 1)]
        offsets = np.concatenate(
            [np.zeros((*lead, 1, 2)), others.reshape(*lead, count - 1, 2)], axis=-2
        )
        distances = np.linalg.norm(landmarks[..., :, None, :] - offsets[..., None, :, :], axis=-1)
        reward = -distances.min(axis=-1).sum(axis=-1)
        return dict.fromkeys(agents, float(reward) if not lead else reward)

    def done_fn(obs: JointObs, action: JointAction, next_obs: JointObs) -> dict[str, Any]:
        lead = np.shape(next_obs[agents[0]])[:-1]
        return dict.fromkeys(agents, False if not lead else np.zeros(lead, np.bool_))

    return ComponentFunctions(reward_fn=reward_fn, done_fn=done_fn)


def _simple_spread(max_cycles: int) -> Any:
    from mpe2 import simple_spread_v3

    return simple_spread_v3.parallel_env(N=3, max_cycles=max_cycles, continuous_actions=False)


def _env_episode(model_dir: Path, seed: int) -> float:
    env = WorldModelEnv.from_pretrained(model_dir)
    first = env.possible_agents[0]
    env.reset(seed=seed)
    total = 0.0
    while env.agents:
        actions = {name: env.action_space(name).sample() for name in env.agents}
        _, rewards, _, _, _ = env.step(actions)
        total += rewards[first]
    env.close()
    return total


def episode_starts(data: EpisodeDataset) -> dict[str, np.ndarray]:
    """Every episode's first observation, ``{agent: [episodes, obs]}``."""
    firsts = [data[index] for index in range(len(data))]
    return {
        name: np.stack([episode.obs[name][0].numpy() for episode in firsts])
        for name in firsts[0].obs
    }


def run_quickstart(
    settings: QuickstartSettings | None = None, *, console: Console | None = None
) -> QuickstartResult:
    """Run the whole quickstart pipeline; see the module docstring.

    Args:
        settings: What to run (defaults: `QuickstartSettings()`).
        console: Where to report progress (default: a new rich console).

    Returns:
        The results; print them with `results_table`.
    """
    s = settings or QuickstartSettings()
    with limit_threads(s.threads):
        return _run(s, console or Console())


def _run(s: QuickstartSettings, console: Console) -> QuickstartResult:
    started = time.perf_counter()
    s.out_dir.mkdir(parents=True, exist_ok=True)
    with console.status("collecting simple_spread episodes", spinner="dots"):
        env = _simple_spread(s.max_cycles)
        train = collect_parallel(env, episodes=s.episodes, seed=s.seed)
        held_out = collect_parallel(env, episodes=s.eval_episodes, seed=s.eval_seed)
        env.close()
    console.print(f"collected {train.num_steps} training and {held_out.num_steps} held-out steps")
    torch.manual_seed(s.seed)  # the initial weights: the whole run follows from the seed
    model = JOPM(JOPMConfig.from_spec(train.spec))
    summary = fit(
        model,
        train,
        window=s.window,
        window_stride=s.window_stride,
        epochs=s.epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        patience=s.patience,
        seed=s.seed,
        progress=s.progress,
    )
    console.print(
        f"trained JOPM in {summary.seconds:.1f}s ({summary.epochs_run} epochs, best "
        f"{summary.best_epoch})"
    )
    model_dir = save_env(
        s.out_dir / "jopm",
        model,
        episode_starts(train),
        components=COMPONENTS,
        max_cycles=s.max_cycles,
    )
    reloaded = JOPM.from_pretrained(model_dir)
    seconds = {"JOPM": summary.seconds}
    predictors: dict[str, JOPM | Predictor] = {"JOPM": reloaded}
    with console.status("training the MLP baselines", spinner="dots"):
        for name, history in BASELINES.items():
            baseline = DeltaMLP(train.spec, history=history)
            seconds[name] = baseline.fit(train, budget=s.baseline_budget, seed=s.seed)
            predictors[name] = baseline
    curve = min(max(s.curve_horizon, s.horizon), s.max_cycles)
    errors = evaluate(held_out, predictors, horizon=curve)
    env_return = _env_episode(model_dir, s.seed)
    figures = [
        plot_error_vs_horizon(errors, s.out_dir / "error_vs_horizon.png"),
        plot_arena(reloaded, held_out, s.out_dir / "arena.png"),
    ]
    return QuickstartResult(
        errors=errors,
        horizon=min(s.horizon, errors.horizon),
        train_seconds=seconds,
        fit=summary,
        model_dir=model_dir,
        figures=figures,
        env_return=env_return,
        seconds=time.perf_counter() - started,
    )


def results_table(result: QuickstartResult) -> Table:
    """The results as a rich table, one row per model.

    Columns: the MSE at 1 and ``horizon`` steps, their ratios to copy-last (below 1:
    better than copying) and the training time.
    """
    h = result.horizon
    table = Table(title="Open-loop MSE on held-out simple_spread episodes")
    columns = ("model", "MSE h=1", f"MSE h={h}", "/copy h=1", f"/copy h={h}")
    for column in (*columns, "train s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    errors = result.errors
    for name, parts in errors.mse.items():
        ratio = errors.ratio(name, "copy-last")
        seconds = result.train_seconds.get(name)
        table.add_row(
            name,
            f"{parts['joint'][0]:.5f}",
            f"{parts['joint'][h - 1]:.5f}",
            f"{ratio[0]:.3f}",
            f"{ratio[h - 1]:.3f}",
            "-" if seconds is None else f"{seconds:.1f}",
        )
    return table
