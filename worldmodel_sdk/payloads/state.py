"""`State`: named tensors sharing a leading batch axis, plus JSON-able metadata."""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator, KeysView, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .._metadata import meta_problem
from ..errors import ContractError
from ._summary import describe_mapping

if TYPE_CHECKING:
    from tensordict import TensorDict, TensorDictBase

    from .. import wire as _wire
    from ..wire import SharedStateDescriptor
else:

    class _Wire:
        """Stands in for ``worldmodel_sdk.wire`` until first used, then rebinds ``_wire``.

        Payloads do no I/O and do not import the wire package at module level; after
        the first call the State methods below reach it through a plain global.
        """

        def __getattr__(self, name: str) -> Any:
            global _wire
            _wire = importlib.import_module("worldmodel_sdk.wire")
            return getattr(_wire, name)

    _wire = _Wire()

__all__ = ["State"]


class _WeaklyReferable:
    """Gives slotted subclasses a ``__weakref__`` slot (``weakref_slot`` needs 3.11).

    Transports keep their per-state bookkeeping (shared-memory handles) in weak
    tables instead of fields of the state.
    """

    __slots__ = ("__weakref__",)


@dataclass(slots=True, eq=False, repr=False)
class State(_WeaklyReferable, Mapping[str, torch.Tensor]):
    """A world model's state: a dict of named tensors plus JSON-able metadata.

    Every tensor shares the leading batch axis; ``validate()`` checks that on
    demand (the hot path does not). ``meta`` holds small JSON-able facts about
    the state (for example the model that produced it).

    A state is a read-only `collections.abc.Mapping` of its tensors, so
    ``dict(state)``, ``{**state}`` and ``fn(**state)`` work; item assignment is
    refused (build a new state with `replace`). Equality and hashing stay by
    identity, as for any container of tensors.

    Example:
        >>> s = State(tensors={"h": torch.zeros(4, 8)}, meta={"step": 0})
        >>> s.batch_size
        4
        >>> s
        State(batch_size=4, tensors={'h': float32[4, 8] cpu}, meta_keys=['step'])
    """

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> torch.Tensor:
        try:
            return self.tensors[key]
        except KeyError:
            known = ", ".join(sorted(self.tensors)) or "none"
            raise KeyError(f"State has no tensor {key!r}; it holds: {known}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    # Mapping would compare tensors element-wise and make states unhashable: keep identity.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        # Metadata only: never reads tensor values, so it costs microseconds at any size.
        first = next(iter(self.tensors.values()), None)
        valid = first is None or isinstance(first, torch.Tensor)
        batch = self.batch_size if valid else "?"
        meta = "" if self.meta is None else f", meta_keys={list(self.meta)!r}"
        return f"State(batch_size={batch}, tensors={describe_mapping(self.tensors)}{meta})"

    def keys(self) -> KeysView[str]:
        """Names of the tensors, in insertion order (a live, set-like view)."""
        return self.tensors.keys()

    @property
    def batch_size(self) -> int:
        """The leading size of the first tensor (0 for an empty state)."""
        for value in self.tensors.values():
            return int(value.shape[0]) if value.dim() > 0 else 0
        return 0

    @property
    def device(self) -> torch.device:
        """Device of the first tensor (CPU for an empty state)."""
        for value in self.tensors.values():
            return value.device
        return torch.device("cpu")

    def validate(self) -> State:
        """Check tensor types, the shared batch axis and JSON-able metadata.

        Returns:
            The state itself, so calls can be chained.

        Raises:
            ContractError: naming the offending key, what was expected and what arrived.
        """
        if not isinstance(self.tensors, Mapping):
            raise ContractError(
                f"State.tensors must be a dict of str to Tensor; got {type(self.tensors).__name__}"
            )
        batch: int | None = None
        first = ""
        for key, value in self.tensors.items():
            if not isinstance(key, str) or not key:
                raise ContractError(f"State keys must be non-empty str; got {key!r}")
            if not isinstance(value, torch.Tensor):
                raise ContractError(
                    f"State[{key!r}] must be a torch.Tensor; got {type(value).__name__}"
                )
            if value.dim() == 0:
                raise ContractError(
                    f"State[{key!r}] is 0-dimensional; every state tensor needs a leading "
                    "batch axis (B, ...)"
                )
            if batch is None:
                batch, first = int(value.shape[0]), key
            elif int(value.shape[0]) != batch:
                raise ContractError(
                    f"State[{key!r}] has batch size {int(value.shape[0])}; expected {batch} "
                    f"(the batch size of State[{first!r}]), shape {tuple(value.shape)}"
                )
        if self.meta is not None:
            _check_json_able(self.meta)
        return self

    def to(self, device: torch.device | str) -> State:
        """Return a state with every tensor moved to ``device`` (metadata shared)."""
        return State({k: v.to(device) for k, v in self.tensors.items()}, self.meta)

    def detach(self) -> State:
        """Return a state whose tensors are detached from the autograd graph."""
        return State({k: v.detach() for k, v in self.tensors.items()}, self.meta)

    def clone(self) -> State:
        """Return a deep copy: cloned tensors and a copied metadata dict.

        Raises:
            ContractError: ``meta`` is not JSON that round-trips (see `validate`).
        """
        if self.meta is not None:
            _check_json_able(self.meta)
        return State({k: v.clone() for k, v in self.tensors.items()}, copy.deepcopy(self.meta))

    def replace(self, **tensors: torch.Tensor) -> State:
        """Return a state with some tensors replaced or added (metadata shared)."""
        return State({**self.tensors, **tensors}, self.meta)

    def to_tensordict(self) -> TensorDict:
        """The tensors as a ``tensordict.TensorDict`` with batch size ``[B]``, sharing memory.

        ``meta`` is not carried (a TensorDict has no place for it); pass it back to
        `from_tensordict`. Needs the ``tensordict`` extra.

        Raises:
            ContractError: if the state is not valid (see `validate`).
            ImportError: if tensordict is not installed.
        """
        from .._interop import to_tensordict

        return to_tensordict(self)

    @classmethod
    def from_tensordict(cls, data: TensorDictBase, meta: dict[str, Any] | None = None) -> State:
        """A validated state holding the tensors of a flat TensorDict (memory shared).

        Raises:
            ContractError: for nested or non-tensor entries, or an invalid state.
            ImportError: if tensordict is not installed.
        """
        from .._interop import from_tensordict

        return from_tensordict(data, meta)

    # Wire format and shared memory: thin delegations to worldmodel_sdk.wire, which
    # owns the transport (segment handles included).

    def serialize(
        self, version: str = "v1", format: str = "binary", *, checksum: bool = True
    ) -> bytes:
        """Encode this state as one wire-format envelope (see the wire format docs)."""
        return _wire.serialize_state(self, version=version, format=format, checksum=checksum)

    @classmethod
    def deserialize(
        cls,
        payload: bytes | bytearray | memoryview,
        *,
        copy: bool = False,
        verify: bool | None = None,
        map_location: torch.device | str | None = None,
    ) -> State:
        """Decode an envelope made by `serialize` (views of a writable buffer unless ``copy``).

        Structure and bounds are always checked. By default the checksum is verified
        when the data is copied (``bytes`` input or ``copy=True``) and not for zero-copy
        views of a writable buffer; ``verify=True`` or ``False`` decides explicitly.
        """
        return _wire.deserialize_state(payload, copy=copy, verify=verify, map_location=map_location)

    def to_shared_memory(
        self,
        *,
        namespace: str = "wmsdk-state",
        allow_copy_from_cuda: bool = False,
        checksum: bool = True,
        reuse: SharedStateDescriptor | None = None,
    ) -> SharedStateDescriptor:
        """Publish this state as one envelope in one shared-memory segment.

        ``reuse`` writes it into a segment this process published before, once its
        consumers are done with it (see `worldmodel_sdk.wire.publish_state`).
        """
        return _wire.publish_state(
            self,
            namespace=namespace,
            allow_copy_from_cuda=allow_copy_from_cuda,
            checksum=checksum,
            reuse=reuse,
        )

    @classmethod
    def from_shared_memory(
        cls, descriptor: SharedStateDescriptor, *, copy: bool = False, verify: bool = False
    ) -> State:
        """Attach a state published by `to_shared_memory` (zero-copy views unless ``copy``).

        Attaching is O(1) in the state size; ``verify=True`` also hashes the segment.
        """
        return _wire.attach_state(descriptor, copy=copy, verify=verify)

    def close_shared_memory(self, *, unlink: bool = False) -> None:
        """Release this state's shared-memory handle, unlinking the segment if asked."""
        _wire.close_state(self, unlink=unlink)

    @staticmethod
    def unlink_shared_memory(descriptor: SharedStateDescriptor) -> None:
        """Remove the segment named by ``descriptor`` (owners call this when done)."""
        _wire.unlink_descriptor(descriptor)


def _check_json_able(meta: Mapping[str, Any]) -> None:
    if not isinstance(meta, Mapping):
        raise ContractError(f"State.meta must be a dict; got {type(meta).__name__}")
    problem = meta_problem(meta)
    if problem is not None:
        raise ContractError(f"State.meta must be JSON-able: {problem}")
    try:
        json.dumps(meta, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ContractError(
            f"State.meta must be JSON-able (str keys, finite numbers): {exc}"
        ) from None
