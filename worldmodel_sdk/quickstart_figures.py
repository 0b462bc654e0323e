"""The quickstart's figures: prediction error against horizon, and the 2-D MPE arena.

`horizon_errors` measures, on held-out episodes, the mean squared error of
open-loop predictions k = 1..H steps ahead and of copying the starting
observation. `plot_error_vs_horizon` draws both curves; `plot_arena` draws one
simple_spread episode from above — landmarks, and each agent's true path against
the path the model predicts open-loop from the first observation. The format
follows the file's suffix (``.png``, ``.svg``). Plotting needs matplotlib (the
``envs`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data.dataset import EpisodeDataset
from .models.jopm import JOPM
from .training import episodes_to_input

__all__ = ["HorizonErrors", "horizon_errors", "plot_arena", "plot_error_vs_horizon"]


@dataclass(frozen=True, slots=True)
class HorizonErrors:
    """MSE at each horizon k = 1..H (index k-1) of the model and of copy-last."""

    model: list[float]
    copy_last: list[float]


def _joint(model: JOPM, data: EpisodeDataset) -> tuple[Any, torch.Tensor]:
    length = min(data.lengths)
    batch = episodes_to_input(model, data, window=length, stride=length)
    assert isinstance(batch.obs, dict)
    true = torch.cat([batch.obs[name] for name in model.contract().agents], dim=-1)
    return batch, true


def horizon_errors(model: JOPM, data: EpisodeDataset, *, horizon: int) -> HorizonErrors:
    """Open-loop and copy-last MSE at horizons 1..``horizon``, over the same starts."""
    batch, true = _joint(model, data)
    _, rolled, starts = model.predict_sequences(batch, horizon=horizon)
    first = torch.cat([true[:, s] for s in starts.tolist()])
    errors, baseline = [], []
    for k in range(1, horizon + 1):
        target = torch.cat([true[:, s + k] for s in starts.tolist()])
        errors.append(float((rolled[:, k - 1] - target).pow(2).mean()))
        baseline.append(float((first - target).pow(2).mean()))
    return HorizonErrors(model=errors, copy_last=baseline)


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_error_vs_horizon(errors: HorizonErrors, path: Path) -> Path:
    """Draw the model's and copy-last's MSE against the horizon into ``path``."""
    figure = _figure(6.4, 3.8)
    axes = figure.add_subplot()
    steps = np.arange(1, len(errors.model) + 1)
    axes.plot(steps, errors.copy_last, "o--", color="0.45", label="copy last observation")
    axes.plot(steps, errors.model, "o-", color="C0", label="JOPM open-loop")
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
