"""I/O contracts: `TensorSpec`, `ActionSpec`, `ConditionSpec`, `IOContract`.

A contract says which tensors a model takes and returns. Shapes mix fixed sizes
(ints) and symbolic axes (strings): ``"B"`` batch, ``"T"`` time, ``"A"`` agents, or
any other name. One validation call binds each symbol to one size, so
``("B", 8)`` and ``("B", 4)`` in two specs must agree on ``B``.

Contracts are frozen pydantic models. `IOContract.fingerprint` hashes the
canonical JSON of the contract with fields left at their defaults omitted, so
adding an optional field later does not change existing fingerprints.

This module holds declarations only; checking values against them lives in
`worldmodel_sdk.validation`, and dtype names in the package's one dtype table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ._dtypes import DTYPES, dtype_from_name, dtype_name
from .action_kinds import KINDS, ActionKind, Kind, kind_of
from .errors import ContractError
from .naming import natural_sort_key

__all__ = [
    "ActionKind",
    "ActionSpec",
    "Axis",
    "ConditionSpec",
    "FINGERPRINT_PREFIX",
    "IOContract",
    "TensorSpec",
    "dtype_from_name",
    "dtype_name",
    "natural_sort_key",
    "show_shape",
]

FINGERPRINT_PREFIX = "wmc1:"
Axis = int | str


def show_shape(shape: tuple[Axis, ...]) -> str:
    """Render a shape as in messages: ``(B, 8)``, ``(B,)``, ``()``."""
    return "(" + ", ".join(str(a) for a in shape) + ("," if len(shape) == 1 else "") + ")"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TensorSpec(_Frozen):
    """Shape and dtype of one tensor.

    Attributes:
        shape: Sizes per axis: ints are fixed, strings are symbolic (``"B"``, ``"T"``...).
        dtype: A torch dtype name.
        allow_nonfinite: Whether NaN/inf may appear (floating dtypes only).
        description: Free text for docs and error messages.
    """

    shape: tuple[Axis, ...]
    dtype: str = "float32"
    allow_nonfinite: bool = False
    description: str = ""

    @field_validator("shape")
    @classmethod
    def _check_shape(cls, shape: tuple[Axis, ...]) -> tuple[Axis, ...]:
        for axis in shape:
            if isinstance(axis, int) and axis < 0:
                raise ValueError(f"fixed axis sizes must be >= 0; got {axis} in {shape}")
            if isinstance(axis, str) and not axis.isidentifier():
                raise ValueError(f"symbolic axes must be identifiers; got {axis!r} in {shape}")
        return shape

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, dtype: str) -> str:
        dtype_from_name(dtype)
        return dtype

    @property
    def torch_dtype(self) -> torch.dtype:
        """The spec's dtype as a ``torch.dtype``."""
        return DTYPES[self.dtype]

    def show(self) -> str:
        """Render the shape as in messages: ``(B, 8)``."""
        return show_shape(self.shape)

    def check(
        self,
        where: str,
        value: object,
        bindings: dict[str, int],
        *,
        time_axis: bool = False,
        values: bool = True,
    ) -> None:
        """Check one tensor against this spec: `worldmodel_sdk.validation.check_tensor`.

        Raises:
            ContractError: naming ``where``, the expected shape/dtype and what arrived.
        """
        from .validation import check_tensor  # validation builds on these declarations

        check_tensor(self, where, value, bindings, time_axis=time_axis, values=values)


class ActionSpec(_Frozen):
    """What actions a model takes, per sample (the batch axis is implicit).

    Attributes:
        kind: ``continuous`` (float vector), ``discrete`` (one index), ``multi_discrete``
            (one index per component) or ``joint`` (one sub-spec per agent): a name in
            `worldmodel_sdk.action_kinds.KINDS`, where what each kind means lives.
        shape: Per-sample shape for continuous actions, e.g. ``(2,)``.
        num_actions: Number of choices for a discrete action.
        nvec: Choices per component for a multi-discrete action.
        low: Optional lower bound of continuous actions.
        high: Optional upper bound of continuous actions.
        agents: Per-agent specs of a joint action, keyed by agent name.
    """

    kind: str
    shape: tuple[int, ...] = ()
    num_actions: int | None = None
    nvec: tuple[int, ...] | None = None
    low: float | None = None
    high: float | None = None
    agents: dict[str, ActionSpec] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown action kind {kind!r}; expected one of {tuple(KINDS)}")
        return kind

    @model_validator(mode="after")
    def _check_kind(self) -> ActionSpec:
        error = kind_of(self.kind).spec_error(self)
        if error is not None:
            raise ValueError(error)
        return self

    @classmethod
    def sized(cls, kind: str, size: int) -> ActionSpec:
        """A one-dimensional action of ``size``: choices if discrete, floats if continuous.

        Example:
            >>> ActionSpec.sized("discrete", 5) == ActionSpec(kind="discrete", num_actions=5)
            True
        """
        return cls(kind=kind, **kind_of(kind).sized(size))

    @property
    def behaviour(self) -> Kind:
        """What this spec's kind means (see `worldmodel_sdk.action_kinds`)."""
        return kind_of(self.kind)

    @property
    def agent_names(self) -> tuple[str, ...]:
        """Agent names of a joint spec in natural order (empty otherwise)."""
        return tuple(sorted(self.agents or {}, key=natural_sort_key))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of a single-agent action tensor."""
        return kind_of(self.kind).dtype

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Per-sample shape of a single-agent action tensor."""
        return kind_of(self.kind).sample_shape(self)

    @property
    def flat_size(self) -> int:
        """Width of the canonical flat encoding (one-hot for discrete parts)."""
        return kind_of(self.kind).flat_size(self)


class ConditionSpec(_Frozen):
    """Side conditions a model accepts.

    The calls that take conditions (``transition``, ``update``, ``decode``,
    ``rollout`` and the ``loss`` batch) demand the required ones; ``encode`` takes
    none. In a sequence batch a condition has a time axis (``[B, T, ...]``), unless
    it is named in ``per_episode``: then it is given once per episode (``[B, ...]``)
    and ``loss`` sees it repeated over ``T``.

    Attributes:
        tensors: Condition tensors by name.
        required: Names among ``tensors`` that must be present.
        allowed_extra_keys: Namespaced extra keys allowed (``None``: any namespaced key).
        per_episode: Names among ``tensors`` that hold for a whole episode, so that
            sequence batches give them without a time axis.
    """

    tensors: dict[str, TensorSpec] = {}
    required: tuple[str, ...] = ()
    allowed_extra_keys: tuple[str, ...] | None = None
    per_episode: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_names(self) -> ConditionSpec:
        for field in ("required", "per_episode"):
            unknown = [k for k in getattr(self, field) if k not in self.tensors]
            if unknown:
                raise ValueError(
                    f"ConditionSpec.{field} names {unknown}, which are not among the "
                    f"condition tensors {list(self.tensors)}"
                )
        return self


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_descriptions(v)
            for k, v in value.items()
            if not (k == "description" and "shape" in value)
        }
    return value


class IOContract(_Frozen):
    """The declared inputs and outputs of a world model.

    Attributes:
        observation: Observation tensors by name. For a multi-agent model the keys are
            the agent names and each agent may have its own shape.
        action: The action spec (``None`` for models that take no action).
        state: Tensors every State of the model holds.
        prediction: Tensors ``decode`` returns.
        condition: Accepted side conditions.
        agents: Agent names of a multi-agent model (kept in natural order).
    """

    observation: dict[str, TensorSpec] = {}
    action: ActionSpec | None = None
    state: dict[str, TensorSpec] = {}
    prediction: dict[str, TensorSpec] = {}
    condition: ConditionSpec | None = None
    agents: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_agents(self) -> IOContract:
        if not self.agents:
            return self
        ordered = tuple(sorted(self.agents, key=natural_sort_key))
        if ordered != self.agents or len(set(self.agents)) != len(self.agents):
            raise ValueError(
                f"agents must be unique and in natural order {ordered}; got {self.agents}"
            )
        if set(self.observation) != set(self.agents):
            raise ValueError(
                f"a multi-agent contract keys observation by agent: expected {self.agents}, "
                f"got {tuple(self.observation)}"
            )
        if self.action is not None and (
            not self.action.behaviour.per_agent or self.action.agent_names != self.agents
        ):
            raise ValueError(
                f"a multi-agent contract needs a joint action over {self.agents}; got kind "
                f"{self.action.kind!r} over {self.action.agent_names}"
            )
        return self

    def canonical_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, defaults and descriptions omitted.

        Descriptions are documentation: rewording one must not invalidate saved models.
        """
        data: dict[str, Any] = _without_descriptions(
            self.model_dump(mode="json", exclude_defaults=True)
        )
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def fingerprint(self) -> str:
        """Versioned hash of the canonical contract, e.g. ``wmc1:3fa2...``."""
        digest = hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()
        return FINGERPRINT_PREFIX + digest

    def observation_mapping(self, obs: object, where: str = "obs") -> Mapping[str, object]:
        """Return ``obs`` as a mapping, accepting a bare tensor for one-key observations."""
        if isinstance(obs, Mapping):
            return obs
        if isinstance(obs, torch.Tensor) and len(self.observation) == 1:
            return {next(iter(self.observation)): obs}
        expected = ", ".join(repr(k) for k in self.observation) or "none"
        raise ContractError(
            f"{where} must be a mapping with keys {expected}; got {type(obs).__name__}"
        )
