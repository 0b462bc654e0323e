"""Encoding side of the envelope: per-state plans (cached) and the writers.

A plan holds everything that depends only on tensor names, dtypes, shapes and the
metadata: the preamble and header bytes, where each tensor goes and the padding
after it. States with the same signature (the common case in a rollout loop) reuse
it, so encoding a small state costs a dictionary lookup plus one copy of its bytes
into a scratch envelope the plan keeps (prefix and zero padding already in place),
and one copy of that into the returned ``bytes``.

Every writer copies each tensor's bytes exactly once. When a checksum is planned
the hash is computed in the same pass, chunk by chunk, over bytes that were just
copied and are still in cache, so the checksum never reads the state from memory
a second time.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import torch
import xxhash

from ..errors import SerializationError
from ..payloads.state import State
from ._dtypes import NAME_BY_DTYPE

if TYPE_CHECKING:
    from typing_extensions import Buffer

from ._layout import (
    ALIGNMENT,
    CHECKSUM_BYTES,
    FLAG_CHECKSUM,
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_BYTES,
    PREAMBLE,
    align,
    canonical_json,
    check_meta_depth,
    plan_layout,
)

__all__ = [
    "CACHE_LIMIT",
    "CHECKSUM",
    "CHUNK",
    "PADS",
    "STREAM_BATCH",
    "Plan",
    "encode_bytes",
    "encode_into",
    "encode_stream",
    "encode_to_fd",
    "prepare_state",
    "write_all",
]

CHECKSUM = struct.Struct("<Q")
PADS = tuple(bytes(n) for n in range(ALIGNMENT))
CACHE_LIMIT = 256
CHUNK = 1 << 18
"""Bytes copied before the hash catches up: small enough that source and copy stay in
L2 cache (1.25 MiB a core here) for the hash, large enough that the per-chunk Python
costs nothing (measured against 64 KiB to 2 MiB chunks)."""
STREAM_BATCH = 1 << 18
"""Bytes handed to a sink per call, then hashed: the sink's copy leaves them in L2 cache
(the kernel's copy into fresh pages evicts larger batches before the hash reads them)."""
SCRATCH_LIMIT = 1 << 16
"""Envelopes up to this size are assembled in a scratch buffer kept by their plan."""

_IOV_BATCH = 512  # buffers per writev call, well under IOV_MAX (1024 on Linux)
_PLANS: dict[tuple[Any, ...], Plan] = {}
_MEMMOVE = ctypes.memmove
_MEMSET = ctypes.memset
_PACK_CHECKSUM = CHECKSUM.pack
_PACK_CHECKSUM_INTO = CHECKSUM.pack_into
_HASH = xxhash.xxh3_64_intdigest
_STRIDED = torch.strided
_TENSOR = torch.Tensor
# This process's memory as one read-only byte view. Slicing it at a tensor's address
# views the tensor's bytes without a ctypes object per tensor, and assigning such a
# slice into a buffer is one memcpy: for the few-KiB tensors of a small envelope that
# costs half a ctypes `memmove` call, whose foreign-call overhead is most of such a
# copy. It is only ever sliced at the address and byte length of a live CPU tensor
# that `prepare_state` found contiguous, as `memmove` would be called.
_MEMORY = memoryview((ctypes.c_char * sys.maxsize).from_address(0)).cast("B").toreadonly()
# An uninitialised bytes object to write the envelope into: bytes(n) would zero-fill
# n bytes only for us to overwrite them, and bytearray -> bytes would copy them again.
_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype = ctypes.py_object
_new_bytes.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
_bytes_as_string = ctypes.pythonapi.PyBytes_AsString
_bytes_as_string.restype = ctypes.c_void_p
_bytes_as_string.argtypes = (ctypes.py_object,)
_PROBE = b"wire"
# CPython keeps a bytes object's characters at a fixed offset from the object: ask the
# C API once, then save a foreign call per encode.
_BYTES_OFFSET: int = _bytes_as_string(_PROBE) - id(_PROBE)


def _bytes_address(out: bytes) -> int:
    return id(out) + _BYTES_OFFSET


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything about an envelope that depends only on names, dtypes, shapes and meta."""

    prefix: bytes
    """Preamble + header + zero padding up to the data section."""
    slots: tuple[tuple[int, int, int], ...]
    """Per tensor: its offset in the envelope, its byte length, the zero bytes after it."""
    spans: tuple[tuple[int, int, int], ...]
    """Per tensor: its start and end in the envelope, and its byte length."""
    data_end: int
    total: int
    checksum: bool
    small: bool
    """Whether the envelope is assembled in a scratch buffer (see `encode_bytes`)."""
    scratch: list[tuple[bytearray, memoryview]]
    """Idle scratch envelopes (buffer, a view of it up to ``data_end``, which also keeps it
    from being resized): taken by one call at a time, so threads and re-entrant calls
    never share one."""


def _slow_prepare(name: object, value: object) -> torch.Tensor:
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
    # Meta first: encoding it may run the caller's code (a dict subclass's items()),
    # which must not change a tensor after its address and size are taken below.
    meta = state.meta
    meta_json = "null" if meta is None else _meta_json(meta)
    prepared = []
    signature: list[Any] = []  # flat: name, dtype, shape of each tensor in turn
    for k, t in tensors.items():
        if not (
            type(t) is _TENSOR
            and t.layout is _STRIDED
            and t.is_cpu
            and t.is_contiguous()
            and not t.is_neg()
            and not ((dtype := t.dtype).is_complex and t.is_conj())  # only complex conjugate
        ):
            t = _slow_prepare(k, t)
            dtype = t.dtype
        prepared.append(t)
        signature += (k, dtype, t.shape)
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
    for index in range(0, len(signature), 3):
        name, dtype, shape = signature[index : index + 3]
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
    nexts = [e.offset for e in layout.entries[1:]] + [layout.data_length]
    slots = tuple(
        (start + e.offset, e.length, n - e.offset - e.length)
        for e, n in zip(layout.entries, nexts, strict=False)
    )
    data_end = start + layout.data_length
    total = data_end + (CHECKSUM_BYTES if checksum else 0)
    spans = tuple((at, at + n, n) for at, n, _ in slots)
    return Plan(prefix, slots, spans, data_end, total, checksum, total <= SCRATCH_LIMIT, [])


def encode_into(plan: Plan, prepared: list[torch.Tensor], dst: int, out: memoryview) -> int | None:
    """Write the envelope at address ``dst``; ``out`` views the same bytes (for hashing).

    Returns:
        The checksum written (None when the plan has none).
    """
    prefix = plan.prefix
    _MEMMOVE(dst, prefix, len(prefix))
    if not plan.checksum:
        for t, (at, n, pad) in zip(prepared, plan.slots, strict=True):
            if n:
                _MEMMOVE(dst + at, t.data_ptr(), n)
            if pad:
                _MEMSET(dst + at + n, 0, pad)
        return None
    end = plan.data_end
    if end <= CHUNK:  # small: copy everything, then hash it while it is in cache
        for t, (at, n, pad) in zip(prepared, plan.slots, strict=True):
            if n:
                _MEMMOVE(dst + at, t.data_ptr(), n)
            if pad:
                _MEMSET(dst + at + n, 0, pad)
        digest = xxhash.xxh3_64_intdigest(out[:end])
    else:
        # Each chunk is hashed from its source, just read by the copy: a copy this large
        # (``rep movsb``) leaves its source in cache but not all of its destination.
        hasher = xxhash.xxh3_64(prefix)
        update = hasher.update
        for t, (at, n, pad) in zip(prepared, plan.slots, strict=True):
            src = t.data_ptr() if n else 0
            for done in range(0, n, CHUNK):
                size = min(CHUNK, n - done)
                _MEMMOVE(dst + at + done, src + done, size)
                update(_MEMORY[src + done : src + done + size])
            if pad:
                _MEMSET(dst + at + n, 0, pad)
                update(PADS[pad])
        digest = hasher.intdigest()
    _MEMMOVE(dst + end, _PACK_CHECKSUM(digest), CHECKSUM_BYTES)
    return digest


def encode_bytes(plan: Plan, prepared: list[torch.Tensor]) -> bytes:
    """The envelope as a new ``bytes`` object (one copy of each tensor, hashed in cache)."""
    if not plan.small:
        out: bytes = _new_bytes(None, plan.total)
        encode_into(plan, prepared, _bytes_address(out), memoryview(out))
        return out
    scratch = plan.scratch
    entry = scratch.pop() if scratch else _new_scratch(plan)
    buffer, body = entry
    for t, (at, end, n) in zip(prepared, plan.spans, strict=True):
        start = t.data_ptr()  # 0 for an empty tensor, whose slices are empty
        body[at:end] = _MEMORY[start : start + n]
    if plan.checksum:
        _PACK_CHECKSUM_INTO(buffer, plan.data_end, _HASH(body))
    out = bytes(buffer)
    scratch.append(entry)
    return out


def _new_scratch(plan: Plan) -> tuple[bytearray, memoryview]:
    """A scratch envelope for ``plan``: its prefix, then zeros (the padding stays zero)."""
    buffer = bytearray(plan.total)
    buffer[: len(plan.prefix)] = plan.prefix
    return buffer, memoryview(buffer)[: plan.data_end]


def _pieces(plan: Plan, prepared: list[torch.Tensor]) -> Iterator[memoryview]:
    """The envelope without its checksum as views of at most `STREAM_BATCH` bytes, in order."""
    yield memoryview(plan.prefix)
    for t, (_, n, pad) in zip(prepared, plan.slots, strict=True):
        if n:
            start = t.data_ptr()
            raw = _MEMORY[start : start + n]
            for done in range(0, n, STREAM_BATCH):
                yield raw[done : done + STREAM_BATCH]
        if pad:
            yield memoryview(PADS[pad])


def encode_stream(
    plan: Plan, prepared: list[torch.Tensor], send: Callable[[list[memoryview]], None]
) -> int | None:
    """Hand the envelope to ``send`` in batches of about `STREAM_BATCH` bytes, hashing as it goes.

    Each batch is hashed right after ``send`` has read it, while it is in cache.
    ``prepared`` must stay alive until this returns.

    Returns:
        The checksum sent last (None when the plan has none).
    """
    hasher = xxhash.xxh3_64() if plan.checksum else None
    batch: list[memoryview] = []
    size = 0
    for piece in _pieces(plan, prepared):
        batch.append(piece)
        size += piece.nbytes
        if size >= STREAM_BATCH:
            _flush(batch, send, hasher)
            batch, size = [], 0
    _flush(batch, send, hasher)
    if hasher is None:
        return None
    digest = hasher.intdigest()
    send([memoryview(CHECKSUM.pack(digest))])
    return digest


def encode_to_fd(plan: Plan, prepared: list[torch.Tensor], fd: int) -> int | None:
    """Write the envelope to file descriptor ``fd``, one system call per `STREAM_BATCH` bytes.

    The kernel copies each piece out of the tensor's own memory; the hash then reads
    the same piece from cache. This is `encode_stream` without its per-batch Python
    (lists, callbacks), for the sink the shared-memory owner writes to.

    Returns:
        The checksum written (None when the plan has none).
    """
    hasher = xxhash.xxh3_64(plan.prefix) if plan.checksum else None
    pending: list[Any] = [plan.prefix]
    size = len(plan.prefix)
    for t, (_, n, pad) in zip(prepared, plan.slots, strict=True):
        if n:
            start = t.data_ptr()
            raw = _MEMORY[start : start + n]
            for done in range(0, n, STREAM_BATCH):
                piece = raw[done : done + STREAM_BATCH]
                pending.append(piece)
                _writev(fd, pending, size + piece.nbytes)
                pending, size = [], 0
                if hasher is not None:
                    hasher.update(piece)
        if pad:
            pending.append(PADS[pad])
            size += pad
            if hasher is not None:
                hasher.update(PADS[pad])
    if hasher is None:
        _writev(fd, pending, size)
        return None
    digest = hasher.intdigest()
    pending.append(_PACK_CHECKSUM(digest))
    _writev(fd, pending, size + CHECKSUM_BYTES)
    return digest


def _writev(fd: int, pieces: list[Any], size: int) -> None:
    """One ``writev`` of ``pieces`` (``size`` bytes); a short write is resumed."""
    written = os.writev(fd, pieces) if pieces else 0
    if written < size:
        write_all(fd, [memoryview(b"".join(pieces))[written:]])


def write_all(sink: int | IO[bytes], buffers: Sequence[Buffer]) -> None:
    """Write ``buffers`` in order to a file descriptor or a binary file object.

    A file descriptor gets batched ``writev`` calls; a file object gets one ``write``
    per buffer. Either way partial writes are resumed until every byte is written.

    Raises:
        BlockingIOError: a non-blocking file object would block (``write`` returned None).
        OSError: the sink accepted no bytes.
    """
    views = [memoryview(b).cast("B") for b in buffers]
    views = [v for v in views if v.nbytes]
    index = 0
    while index < len(views):
        if isinstance(sink, int):
            written = os.writev(sink, views[index : index + _IOV_BATCH])
        else:
            accepted = sink.write(views[index])
            if accepted is None:
                raise BlockingIOError("the sink is non-blocking and would block")
            written = accepted
        if written <= 0:
            raise OSError(f"the sink accepted no bytes ({written} of {views[index].nbytes})")
        while written and index < len(views):
            size = views[index].nbytes
            if written >= size:
                written -= size
                index += 1
            else:
                views[index] = views[index][written:]
                written = 0


def _flush(
    batch: list[memoryview],
    send: Callable[[list[memoryview]], None],
    hasher: Any,
) -> None:
    if not batch:
        return
    send(batch)
    if hasher is not None:
        for piece in batch:
            hasher.update(piece)
