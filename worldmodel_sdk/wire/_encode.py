"""Encoding side of the envelope: per-state plans (cached) and the pieces to write.

A plan holds everything that depends only on tensor names, dtypes, shapes and the
metadata: the preamble and header bytes and the padding after each tensor. States
with the same signature (the common case in a rollout loop) reuse it, so encoding
a small state costs a dictionary lookup plus one copy of its tensor bytes.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import xxhash

from ..errors import SerializationError
from ..payloads.state import State
from ._layout import (
    ALIGNMENT,
    CHECKSUM_BYTES,
    FLAG_CHECKSUM,
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_BYTES,
    NAME_BY_DTYPE,
    PREAMBLE,
    align,
    canonical_json,
    check_meta_depth,
    plan_layout,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["CACHE_LIMIT", "CHECKSUM", "PADS", "Plan", "pieces", "prepare_state"]

CHECKSUM = struct.Struct("<Q")
PADS = tuple(bytes(n) for n in range(ALIGNMENT))
CACHE_LIMIT = 256
_PLANS: dict[tuple[Any, ...], Plan] = {}


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything about an envelope that depends only on names, dtypes, shapes and meta."""

    prefix: bytes  # preamble + header + zero padding up to the data section
    slots: tuple[tuple[type[ctypes.Array[ctypes.c_char]] | None, bytes], ...]
    """Per tensor: a ctypes array type of its byte size (None if empty), then its padding."""
    data_end: int
    total: int
    checksum: bool


def _prepare(name: object, value: object) -> torch.Tensor:
    """Return ``value`` as a CPU, strided, C-contiguous tensor with plain bits."""
    if not isinstance(value, torch.Tensor):
        raise SerializationError(f"State[{name!r}] is a {type(value).__name__}, not a torch.Tensor")
    t = value
    if t.layout is not torch.strided:
        raise SerializationError(
            f"State[{name!r}] has layout {t.layout}; only strided tensors serialize"
        )
    if not t.is_cpu:
        if t.is_meta:
            raise SerializationError(f"State[{name!r}] is on the meta device and holds no data")
        t = t.cpu()
    if t.dtype.is_complex and t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    return t if t.is_contiguous() else t.contiguous()


def prepare_state(state: State, checksum: bool) -> tuple[Plan, list[torch.Tensor]]:
    """The state's (cached) plan and its tensors made CPU, strided and contiguous."""
    tensors = state.tensors
    if not isinstance(tensors, dict):
        raise SerializationError(f"State.tensors must be a dict; got {type(tensors).__name__}")
    prepared = []
    signature = []
    for k, v in tensors.items():
        t = _prepare(k, v)
        prepared.append(t)
        signature.append((k, t.dtype, t.shape))
    meta_json = "null" if state.meta is None else _meta_json(state.meta)
    key = (tuple(signature), meta_json, checksum)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _build_plan(key[0], meta_json, checksum)
        if len(_PLANS) >= CACHE_LIMIT:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan, prepared


def _meta_json(meta: object) -> str:
    if not isinstance(meta, dict):
        raise SerializationError(f"State.meta must be a dict or None; got {type(meta).__name__}")
    try:
        text = canonical_json(meta)
    except RecursionError:
        check_meta_depth(meta)
        raise SerializationError("State.meta must be JSON-able: nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"State.meta must be JSON-able: {exc}") from None
    check_meta_depth(meta, text)
    return text


def _build_plan(signature: tuple[Any, ...], meta_json: str, checksum: bool) -> Plan:
    specs = []
    for name, dtype, shape in signature:
        if not isinstance(name, str) or not name:
            raise SerializationError(f"State keys must be non-empty str; got {name!r}")
        dtype_name = NAME_BY_DTYPE.get(dtype)
        if dtype_name is None:
            raise SerializationError(
                f"State[{name!r}] has dtype {dtype}, which the wire format cannot represent"
            )
        specs.append((name, dtype_name, tuple(shape), shape.numel() * dtype.itemsize))
    layout = plan_layout(specs)
    tensors_json = canonical_json([e.as_json() for e in layout.entries])
    try:
        header = f'{{"meta":{meta_json},"tensors":{tensors_json}}}'.encode()
    except UnicodeEncodeError as exc:
        raise SerializationError(f"State metadata or names are not valid UTF-8: {exc}") from None
    if len(header) > MAX_HEADER_BYTES:
        raise SerializationError(
            f"header too large: {len(header)} bytes exceeds the cap of {MAX_HEADER_BYTES} bytes"
        )
    flags = FLAG_CHECKSUM if checksum else 0
    preamble = PREAMBLE.pack(MAGIC, FORMAT_VERSION, flags, len(header), layout.data_length)
    start = align(PREAMBLE.size + len(header))
    prefix = preamble + header + bytes(start - PREAMBLE.size - len(header))
    ends = [e.offset + e.length for e in layout.entries]
    nexts = [e.offset for e in layout.entries[1:]] + [layout.data_length] * bool(ends)
    data_end = start + layout.data_length
    total = data_end + (CHECKSUM_BYTES if checksum else 0)
    slots = tuple(
        (ctypes.c_char * e.length if e.length else None, PADS[n - end])
        for e, n, end in zip(layout.entries, nexts, ends, strict=True)
    )
    return Plan(prefix, slots, data_end, total, checksum)


def pieces(plan: Plan, prepared: list[torch.Tensor]) -> list[Buffer]:
    """The envelope as a list of buffers, checksum trailer included when planned.

    Tensor pieces are ctypes arrays over the tensors' own memory: valid only while
    ``prepared`` is alive.
    """
    out: list[Buffer] = [plan.prefix]
    for t, (kind, pad) in zip(prepared, plan.slots, strict=True):
        if kind is not None:
            out.append(kind.from_address(t.data_ptr()))
        if pad:
            out.append(pad)
    if plan.checksum:
        hasher = xxhash.xxh3_64()
        for piece in out:
            hasher.update(piece)
        out.append(CHECKSUM.pack(hasher.intdigest()))
    return out
