"""The quickstart's figures: prediction error against horizon, and the 2-D MPE arena.

`plot_error_vs_horizon` draws the open-loop error of every model scored by
`worldmodel_sdk.evaluation.evaluate` against the horizon; `plot_arena` draws one
simple_spread episode from above — landmarks, and each agent's true path against
the path the model predicts open-loop from the first observation. The format
follows the file's suffix (``.png``, ``.svg``). Plotting needs matplotlib (the
``envs`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data.dataset import EpisodeDataset
from .evaluation import HorizonErrors
from .models.jopm import JOPM
from .training import episodes_to_input

__all__ = ["plot_arena", "plot_error_vs_horizon"]


def _joint(model: JOPM, episode: EpisodeDataset) -> tuple[Any, torch.Tensor]:
    """One episode as a sequence batch, and its joint observations ``[1, T+1, D]``."""
    length = episode.lengths[0]
    batch = episodes_to_input(model, episode, window=length, stride=length)
    assert isinstance(batch.obs, dict)
    true = torch.cat([batch.obs[name] for name in model.contract().agents], dim=-1)
    return batch, true


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_error_vs_horizon(errors: HorizonErrors, path: Path) -> Path:
    """Draw each model's joint open-loop MSE against the horizon into ``path``."""
    figure = _figure(6.4, 3.8)
    axes = figure.add_subplot()
    steps = np.arange(1, errors.horizon + 1)
    models = [name for name in errors.mse if name != "copy-last"]
    copy = errors.mse["copy-last"]["joint"]
    axes.plot(steps, copy, "o--", color="0.45", label="copy last observation")
    for index, name in enumerate(models):
        axes.plot(steps, errors.mse[name]["joint"], "o-", color=f"C{index}", label=name)
    axes.set_xlabel("steps ahead (open loop)")
    axes.set_ylabel("MSE of the joint observation")
    axes.set_xticks(steps)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    axes.set_title("Prediction error on held-out episodes")
    figure.savefig(path, dpi=100, metadata=_metadata(path))
    return path


def _metadata(path: Path) -> dict[str, Any]:
    # No creation date: regenerating an unchanged figure gives the same file.
    return {"Date": None} if path.suffix == ".svg" else {}


def plot_arena(model: JOPM, data: EpisodeDataset, path: Path, *, episode: int = 0) -> Path:
    """Draw one simple_spread episode from above: landmarks, true and predicted paths.

    An agent's observation starts ``[velocity (2), position (2), landmark offsets
    (2 per landmark), ...]``; the predicted paths are the model's open-loop
    predictions from the episode's first observation, fed its own outputs.
    """
    one = data.subset([episode])
    batch, true = _joint(model, one)
    steps = true.shape[1] - 1
    _, rolled, _ = model.predict_sequences(batch, horizon=steps)
    agents = list(model.contract().agents)
    sizes = [spec.obs_size for spec in model.config.agents]
    offsets = np.cumsum([0, *sizes[:-1]])
    figure = _figure(5.6, 5.6)
    axes = figure.add_subplot()
    first = true[0, 0].numpy()
    count = len(agents)  # simple_spread has as many landmarks as agents
    landmarks = first[2:4] + first[4 : 4 + 2 * count].reshape(count, 2)
    axes.scatter(*landmarks.T, marker="x", s=90, color="k", label="landmarks", zorder=3)
    for index, (name, offset) in enumerate(zip(agents, offsets, strict=True)):
        color = f"C{index}"
        real = true[0, :, offset + 2 : offset + 4].numpy()
        guess = np.vstack([real[:1], rolled[0, :, offset + 2 : offset + 4].numpy()])
        axes.plot(*real.T, "-", color=color, label=f"{name} true")
        axes.plot(*guess.T, "--", color=color, label=f"{name} predicted")
        axes.scatter(*real[0], marker="o", s=40, color=color, zorder=3)
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(alpha=0.3)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title(f"{steps} steps: true (solid) vs JOPM open-loop (dashed)")
    axes.legend(fontsize="small", loc="best")
    figure.savefig(path, dpi=100, metadata=_metadata(path))
    return path
