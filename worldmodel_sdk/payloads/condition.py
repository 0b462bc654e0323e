"""`ConditionPayload`: optional side conditions with namespaced extras."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..contract import ConditionSpec
from ..errors import ContractError
from ._summary import describe_mapping
from .action import check_api_version

__all__ = ["ConditionPayload", "repeat_per_episode"]

_NAMESPACED = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$")


@dataclass(slots=True, eq=False)
class ConditionPayload:
    """Side conditions for conditional world modelling.

    Attributes:
        tensors: Condition tensors by name (each with a leading batch axis).
        extras: Small JSON-able values under namespaced keys (``"myorg.goal_id"``), so
            that conditions from different libraries cannot collide.

    Example:
        >>> c = ConditionPayload(extras={"acme.goal": "door"})
        >>> c.validate(strict=True, allowed_extra_keys={"acme.goal"}) is c
        True
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Tensor summaries (dtype, shape, device) and the extras."""
        return f"ConditionPayload(tensors={describe_mapping(self.tensors)}, extras={self.extras!r})"

    def validate(
        self,
        *,
        strict: bool = False,
        allowed_extra_keys: Collection[str] | None = None,
        extra_schema: Mapping[str, type | tuple[type, ...]] | None = None,
        api_version: str = "v0.2",
    ) -> ConditionPayload:
        """Check extras naming, the optional allow-list and schema, and the tensors.

        Args:
            strict: Refuse extra keys not in ``allowed_extra_keys`` (none allowed if
                that is ``None``).
            allowed_extra_keys: Extra keys that are allowed.
            extra_schema: Expected Python type(s) of extras, by key.
            api_version: Protocol version the caller speaks.

        Returns:
            The payload itself.

        Raises:
            ContractError: naming the key, what was expected and what arrived.
        """
        check_api_version(api_version, "ConditionPayload.validate")
        allowed = set(allowed_extra_keys) if allowed_extra_keys is not None else None
        for key, value in self.extras.items():
            if not isinstance(key, str) or not _NAMESPACED.match(key):
                raise ContractError(
                    f"ConditionPayload.extras key {key!r} is not namespaced; expected "
                    "'namespace.name', e.g. 'acme.goal'"
                )
            if (strict or allowed is not None) and key not in (allowed or set()):
                shown = sorted(allowed) if allowed else "none"
                raise ContractError(
                    f"ConditionPayload.extras key {key!r} is not allowed; allowed keys: {shown}"
                )
            expected = (extra_schema or {}).get(key)
            if expected is not None and not isinstance(value, expected):
                names = (
                    expected.__name__
                    if isinstance(expected, type)
                    else " | ".join(t.__name__ for t in expected)
                )
                raise ContractError(
                    f"ConditionPayload.extras[{key!r}] must be {names}; got "
                    f"{type(value).__name__} {value!r}"
                )
        try:
            json.dumps(self.extras, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ContractError(f"ConditionPayload.extras must be JSON-able: {exc}") from None
        for name, tensor in self.tensors.items():
            if not isinstance(tensor, torch.Tensor):
                raise ContractError(
                    f"ConditionPayload.tensors[{name!r}] must be a torch.Tensor; got "
                    f"{type(tensor).__name__}"
                )
        return self


def repeat_per_episode(
    spec: ConditionSpec, conditions: ConditionPayload, steps: int
) -> ConditionPayload:
    """``conditions`` with each per-episode tensor ``[B, ...]`` repeated to ``[B, T, ...]``.

    The repetition is a view (no copy). Tensors already over time, and conditions
    not declared per episode, are passed through unchanged.
    """
    tensors = dict(conditions.tensors)
    changed = False
    for key in spec.per_episode:
        value = tensors.get(key)
        if isinstance(value, torch.Tensor) and value.dim() == len(spec.tensors[key].shape) >= 1:
            tensors[key] = value.unsqueeze(1).expand(value.shape[0], steps, *value.shape[1:])
            changed = True
    return ConditionPayload(tensors, conditions.extras) if changed else conditions
