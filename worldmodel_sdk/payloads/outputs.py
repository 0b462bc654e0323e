"""`WorldModelInput`, `ModelOutput` and `LossOutput`: what goes into and out of a model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch

from ._summary import describe, describe_mapping
from .action import ActionPayload
from .condition import ConditionPayload
from .state import State

__all__ = ["LossOutput", "ModelOutput", "WorldModelInput"]


@dataclass(slots=True, eq=False)
class WorldModelInput:
    """A training batch.

    With ``sequence=True`` every tensor has a time axis after the batch axis
    (``[B, T, ...]``): ``actions[:, t]`` is taken after ``obs[:, t]``,
    ``rewards[:, t]`` and ``continues[:, t]`` follow that action, and ``mask``
    marks valid steps of padded episodes.

    Attributes:
        obs: Observations by name (by agent for multi-agent models), or one tensor.
        actions: Actions, as a tensor or an `ActionPayload` (joint for multi-agent).
        rewards: Rewards ``[B]`` or ``[B, T]``.
        continues: Continue flags ``[B]`` or ``[B, T]`` (1 = episode goes on).
        conditions: Optional side conditions.
        mask: Valid-step mask ``[B, T]`` (bool) for padded sequences.
        sequence: Whether tensors carry a time axis.
    """

    obs: Mapping[str, torch.Tensor] | torch.Tensor
    actions: ActionPayload | torch.Tensor | None = None
    rewards: torch.Tensor | None = None
    continues: torch.Tensor | None = None
    conditions: ConditionPayload | None = None
    mask: torch.Tensor | None = None
    sequence: bool = False

    def __repr__(self) -> str:
        """Tensor summaries (dtype, shape, device) of the fields that are set."""
        obs = self.obs
        parts = [f"obs={describe(obs) if isinstance(obs, torch.Tensor) else describe_mapping(obs)}"]
        for name in ("actions", "rewards", "continues", "conditions", "mask"):
            value = getattr(self, name)
            if value is not None:
                text = describe(value) if isinstance(value, torch.Tensor) else repr(value)
                parts.append(f"{name}={text}")
        return f"WorldModelInput({', '.join(parts)}, sequence={self.sequence})"


@dataclass(slots=True, eq=False)
class ModelOutput:
    """What ``decode`` returns: predictions by name, and the state they came from.

    Attributes:
        predictions: Predicted tensors by name (``obs`` or per-agent names, ``reward``...).
        state: The state that was decoded, when useful to the caller.
    """

    predictions: dict[str, torch.Tensor]
    state: State | None = None

    def __repr__(self) -> str:
        """Prediction summaries (dtype, shape, device), never the values."""
        state = "" if self.state is None else f", state={self.state!r}"
        return f"ModelOutput(predictions={describe_mapping(self.predictions)}{state})"

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.predictions[key]

    def __contains__(self, key: object) -> bool:
        return key in self.predictions


@dataclass(slots=True, eq=False)
class LossOutput:
    """A training loss: the scalar to optimise and its named components.

    Attributes:
        total: The scalar loss to call ``backward`` on.
        components: Named parts of the loss (for logging), usually detached.
    """

    total: torch.Tensor
    components: dict[str, torch.Tensor] = field(default_factory=dict)

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Iterate ``("total", total)`` then each component, for logging loops."""
        yield "total", self.total
        yield from self.components.items()
