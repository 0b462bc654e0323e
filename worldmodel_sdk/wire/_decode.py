"""Decoding side of the envelope: structure checks (cached), verification, tensor views.

`open_envelope` checks the preamble, the header and every bound: always, whatever
the caller asks to verify. A header already seen is not parsed again: the preamble
and header bytes are the cache key, and everything cached (offsets, dtypes, shapes,
how to build each view) is a pure function of them. The checks that depend on the
buffer itself (its size) run on every call.

Verification (the checksum, zero padding, bool bytes) guards against accidental
corruption; memory safety never depends on it. When the data is copied anyway,
the hash rides the copy: each chunk is hashed right after it lands, from cache.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xxhash

from .._dtypes import NUMPY
from ..errors import SerializationError
from ._dtypes import DTYPE_BY_NAME
from ._encode import CACHE_LIMIT, CHECKSUM, CHUNK, PADS
from ._layout import PREAMBLE, Layout, Preamble, open_layout

__all__ = [
    "Opened",
    "build_tensors",
    "check_bools",
    "copy_data",
    "open_envelope",
    "verify_in_place",
]

_HEADER_LENGTH = struct.Struct("<I")
_CACHED_HEADER_BYTES = 4096  # longer headers are parsed on every read, never cached
_META_OPENING = '{"meta":'
_DECODER = json.JSONDecoder()
_OPENED: dict[bytes, Opened] = {}
_HASH = xxhash.xxh3_64_intdigest


@dataclass(frozen=True, slots=True)
class Opened:
    """What an envelope's preamble and header imply, ready to build tensors from."""

    pre: Preamble
    layout: Layout
    recipe: tuple[tuple[str, np.dtype[Any] | None, torch.dtype, int, int, tuple[int, ...]], ...]
    """Per tensor: name, numpy dtype (None if numpy lacks it), dtype, count, offset, shape."""
    runs: tuple[tuple[int, int], ...]
    """(envelope offset, size) of every run of padding, header padding first."""


def _torch_dtype(name: str, tensor: str) -> torch.dtype:
    dtype = DTYPE_BY_NAME.get(name)
    if dtype is None:  # a wire dtype this torch build lacks
        raise SerializationError(f"unknown dtype {name!r} for tensor {tensor!r}")
    return dtype


def _open(pre: Preamble, layout: Layout) -> Opened:
    dtypes = [_torch_dtype(e.dtype_name, e.name) for e in layout.entries]
    recipe = tuple(
        (e.name, NUMPY.get(dtype), dtype, e.numel if e.length else 0, e.offset, e.shape)
        for e, dtype in zip(layout.entries, dtypes, strict=True)
    )
    header_end = PREAMBLE.size + pre.header_length
    runs = [(header_end, pre.data_start - header_end)]
    runs += [(pre.data_start + at, n) for at, n in layout.pads]
    return Opened(pre, layout, recipe, tuple((at, n) for at, n in runs if n))


def open_envelope(view: memoryview) -> tuple[Opened, dict[str, Any] | None]:
    """Check an envelope's structure and bounds; return its layout and fresh metadata.

    Raises:
        SerializationError: naming the first problem found.
    """
    size = view.nbytes
    if size >= PREAMBLE.size:
        header_end = PREAMBLE.size + _HEADER_LENGTH.unpack_from(view, 12)[0]
        if header_end <= size and header_end - PREAMBLE.size <= _CACHED_HEADER_BYTES:
            key = bytes(view[:header_end])
            opened = _OPENED.get(key)
            if opened is not None and opened.pre.total == size:
                return opened, _meta_of(key, opened.layout)
    return _open_uncached(view, size)


def _meta_of(key: bytes, layout: Layout) -> dict[str, Any] | None:
    """The metadata of an already validated header, parsed afresh (callers may mutate it)."""
    if not layout.has_meta:
        return None
    header = key[PREAMBLE.size :].decode()
    if header.startswith(_META_OPENING):  # canonical: parse only the meta object
        try:
            meta: dict[str, Any] = _DECODER.raw_decode(header, len(_META_OPENING))[0]
            return meta
        except ValueError:
            pass  # valid but not canonical (say, a space after the colon)
    parsed: dict[str, Any] = json.loads(header)["meta"]
    return parsed


def _open_uncached(view: memoryview, size: int) -> tuple[Opened, dict[str, Any] | None]:
    pre, layout, meta = open_layout(view)
    opened = _open(pre, layout)
    if pre.header_length <= _CACHED_HEADER_BYTES:  # only small headers: one extra copy
        if len(_OPENED) >= CACHE_LIMIT:
            _OPENED.clear()
        _OPENED[bytes(view[: PREAMBLE.size + pre.header_length])] = opened
    return opened, meta


def _check_digest(view: memoryview, pre: Preamble, computed: int) -> None:
    (stored,) = CHECKSUM.unpack_from(view, pre.data_end)
    if stored != computed:
        raise SerializationError(
            f"checksum mismatch: stored 0x{stored:016x}, computed 0x{computed:016x} "
            f"over bytes [0, {pre.data_end})"
        )


def _check_padding(view: memoryview, opened: Opened) -> None:
    for at, n in opened.runs:
        if view[at : at + n] != PADS[n]:
            run = bytes(view[at : at + n])
            first = n - len(run.lstrip(b"\0"))
            raise SerializationError(
                f"padding byte at offset {at + first} is 0x{run[first]:02x}; padding must be zero"
            )


def verify_in_place(view: memoryview, opened: Opened) -> None:
    """Check the checksum (reading the whole envelope) and the zero padding."""
    pre = opened.pre
    if pre.has_checksum:
        _check_digest(view, pre, _HASH(view[: pre.data_end]))
    _check_padding(view, opened)


def copy_data(view: memoryview, opened: Opened, verify: bool) -> memoryview:
    """Copy the data section into a private buffer, hashing each chunk as it lands.

    Returns:
        A writable byte view of the copy.

    Raises:
        SerializationError: ``verify`` and the checksum or padding is wrong.
    """
    pre = opened.pre
    start, length = pre.data_start, pre.data_length
    if length <= CHUNK:  # small: copy, then hash the bytes the copy just read
        copy = memoryview(bytearray(view[start : start + length]))
        if verify and pre.has_checksum:
            _check_digest(view, pre, _HASH(view[: pre.data_end]))
    else:
        copy = np.empty(length, np.uint8).data
        if not (verify and pre.has_checksum):
            copy[:] = view[start : start + length]
        else:
            hasher = xxhash.xxh3_64(view[:start])
            update = hasher.update
            for at in range(0, length, CHUNK):
                stop = min(at + CHUNK, length)
                chunk = copy[at:stop]
                chunk[:] = view[start + at : start + stop]
                update(chunk)
            _check_digest(view, pre, hasher.intdigest())
    if verify:
        _check_padding(view, opened)
    return copy


def build_tensors(base: memoryview, origin: int, opened: Opened) -> dict[str, torch.Tensor]:
    """Tensors viewing ``base``, whose data section starts at ``origin``."""
    tensors: dict[str, torch.Tensor] = {}
    for name, np_dtype, dtype, count, offset, shape in opened.recipe:
        if not count:
            t = torch.empty(0, dtype=torch.uint8).view(dtype).reshape(shape)
        elif np_dtype is not None:
            # The quickest zero-copy route. np.frombuffer keeps a memoryview (hence a
            # buffer export) alive, so the buffer can be neither resized nor unmapped
            # while the tensor lives; np.ndarray(buffer=...) would not guarantee that.
            array = np.frombuffer(base, np_dtype, count, origin + offset)
            t = torch.from_numpy(array if len(shape) == 1 else array.reshape(shape))
        else:
            t = torch.frombuffer(base, dtype=dtype, count=count, offset=origin + offset)
            if len(shape) != 1:
                t = t.view(shape)
        tensors[name] = t
    return tensors


def check_bools(tensors: dict[str, torch.Tensor]) -> None:
    """Every byte of every bool tensor must be 0 or 1."""
    for name, t in tensors.items():
        if t.dtype is torch.bool and t.numel():
            bad = t.view(torch.uint8) > 1
            if bool(bad.any()):
                index = int(bad.reshape(-1).nonzero()[0])
                raise SerializationError(
                    f"tensor {name!r} (bool) holds a byte other than 0 or 1 at element {index}"
                )
