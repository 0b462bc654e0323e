"""One home per action kind: all behaviour that depends on ``ActionSpec.kind``.

Each kind is a `Kind` subclass registered in `KINDS` under its name. `ActionSpec`
(what a spec needs), `ActionPayload` (what its tensor holds), validation (ranges),
`flatten_action` (the flat encoding) and `WorldModelEnv` (spaces and actions from
arrays) ask the kind instead of switching on its name, so a new kind is one class
registered here.

This module depends on nothing else in the package at run time, so every other
module may use it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch

from .errors import ContractError

if TYPE_CHECKING:
    from gymnasium import spaces

    from .contract import ActionSpec

__all__ = ["KINDS", "ActionKind", "Kind", "MinMax", "kind_of"]

# The built-in kinds, for type hints; `KINDS` is what specs and payloads are checked against.
ActionKind = Literal["continuous", "discrete", "multi_discrete", "joint"]
MinMax = Callable[[torch.Tensor], tuple[float, float]]


class Kind(ABC):
    """What one action kind means: its spec fields, tensors, encoding and space.

    Attributes:
        name: The kind's name, as in ``ActionSpec(kind=name)``.
        integer: Whether its tensors hold integer indices (else floats).
        per_agent: Whether it holds one sub-action per agent (no tensor of its own).
    """

    name: ClassVar[str]
    integer: ClassVar[bool] = False
    per_agent: ClassVar[bool] = False

    @abstractmethod
    def spec_error(self, spec: ActionSpec) -> str | None:
        """Why ``spec`` is not a valid spec of this kind, or ``None``."""

    @abstractmethod
    def sized(self, size: int) -> dict[str, Any]:
        """The spec fields of a one-dimensional action of ``size`` (choices or floats)."""

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of an action tensor of this kind."""
        return torch.int64 if self.integer else torch.float32

    def sample_shape(self, spec: ActionSpec) -> tuple[int, ...]:
        """Per-sample shape of an action tensor (the batch axes are not included)."""
        return ()

    @abstractmethod
    def flat_size(self, spec: ActionSpec) -> int:
        """Width of the canonical flat encoding."""

    @abstractmethod
    def flatten(self, spec: ActionSpec, tensor: torch.Tensor) -> torch.Tensor:
        """The canonical flat float encoding ``[..., flat_size]``; leading axes are kept."""

    @abstractmethod
    def check_range(
        self, where: str, spec: ActionSpec, value: torch.Tensor, min_max: MinMax
    ) -> None:
        """Refuse values outside the spec's range (``value`` is non-empty, dtype checked)."""

    @abstractmethod
    def space(self, spec: ActionSpec) -> spaces.Space[Any]:
        """The Gymnasium space of one sample's action."""

    def index_bound(self, spec: ActionSpec) -> int | list[int]:
        """Exclusive upper bound of an integer kind's indices (per component if a list).

        Raises:
            ContractError: for kinds that hold no indices.
        """
        raise ContractError(f"a {self.name} action holds no indices")


class _Continuous(Kind):
    """A float vector (or tensor) of ``shape``, optionally bounded by ``low``/``high``."""

    name = "continuous"

    def spec_error(self, spec: ActionSpec) -> str | None:
        if not spec.shape or any(s <= 0 for s in spec.shape):
            return f"a continuous ActionSpec needs a positive shape; got {spec.shape}"
        return None

    def sized(self, size: int) -> dict[str, Any]:
        return {"shape": (size,)}

    def sample_shape(self, spec: ActionSpec) -> tuple[int, ...]:
        return spec.shape

    def flat_size(self, spec: ActionSpec) -> int:
        return math.prod(spec.shape)

    def flatten(self, spec: ActionSpec, tensor: torch.Tensor) -> torch.Tensor:
        lead = tensor.shape[: tensor.dim() - len(spec.shape)]
        return tensor.reshape(*lead, self.flat_size(spec)).float()

    def check_range(
        self, where: str, spec: ActionSpec, value: torch.Tensor, min_max: MinMax
    ) -> None:
        if spec.low is None and spec.high is None:
            return
        low, high = min_max(value)
        if spec.low is not None and low < spec.low:
            raise ContractError(f"{where} has values below low={spec.low}: min {low}")
        if spec.high is not None and high > spec.high:
            raise ContractError(f"{where} has values above high={spec.high}: max {high}")

    def space(self, spec: ActionSpec) -> spaces.Space[Any]:
        import numpy as np
        from gymnasium import spaces

        # Gymnasium's unbounded Box: infinite bounds (its sample() then draws normally).
        low = -np.inf if spec.low is None else spec.low
        high = np.inf if spec.high is None else spec.high
        return spaces.Box(low=low, high=high, shape=spec.shape, dtype=np.float32)


def _out_of_range(where: str, bound: object, value: torch.Tensor, min_max: MinMax) -> None:
    low, high = min_max(value)
    raise ContractError(
        f"{where} is out of range: expected 0 <= action < {bound}; got min {int(low)}, "
        f"max {int(high)}"
    )


class _Discrete(Kind):
    """One index in ``0 .. num_actions - 1`` per sample."""

    name = "discrete"
    integer = True

    def spec_error(self, spec: ActionSpec) -> str | None:
        if spec.num_actions is None or spec.num_actions < 1:
            return f"a discrete ActionSpec needs num_actions >= 1; got {spec.num_actions}"
        return None

    def sized(self, size: int) -> dict[str, Any]:
        return {"num_actions": size}

    def flat_size(self, spec: ActionSpec) -> int:
        return int(spec.num_actions or 0)

    def flatten(self, spec: ActionSpec, tensor: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(tensor.long(), self.flat_size(spec)).float()

    def check_range(
        self, where: str, spec: ActionSpec, value: torch.Tensor, min_max: MinMax
    ) -> None:
        low, high = min_max(value)
        if low < 0 or high >= int(spec.num_actions or 0):
            _out_of_range(where, self.index_bound(spec), value, min_max)

    def index_bound(self, spec: ActionSpec) -> int | list[int]:
        """``num_actions``."""
        return int(spec.num_actions or 0)

    def space(self, spec: ActionSpec) -> spaces.Space[Any]:
        from gymnasium import spaces

        return spaces.Discrete(int(spec.num_actions or 1))


class _MultiDiscrete(Kind):
    """One index per component, component ``i`` in ``0 .. nvec[i] - 1``."""

    name = "multi_discrete"
    integer = True

    def spec_error(self, spec: ActionSpec) -> str | None:
        if not spec.nvec or min(spec.nvec) < 1:
            return f"a multi_discrete ActionSpec needs nvec of sizes >= 1; got {spec.nvec}"
        return None

    def sized(self, size: int) -> dict[str, Any]:
        return {"nvec": (size,)}

    def sample_shape(self, spec: ActionSpec) -> tuple[int, ...]:
        return (len(spec.nvec or ()),)

    def flat_size(self, spec: ActionSpec) -> int:
        return sum(spec.nvec or ())

    def flatten(self, spec: ActionSpec, tensor: torch.Tensor) -> torch.Tensor:
        parts = [
            torch.nn.functional.one_hot(tensor[..., i].long(), n).float()
            for i, n in enumerate(spec.nvec or ())
        ]
        return torch.cat(parts, dim=-1)

    def check_range(
        self, where: str, spec: ActionSpec, value: torch.Tensor, min_max: MinMax
    ) -> None:
        if bool(((value < 0) | (value >= torch.tensor(spec.nvec or ()))).any()):
            _out_of_range(where, self.index_bound(spec), value, min_max)

    def index_bound(self, spec: ActionSpec) -> int | list[int]:
        """``nvec``, one bound per component."""
        return list(spec.nvec or ())

    def space(self, spec: ActionSpec) -> spaces.Space[Any]:
        from gymnasium import spaces

        return spaces.MultiDiscrete(list(spec.nvec or ()))


class _Joint(Kind):
    """One sub-action per agent (``agents``), each of a single-agent kind."""

    name = "joint"
    per_agent = True

    def spec_error(self, spec: ActionSpec) -> str | None:
        if not spec.agents:
            return "a joint ActionSpec needs a non-empty agents mapping"
        if any(kind_of(sub.kind).per_agent for sub in spec.agents.values()):
            return "a joint ActionSpec cannot nest another joint spec"
        return None

    def sized(self, size: int) -> dict[str, Any]:
        raise ContractError("a joint action has one spec per agent, not a size")

    def flat_size(self, spec: ActionSpec) -> int:
        return sum(sub.flat_size for sub in (spec.agents or {}).values())

    def flatten(self, spec: ActionSpec, tensor: torch.Tensor) -> torch.Tensor:
        raise ContractError(
            f"a joint action over {list(spec.agent_names)} must be an ActionPayload with "
            f"kind='joint'; got Tensor"
        )

    def check_range(
        self, where: str, spec: ActionSpec, value: torch.Tensor, min_max: MinMax
    ) -> None:
        raise ContractError(f"{where}: a joint action is checked per agent")

    def space(self, spec: ActionSpec) -> spaces.Space[Any]:
        from gymnasium import spaces

        subs = spec.agents or {}
        return spaces.Dict({name: kind_of(subs[name].kind).space(subs[name]) for name in subs})


KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (_Continuous(), _Discrete(), _MultiDiscrete(), _Joint())
}


def kind_of(name: str) -> Kind:
    """The `Kind` called ``name``.

    Raises:
        ContractError: for an unknown kind, listing the known ones.
    """
    try:
        return KINDS[name]
    except KeyError:
        raise ContractError(
            f"unknown action kind {name!r}; expected one of {tuple(KINDS)}"
        ) from None
