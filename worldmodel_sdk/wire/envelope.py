"""Encode and decode a `State` as one version-1 wire envelope.

The layout is documented byte by byte in ``docs/wire-format.md``. In short::

    [0, 24)        preamble: magic, version, flags, header length H, data length D
    [24, 24+H)     canonical JSON header: tensors (name, dtype, shape, offset, length), meta
    [.., S)        zero padding up to S = align64(24 + H)
    [S, S+D)       tensor data, each tensor 64-byte aligned, little-endian, C-contiguous
    [S+D, S+D+8)   XXH3-64 of bytes [0, S+D), when the checksum flag is set

Writing copies each tensor's bytes exactly once, straight into the destination
(``bytes``, a writable buffer, a file or a shared-memory segment), with the checksum
computed over each chunk just copied. Reading from a writable buffer returns tensors
that are views of it. Verification follows the policy of ``docs/wire-format.md``:
structure and bounds always; the checksum by default only where the data is copied.

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
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ..errors import SerializationError
from ..payloads.state import State
from ._decode import build_tensors, check_bools, copy_data, open_envelope, verify_in_place
from ._encode import encode_bytes, encode_into, encode_stream, prepare_state, write_all
from ._layout import PREAMBLE, as_byte_view, read_preamble

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "as_byte_view",
    "deserialize_state",
    "envelope_length",
    "serialize_into",
    "serialize_state",
    "serialized_size",
    "stream_state",
    "write_all",
]

_USABLE_DEVICES: set[torch.device] = set()  # map_location targets that accepted a tensor


_LITTLE_ENDIAN_HOST = sys.byteorder == "little"


def _check_target(version: str, format: str) -> None:
    _check_host()
    if version != "v1":
        raise SerializationError(f"unknown wire version {version!r}: only 'v1' is supported")
    if format != "binary":
        raise SerializationError(f"unknown wire format {format!r}: only 'binary' is supported")


def _check_host() -> None:
    if not _LITTLE_ENDIAN_HOST:  # pragma: no cover - no big-endian CI
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
    if version != "v1" or format != "binary" or not _LITTLE_ENDIAN_HOST:
        _check_target(version, format)
    plan, prepared = prepare_state(state, checksum)
    return encode_bytes(plan, prepared)


def serialized_size(state: State, *, checksum: bool = True) -> int:
    """Number of bytes `serialize_state` would produce for ``state``."""
    return prepare_state(state, checksum)[0].total


def stream_state(
    state: State, send: Callable[[list[memoryview]], None], *, checksum: bool = True
) -> tuple[int, int | None]:
    """Hand ``state``'s envelope to ``send`` in order, in batches of buffers.

    The buffers view the state's own tensor memory (no copy is made) and are valid
    only during the call to ``send``; the checksum is computed as they go by.
    Used by the streaming and shared-memory writers.

    Returns:
        The envelope size and its checksum (None without one).
    """
    _check_host()
    plan, prepared = prepare_state(state, checksum)
    digest = encode_stream(plan, prepared, send)
    return plan.total, digest


def serialize_into(state: State, buffer: Buffer, offset: int = 0, *, checksum: bool = True) -> int:
    """Write ``state``'s envelope into a writable buffer at ``offset``, without a temporary.

    Returns:
        The number of bytes written.

    Raises:
        SerializationError: the buffer is read-only or too small, or the state cannot be
            encoded.
    """
    _check_host()
    plan, prepared = prepare_state(state, checksum)
    total = plan.total
    view = as_byte_view(buffer)
    if view.readonly:
        raise SerializationError("serialize_into needs a writable buffer; got a read-only one")
    if offset < 0 or view.nbytes - offset < total:
        raise SerializationError(
            f"buffer has {view.nbytes - offset} bytes from offset {offset}; "
            f"the envelope needs {total}"
        )
    target = view[offset : offset + total]
    address = ctypes.addressof(ctypes.c_char.from_buffer(target))
    encode_into(plan, prepared, address, target)
    return total


def envelope_length(preamble: Buffer) -> int:
    """Total envelope size announced by its first 24 bytes (for framing on streams).

    Raises:
        SerializationError: the preamble is invalid.
    """
    view = as_byte_view(preamble)
    pre = read_preamble(view[: PREAMBLE.size], min(view.nbytes, PREAMBLE.size))
    return pre.total


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
    verify: bool | None = None,
    map_location: torch.device | str | None = None,
) -> State:
    """Decode one envelope; tensors are views of a writable ``payload`` unless ``copy``.

    Structure and bounds are always checked. What ``verify`` adds (the checksum,
    zero padding and bool bytes) guards against accidental corruption only.

    Args:
        payload: the envelope, exactly (bytes, bytearray, memoryview, mmap, ...).
        copy: copy the tensor data even when views would be possible.
        verify: ``None`` (the default) verifies when the data is copied — immutable
            input or ``copy=True``, where the hash rides the copy — and not for
            zero-copy views of a writable buffer, which stay O(1) in the state size.
            ``True`` or ``False`` decides explicitly.
        map_location: device to move the tensors to.

    Raises:
        SerializationError: the bytes are not a valid envelope, or ``map_location`` is
            not a device of this machine that can hold data; the message says why.
    """
    device = None if map_location is None else _target_device(map_location)
    view = as_byte_view(payload)
    opened, meta = open_envelope(view)
    if copy or view.readonly:
        if verify is None:
            verify = True
        tensors = build_tensors(copy_data(view, opened, verify), 0, opened)
    else:
        if verify:
            verify_in_place(view, opened)
        tensors = build_tensors(view, opened.pre.data_start, opened)
    if verify and opened.layout.has_bool:
        check_bools(tensors)
    if device is not None:
        tensors = _move(tensors, device)
    return State(tensors, meta)
