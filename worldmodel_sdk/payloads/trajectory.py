"""`Trajectory`: the result of a rollout, with its invariants checked at construction."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ContractError
from ._summary import describe, describe_mapping
from .state import State

__all__ = ["Trajectory"]


@dataclass(slots=True, eq=False, repr=False)
class Trajectory:
    """An imagined trajectory: the initial state plus one state per action.

    Attributes:
        states: ``T + 1`` states (initial state first).
        actions: Actions ``[T, B, ...]`` (joint actions packed, see `ActionPayload.packed`).
        rewards: Predicted rewards ``[T, B]``, or ``[T, B, A]`` from a model that
            predicts them per agent, if the model predicts them.
        values: Predicted values ``[T + 1, B]``, if the model predicts them.
        continues: Predicted continue probabilities ``[T, B]`` (or ``[T, B, A]``
            per agent), if predicted.
        predictions: Other decoded predictions by name, each ``[T, B, ...]`` (for
            ``states[1:]``).

    Raises:
        ContractError: at construction, if the lengths or shapes disagree.
    """

    states: list[State]
    actions: torch.Tensor
    rewards: torch.Tensor | None = None
    values: torch.Tensor | None = None
    continues: torch.Tensor | None = None
    predictions: dict[str, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.actions, torch.Tensor) or self.actions.dim() < 2:
            got = (
                tuple(self.actions.shape)
                if isinstance(self.actions, torch.Tensor)
                else type(self.actions).__name__
            )
            raise ContractError(f"Trajectory.actions must be a tensor [T, B, ...]; got {got}")
        horizon, batch = int(self.actions.shape[0]), int(self.actions.shape[1])
        if len(self.states) != horizon + 1:
            raise ContractError(
                f"Trajectory has {len(self.states)} states and {horizon} actions; expected "
                f"len(states) == T + 1 = {horizon + 1}"
            )
        for i, state in enumerate(self.states):
            if state.tensors and state.batch_size != batch:
                raise ContractError(
                    f"Trajectory.states[{i}] has batch size {state.batch_size}; expected {batch} "
                    f"(actions are {tuple(self.actions.shape)})"
                )
        _check_series("rewards", self.rewards, (horizon, batch), per_agent=True)
        _check_series("values", self.values, (horizon + 1, batch))
        _check_series("continues", self.continues, (horizon, batch), per_agent=True)
        for name, value in (self.predictions or {}).items():
            if value.dim() < 2 or tuple(value.shape[:2]) != (horizon, batch):
                raise ContractError(
                    f"Trajectory.predictions[{name!r}] has shape {tuple(value.shape)}; expected "
                    f"({horizon}, {batch}, ...)"
                )

    def __repr__(self) -> str:
        # Metadata only (keys, dtypes, shapes, devices): microseconds however large the tensors.
        first = describe_mapping(self.states[0].tensors)
        parts = [
            f"T={self.horizon}",
            f"batch_size={self.batch_size}",
            f"states={len(self.states)} (first: {first})",
            f"actions={describe(self.actions)}",
        ]
        for name in ("rewards", "values", "continues"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={describe(value)}")
        if self.predictions:
            parts.append(f"predictions={describe_mapping(self.predictions)}")
        return f"Trajectory({', '.join(parts)})"

    @property
    def horizon(self) -> int:
        """Number of steps ``T``."""
        return int(self.actions.shape[0])

    @property
    def batch_size(self) -> int:
        """Batch size ``B``."""
        return int(self.actions.shape[1])

    def stacked(self, key: str) -> torch.Tensor:
        """Stack state tensor ``key`` over time: ``[T + 1, B, ...]``."""
        return torch.stack([state.tensors[key] for state in self.states])

    def discount_weights(self, discount: float = 0.997) -> torch.Tensor:
        """Continue-masked cumulative discounts ``[T + 1, B]``, one per state.

        Per-agent continues ``[T, B, A]`` give per-agent weights ``[T + 1, B, A]``.

        ``w[0] = 1`` and ``w[t + 1] = w[t] * discount * continues[t]``: the weight of
        each imagined state in an actor or critic loss, as DreamerV3 uses, so that
        states after a predicted episode end count less (or not at all). Gradients
        do not flow through the weights.

        Args:
            discount: The per-step discount, in ``[0, 1]``.

        Raises:
            ContractError: if the model predicts no ``continue``, or ``discount`` is
                outside ``[0, 1]``.
        """
        if self.continues is None:
            raise ContractError(
                "Trajectory.discount_weights needs predicted continues; this trajectory has "
                "none (the model does not declare 'continue_pred', or mode='latent')"
            )
        if not 0.0 <= discount <= 1.0:
            raise ContractError(
                f"Trajectory.discount_weights: discount must be in [0, 1]; got {discount!r}"
            )
        steps = discount * self.continues.detach()
        ones = torch.ones_like(steps[:1])
        return torch.cumprod(torch.cat([ones, steps]), dim=0)


def _check_series(
    name: str, value: torch.Tensor | None, expected: tuple[int, int], *, per_agent: bool = False
) -> None:
    """``value`` is ``expected`` (``[T, B]``), or ``[T, B, A]`` where ``per_agent`` allows."""
    if value is None:
        return
    got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
    if got == expected or (per_agent and len(got) == 3 and got[:2] == expected):
        return
    also = f" or ({expected[0]}, {expected[1]}, A)" if per_agent else ""
    raise ContractError(f"Trajectory.{name} has shape {got}; expected {expected}{also}")
