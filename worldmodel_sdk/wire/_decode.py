"""Decoding side of the envelope: structure checks (cached), verification, tensor views.

`open_envelope` checks the preamble, the header and every bound: always, whatever
the caller asks to verify. A header already seen is not parsed again: the bytes
before the data section (preamble, header and its padding) are the cache key, and
everything cached (offsets, dtypes, shapes, how to build each view, whether the
header padding is zero) is a pure function of them. The checks that depend on the
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
from ._layout import PREAMBLE, Layout, Preamble, align, open_layout

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
_frombuffer = np.frombuffer
_RECORD_LIMIT = 1 << 31
"""Data sections from this size on get no record: NumPy sizes a structured dtype and
each of its fields with a C int."""
_from_numpy = torch.from_numpy


@dataclass(frozen=True, slots=True)
class Opened:
    """What an envelope's preamble and header imply, ready to build tensors from."""

    pre: Preamble
    layout: Layout
    recipe: tuple[tuple[str, str | None, torch.dtype, int, int, tuple[int, ...]], ...]
    """Per tensor: name, its field in ``record`` (None if not there), dtype, count,
    offset, shape."""
    record: np.dtype[Any] | None
    """One structured NumPy dtype over the data section whose fields are the tensors
    NumPy can view (None for none, or for headers that are not cached): a single
    ``np.frombuffer`` then gives every such tensor as a field view."""
    fields: tuple[tuple[str, str], ...] | None
    """(name, field) of every tensor when all of them are fields of ``record``."""
    runs: tuple[tuple[int, int], ...]
    """(envelope offset, size) of every run of padding, header padding first."""


def _torch_dtype(name: str, tensor: str) -> torch.dtype:
    dtype = DTYPE_BY_NAME.get(name)
    if dtype is None:  # a wire dtype this torch build lacks
        raise SerializationError(f"unknown dtype {name!r} for tensor {tensor!r}")
    return dtype


def _open(pre: Preamble, layout: Layout, key: bytes | None) -> Opened:
    """What ``pre`` and ``layout`` imply.

    ``key`` is the envelope up to its data section when the result is cached under
    it: then its tensors get a record, and its header padding is known.
    """
    recipe = []
    fields: dict[str, tuple[np.dtype[Any], int]] = {}
    small = layout.data_length < _RECORD_LIMIT
    for e in layout.entries:
        dtype = _torch_dtype(e.dtype_name, e.name)
        np_dtype = NUMPY.get(dtype)
        field = None
        if key is not None and np_dtype is not None and e.length and small:
            field = f"f{len(fields)}"
            fields[field] = (np.dtype((np_dtype, e.shape)), e.offset)
        recipe.append((e.name, field, dtype, e.numel if e.length else 0, e.offset, e.shape))
    record = _record(fields, layout.data_length) if fields else None
    in_record = tuple((name, field) for name, field, *_ in recipe if field is not None)
    header_end = PREAMBLE.size + pre.header_length
    runs = [(header_end, pre.data_start - header_end)]
    if key is not None and not key[header_end:].strip(b"\0"):
        runs = []  # the header padding is part of the cache key, and it is zero
    runs += [(pre.data_start + at, n) for at, n in layout.pads]
    return Opened(
        pre,
        layout,
        tuple(recipe),
        record,
        in_record if record is not None and len(in_record) == len(recipe) else None,
        tuple((at, n) for at, n in runs if n),
    )


def _record(fields: dict[str, tuple[np.dtype[Any], int]], size: int) -> np.dtype[Any]:
    """A structured dtype of ``size`` bytes with these (dtype, offset) fields."""
    return np.dtype(
        {
            "names": list(fields),
            "formats": [f for f, _ in fields.values()],
            "offsets": [at for _, at in fields.values()],
            "itemsize": size,
        }
    )


def open_envelope(view: memoryview) -> tuple[Opened, dict[str, Any] | None]:
    """Check an envelope's structure and bounds; return its layout and fresh metadata.

    Raises:
        SerializationError: naming the first problem found.
    """
    size = view.nbytes
    if size >= PREAMBLE.size:
        header_length = _HEADER_LENGTH.unpack_from(view, 12)[0]
        data_start = align(PREAMBLE.size + header_length)
        if data_start <= size and header_length <= _CACHED_HEADER_BYTES:
            key = bytes(view[:data_start])
            opened = _OPENED.get(key)
            if opened is not None and opened.pre.total == size:
                return opened, _meta_of(key, opened) if opened.layout.has_meta else None
    return _open_uncached(view, size)


def _meta_of(key: bytes, opened: Opened) -> dict[str, Any]:
    """The metadata of an already validated header, parsed afresh (callers may mutate it)."""
    header = key[PREAMBLE.size : PREAMBLE.size + opened.pre.header_length].decode()
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
    if pre.header_length > _CACHED_HEADER_BYTES:  # only small headers: one extra copy
        return _open(pre, layout, None), meta
    key = bytes(view[: pre.data_start])
    opened = _open(pre, layout, key)
    if len(_OPENED) >= CACHE_LIMIT:
        _OPENED.clear()
    _OPENED[key] = opened
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


def copy_data(view: memoryview, opened: Opened, verify: bool) -> bytearray | memoryview:
    """Copy the data section into a private buffer, hashing each chunk as it lands.

    Returns:
        The copy (writable).

    Raises:
        SerializationError: ``verify`` and the checksum or padding is wrong.
    """
    pre = opened.pre
    start, length = pre.data_start, pre.data_length
    if length <= CHUNK:  # small: copy, then hash the bytes the copy just read
        copy: bytearray | memoryview = bytearray(view[start : start + length])
        if verify and pre.has_checksum:
            _check_digest(view, pre, _HASH(view[: pre.data_end]))
    else:
        copy = data = np.empty(length, np.uint8).data
        if not (verify and pre.has_checksum):
            data[:] = view[start : start + length]
        else:
            hasher = xxhash.xxh3_64(view[:start])
            update = hasher.update
            for at in range(0, length, CHUNK):
                stop = min(at + CHUNK, length)
                chunk = data[at:stop]
                chunk[:] = view[start + at : start + stop]
                update(chunk)
            _check_digest(view, pre, hasher.intdigest())
    if verify and opened.runs:
        _check_padding(view, opened)
    return copy


def build_tensors(
    base: bytearray | memoryview, origin: int, opened: Opened
) -> dict[str, torch.Tensor]:
    """Tensors viewing ``base``, whose data section starts at ``origin``."""
    # np.frombuffer keeps a memoryview (hence a buffer export) alive, so the buffer can
    # be neither resized nor unmapped while a tensor lives; np.ndarray(buffer=...)
    # would not guarantee that. Field views of the record keep it as their base.
    record = opened.record
    if record is None:
        return _build_each(base, origin, opened, None)
    fields = _frombuffer(base, record, 1, origin).reshape(())
    if opened.fields is None:
        return _build_each(base, origin, opened, fields)
    return {name: _from_numpy(fields[field]) for name, field in opened.fields}


def _build_each(
    base: bytearray | memoryview, origin: int, opened: Opened, fields: np.ndarray[Any, Any] | None
) -> dict[str, torch.Tensor]:
    """`build_tensors` one tensor at a time, for layouts not all in a record."""
    tensors: dict[str, torch.Tensor] = {}
    for name, field, dtype, count, offset, shape in opened.recipe:
        if field is not None and fields is not None:
            t = _from_numpy(fields[field])
        elif not count:
            t = torch.empty(0, dtype=torch.uint8).view(dtype).reshape(shape)
        else:
            np_dtype = NUMPY.get(dtype)
            if np_dtype is not None:  # the quickest zero-copy route without a record
                array = _frombuffer(base, np_dtype, count, origin + offset)
                t = _from_numpy(array if len(shape) == 1 else array.reshape(shape))
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
