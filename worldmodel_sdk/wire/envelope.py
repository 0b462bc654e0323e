"""Encode and decode a `State` as one version-1 wire envelope.

The layout is documented byte by byte in ``docs/wire-format.md``. In short::

    [0, 24)        preamble: magic, version, flags, header length H, data length D
    [24, 24+H)     canonical JSON header: tensors (name, dtype, shape, offset, length), meta
    [.., S)        zero padding up to S = align64(24 + H)
    [S, S+D)       tensor data, each tensor 64-byte aligned, little-endian, C-contiguous
    [S+D, S+D+8)   XXH3-64 of bytes [0, S+D), when the checksum flag is set

Writing copies each tensor's bytes exactly once, straight into the destination
(``bytes``, a writable buffer, a file or a shared-memory segment). Reading from a
writable buffer returns tensors that are views of it.

Aliasing rules for `deserialize_state`:

* writable buffer (``bytearray``, writable ``memoryview``, ``mmap``) and ``copy=False``:
  the tensors are views of the buffer. Writes through either side are visible to the
  other, and the buffer cannot be resized while a tensor is alive.
* read-only buffer (``bytes``, read-only ``memoryview``): the data section is copied
  once into a private buffer shared by the returned tensors; the input is not aliased.
* ``copy=True``: as for read-only buffers, whatever the input.
* ``map_location`` other than CPU: the tensors are copied to that device. A device
  this machine lacks, or ``meta`` (which holds no data), raises `SerializationError`.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import torch
import xxhash

from .._dtypes import NUMPY
from ..errors import SerializationError
from ..payloads.state import State
from ._encode import CACHE_LIMIT, CHECKSUM, PADS, pieces, prepare_state
from ._layout import PREAMBLE, Layout, Preamble, parse_header, read_preamble

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "as_byte_view",
    "checksum_status",
    "deserialize_state",
    "envelope_length",
    "open_envelope",
    "serialize_into",
    "serialize_state",
    "serialized_size",
    "write_all",
    "write_pieces",
]

_IOV_BATCH = 512  # buffers per writev call, well under IOV_MAX (1024 on Linux)
_LAYOUTS: dict[tuple[bytes, int], Layout] = {}
_USABLE_DEVICES: set[torch.device] = set()  # map_location targets that accepted a tensor
_NUMPY_DTYPES = NUMPY  # the package's one dtype table


def _check_target(version: str, format: str) -> None:
    if version != "v1":
        raise SerializationError(f"unknown wire version {version!r}: only 'v1' is supported")
    if format != "binary":
        raise SerializationError(f"unknown wire format {format!r}: only 'binary' is supported")


def _check_host() -> None:
    if sys.byteorder != "little":  # pragma: no cover - no big-endian CI
        raise SerializationError("the wire format needs a little-endian host")


def serialize_state(
    state: State, *, version: str = "v1", format: str = "binary", checksum: bool = True
) -> bytes:
    """Encode ``state`` as one envelope, copying each tensor's bytes once.

    Args:
        state: the state to encode. Tensors are made CPU and C-contiguous on the way.
        version: wire version; only ``"v1"``.
        format: only ``"binary"``.
        checksum: append an XXH3-64 checksum over preamble, header and data.

    Returns:
        The envelope bytes.

    Raises:
        SerializationError: unsupported dtype or layout, non-JSON-able metadata.
    """
    _check_target(version, format)
    _check_host()
    plan, prepared = prepare_state(state, checksum)
    return b"".join(pieces(plan, prepared))


def serialized_size(state: State, *, checksum: bool = True) -> int:
    """Number of bytes `serialize_state` would produce for ``state``."""
    return prepare_state(state, checksum)[0].total


def write_pieces(state: State, *, checksum: bool = True) -> tuple[list[Buffer], int, object]:
    """The envelope as buffers to write in order, its size, and a keep-alive token.

    The buffers point into the state's tensors: keep the token alive until the
    buffers are written. Used by the streaming and shared-memory writers.
    """
    _check_host()
    plan, prepared = prepare_state(state, checksum)
    return pieces(plan, prepared), plan.total, prepared


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


def serialize_into(state: State, buffer: Buffer, offset: int = 0, *, checksum: bool = True) -> int:
    """Write ``state``'s envelope into a writable buffer at ``offset``, without a temporary.

    Returns:
        The number of bytes written.

    Raises:
        SerializationError: the buffer is read-only or too small, or the state cannot be
            encoded.
    """
    pieces, total, keep = write_pieces(state, checksum=checksum)
    view = as_byte_view(buffer)
    if view.readonly:
        raise SerializationError("serialize_into needs a writable buffer; got a read-only one")
    if offset < 0 or view.nbytes - offset < total:
        raise SerializationError(
            f"buffer has {view.nbytes - offset} bytes from offset {offset}; "
            f"the envelope needs {total}"
        )
    base = ctypes.addressof((ctypes.c_char * total).from_buffer(view, offset))
    position = base
    for piece in pieces:
        size = memoryview(piece).nbytes
        ctypes.memmove(position, cast(Any, piece), size)
        position += size
    del keep
    return total


def envelope_length(preamble: Buffer) -> int:
    """Total envelope size announced by its first 24 bytes (for framing on streams).

    Raises:
        SerializationError: the preamble is invalid.
    """
    view = as_byte_view(preamble)
    pre = read_preamble(view[: PREAMBLE.size], min(view.nbytes, PREAMBLE.size))
    return pre.total


def as_byte_view(payload: object) -> memoryview:
    """A flat byte view of any contiguous buffer, or a `SerializationError`."""
    try:
        view = memoryview(payload)  # type: ignore[arg-type]
        if not view.c_contiguous:
            raise TypeError("the buffer is not C-contiguous")
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
    except (TypeError, ValueError, BufferError) as exc:
        raise SerializationError(
            f"payload must be bytes, bytearray, memoryview or another contiguous buffer; "
            f"got {type(payload).__name__} ({exc})"
        ) from None
    return view


def _layout_for(header: bytes, data_length: int) -> tuple[Layout, dict[str, Any] | None]:
    key = (header, data_length)
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout, meta = parse_header(header, data_length)
        if len(header) <= 4096:
            if len(_LAYOUTS) >= CACHE_LIMIT:
                _LAYOUTS.clear()
            _LAYOUTS[key] = layout
        return layout, meta
    if not layout.has_meta:
        return layout, None
    return layout, json.loads(header)["meta"]


def open_envelope(
    view: memoryview, *, verify: bool
) -> tuple[Preamble, Layout, dict[str, Any] | None]:
    """Check an envelope's structure (and, if ``verify``, its checksum and padding)."""
    size = view.nbytes
    pre = read_preamble(view, size)
    total = pre.total
    header_end = PREAMBLE.size + pre.header_length
    if size < header_end:
        raise SerializationError(
            f"truncated at offset {size}: the header ends at offset {header_end}"
        )
    if size < total:
        raise SerializationError(f"truncated at offset {size}: the envelope needs {total} bytes")
    if size > total:
        raise SerializationError(
            f"{size - total} trailing bytes after the envelope, which ends at offset {total}"
        )
    layout, meta = _layout_for(bytes(view[PREAMBLE.size : header_end]), pre.data_length)
    if verify:
        _verify(view, pre, layout)
    return pre, layout, meta


def checksum_status(view: memoryview, pre: Preamble) -> tuple[int, int] | None:
    """(stored, computed) checksum of an envelope, or None when it has none."""
    if not pre.has_checksum:
        return None
    (stored,) = CHECKSUM.unpack_from(view, pre.data_end)
    return stored, xxhash.xxh3_64_intdigest(view[: pre.data_end])


def _verify(view: memoryview, pre: Preamble, layout: Layout) -> None:
    status = checksum_status(view, pre)
    if status is not None and status[0] != status[1]:
        raise SerializationError(
            f"checksum mismatch: stored 0x{status[0]:016x}, computed 0x{status[1]:016x} "
            f"over bytes [0, {pre.data_end})"
        )
    header_end = PREAMBLE.size + pre.header_length
    runs = [(header_end, pre.data_start - header_end)]
    runs += [(pre.data_start + at, n) for at, n in layout.pads]
    for at, n in runs:
        if n and view[at : at + n] != PADS[n]:
            run = bytes(view[at : at + n])
            first = n - len(run.lstrip(b"\0"))
            raise SerializationError(
                f"padding byte at offset {at + first} is 0x{run[first]:02x}; padding must be zero"
            )


def _views(view: memoryview, start: int, layout: Layout, copy: bool) -> dict[str, torch.Tensor]:
    base, origin = view, start
    if (copy or view.readonly) and layout.data_length:
        base, origin = memoryview(bytearray(view[start : start + layout.data_length])), 0
    tensors: dict[str, torch.Tensor] = {}
    for e in layout.entries:
        np_dtype = _NUMPY_DTYPES.get(e.dtype)
        if not e.length:
            t = torch.empty(0, dtype=torch.uint8).view(e.dtype).reshape(e.shape)
        elif np_dtype is not None:
            # The quickest zero-copy route. np.frombuffer keeps a memoryview (hence a
            # buffer export) alive, so the buffer can be neither resized nor unmapped
            # while the tensor lives; np.ndarray(buffer=...) would not guarantee that.
            array = np.frombuffer(base, np_dtype, e.numel, origin + e.offset)
            t = torch.from_numpy(array.reshape(e.shape))
        else:
            t = torch.frombuffer(base, dtype=e.dtype, count=e.numel, offset=origin + e.offset)
            if len(e.shape) != 1:
                t = t.view(e.shape)
        tensors[e.name] = t
    return tensors


def _check_bools(tensors: dict[str, torch.Tensor]) -> None:
    for name, t in tensors.items():
        if t.dtype is torch.bool and t.numel():
            bad = t.view(torch.uint8) > 1
            if bool(bad.any()):
                index = int(bad.reshape(-1).nonzero()[0])
                raise SerializationError(
                    f"tensor {name!r} (bool) holds a byte other than 0 or 1 at element {index}"
                )


def _target_device(map_location: torch.device | str) -> torch.device:
    """The device ``map_location`` names, if it exists here and can hold tensor data."""
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError) as exc:
        raise SerializationError(f"invalid map_location {map_location!r}: {exc}") from None
    if device.type == "meta":
        raise SerializationError(
            f"map_location {str(device)!r} cannot hold tensor data; decode to 'cpu' instead"
        )
    if device.type == "cpu" or device in _USABLE_DEVICES:
        return device
    try:
        # The same call as the move itself, on an empty tensor: an unbuilt backend
        # raises AssertionError, a missing device RuntimeError and so on.
        torch.empty(0).to(device)
    except Exception as exc:
        raise SerializationError(
            f"map_location {str(device)!r} is not available on this machine: {exc}"
        ) from None
    _USABLE_DEVICES.add(device)
    return device


def _move(tensors: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return tensors
    return {k: v.to(device) for k, v in tensors.items()}


def deserialize_state(
    payload: Buffer,
    *,
    copy: bool = False,
    verify: bool = True,
    map_location: torch.device | str | None = None,
) -> State:
    """Decode one envelope; tensors are views of a writable ``payload`` unless ``copy``.

    Args:
        payload: the envelope, exactly (bytes, bytearray, memoryview, mmap, ...).
        copy: copy the tensor data even when views would be possible.
        verify: check the checksum, zero padding and bool bytes (structure and bounds
            are always checked).
        map_location: device to move the tensors to.

    Raises:
        SerializationError: the bytes are not a valid envelope, or ``map_location`` is
            not a device of this machine that can hold data; the message says why.
    """
    device = None if map_location is None else _target_device(map_location)
    view = as_byte_view(payload)
    pre, layout, meta = open_envelope(view, verify=verify)
    tensors = _views(view, pre.data_start, layout, copy)
    if verify and layout.has_bool:
        _check_bools(tensors)
    if device is not None:
        tensors = _move(tensors, device)
    return State(tensors, meta)
