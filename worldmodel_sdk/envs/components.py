"""`ComponentFunctions` and initial-observation samplers: what a `WorldModelEnv` adds to a model.

A world model predicts observations; the task around it — rewards, when an
episode ends, how to draw a frame — comes from the user as three functions, each
called with the per-agent observations before the step, the joint action and
the per-agent observations after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, final

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import ContractError

__all__ = [
    "ComponentFunctions",
    "EpisodeStartSampler",
    "InitialObsSampler",
    "JointAction",
    "JointObs",
]

JointObs = Mapping[str, np.ndarray]
"""Per-agent observations, ``{agent: float32 vector}``."""
JointAction = Mapping[str, Any]
"""Per-agent actions as the env's action spaces hold them."""
InitialObsSampler = Callable[[np.random.Generator], Mapping[str, np.ndarray]]
"""Draws the per-agent observations an episode starts from, using the given generator."""


@final
@dataclass(frozen=True, slots=True)
class ComponentFunctions:
    """The user's task logic around a world model.

    A function left as ``None`` is taken from the model: rewards from its ``reward``
    prediction (``reward_pred``), terminations from its ``continue`` prediction
    (``continue_pred``), as with `JOPMWithHeads`. A given function always wins over
    the model's prediction.

    Attributes:
        reward_fn: ``(obs, action, next_obs) -> {agent: reward}``, or ``None``.
        done_fn: ``(obs, action, next_obs) -> {agent: terminated}``, or ``None``.
        render_fn: Optional ``(obs, action, next_obs) -> RGB array`` for ``render()``.

    Example:
        >>> components = ComponentFunctions(
        ...     reward_fn=lambda o, a, n: {k: -float(np.abs(v).sum()) for k, v in n.items()},
        ...     done_fn=lambda o, a, n: {k: False for k in n},
        ... )
    """

    reward_fn: Callable[[JointObs, JointAction, JointObs], Mapping[str, float]] | None = None
    done_fn: Callable[[JointObs, JointAction, JointObs], Mapping[str, bool]] | None = None
    render_fn: Callable[[JointObs, JointAction, JointObs], np.ndarray | None] | None = None


@final
class EpisodeStartSampler:
    """Draw initial observations from recorded episodes.

    Args:
        dataset: Recorded episodes.
        any_step: Start from any recorded step, not only from episode starts.

    Raises:
        ContractError: if the dataset holds no episode.
    """

    __slots__ = ("_any_step", "_dataset")

    def __init__(self, dataset: EpisodeDataset, *, any_step: bool = False) -> None:
        if len(dataset) == 0:
            raise ContractError("EpisodeStartSampler: the dataset holds no episode")
        self._dataset = dataset
        self._any_step = any_step

    def __call__(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One episode's (or step's) per-agent observations, as float32 arrays."""
        episode = self._dataset[int(rng.integers(len(self._dataset)))]
        step = int(rng.integers(episode.length + 1)) if self._any_step else 0
        return {name: value[step].numpy().astype(np.float32) for name, value in episode.obs.items()}
