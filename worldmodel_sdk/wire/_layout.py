"""Byte layout of the version-1 envelope: constants, dtype names, header parsing.

This module is pure format logic: it knows nothing about files, sockets or
shared memory, nor about torch (``wmsdk inspect`` reads envelopes without it).
`open_layout` checks an envelope's preamble, sizes and header; `parse_header`
turns untrusted header bytes into a validated `Layout`; `plan_layout` does the
reverse for a writer. Every size is checked before it is used, and nothing here
allocates more than the header it reads.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from .._metadata import MAX_META_DEPTH, meta_problem
from ..errors import SerializationError
from ._magic import MAGIC

__all__ = [
    "ALIGNMENT",
    "CHECKSUM_BYTES",
    "FLAG_BIG_ENDIAN",
    "FLAG_CHECKSUM",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_CONTAINERS",
    "MAX_HEADER_ITEMS",
    "MAX_NDIM",
    "MAX_TENSORS",
    "PREAMBLE",
    "Layout",
    "Preamble",
    "TensorEntry",
    "WIRE_DTYPES",
    "align",
    "as_byte_view",
    "canonical_json",
    "check_header_budget",
    "check_meta_depth",
    "open_layout",
    "parse_header",
    "plan_layout",
    "read_preamble",
]

FORMAT_VERSION = 1
FLAG_BIG_ENDIAN = 0x0001
FLAG_CHECKSUM = 0x0002
KNOWN_FLAGS = FLAG_BIG_ENDIAN | FLAG_CHECKSUM

PREAMBLE = struct.Struct("<8sHHIQ")
"""magic, version (u16), flags (u16), header length (u32), data length (u64)."""

ALIGNMENT = 64
CHECKSUM_BYTES = 8
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_NDIM = 64
MAX_TENSORS = 16384
MAX_HEADER_CONTAINERS = 1 << 16
"""JSON arrays and objects a header may open (each ``[`` or ``{`` byte counts)."""
MAX_HEADER_ITEMS = 1 << 18
"""JSON values a header may list (each ``,`` byte counts)."""
_INT64_MAX = 2**63 - 1

# Canonical wire names of every fixed-size, byte-addressable torch dtype, with
# their sizes in bytes (a test pins both against torch). Sub-byte integer dtypes
# (int1..int7, uint1..uint7) and quantized dtypes are not representable: they have
# no byte layout of their own.
WIRE_DTYPES: dict[str, int] = {
    "bool": 1, "uint8": 1, "int8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
    "int64": 8, "uint64": 8, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
    "complex32": 4, "complex64": 8, "complex128": 16, "float8_e4m3fn": 1,
    "float8_e4m3fnuz": 1, "float8_e5m2": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1, "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1,
}  # fmt: skip
_ENTRY_KEYS = frozenset({"name", "dtype", "shape", "offset", "length"})


def align(n: int) -> int:
    """Round ``n`` up to the next multiple of `ALIGNMENT`."""
    return (n + ALIGNMENT - 1) & ~(ALIGNMENT - 1)


def canonical_json(value: Any) -> str:
    """Encode ``value`` as canonical JSON (sorted keys, no spaces, no NaN)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)  # fmt: skip


class Preamble:
    """The fixed 24 bytes that open an envelope, with the offsets they imply."""

    __slots__ = ("data_end", "data_length", "data_start", "flags", "has_checksum",
                 "header_length", "total", "version")  # fmt: skip

    def __init__(self, version: int, flags: int, header_length: int, data_length: int) -> None:
        self.version = version
        self.flags = flags
        self.header_length = header_length
        self.data_length = data_length
        self.has_checksum = bool(flags & FLAG_CHECKSUM)
        self.data_start = align(PREAMBLE.size + header_length)
        self.data_end = self.data_start + data_length
        self.total = self.data_end + (CHECKSUM_BYTES if self.has_checksum else 0)


def read_preamble(buf: memoryview, size: int) -> Preamble:
    """Decode and check the 24-byte preamble at the start of ``buf``.

    Args:
        buf: the envelope, or at least its first 24 bytes.
        size: how many bytes of ``buf`` are available.

    Raises:
        SerializationError: too few bytes, bad magic, unknown version or flags, or a
            header over the cap.
    """
    if size < PREAMBLE.size:
        raise SerializationError(
            f"truncated at offset {size}: the preamble needs {PREAMBLE.size} bytes"
        )
    magic, version, flags, header_length, data_length = PREAMBLE.unpack_from(buf, 0)
    if magic != MAGIC:
        raise SerializationError(f"bad magic: expected {MAGIC!r}, got {magic!r}")
    if version != FORMAT_VERSION:
        raise SerializationError(
            f"unknown version {version}: this reader supports version {FORMAT_VERSION}"
        )
    if flags & ~KNOWN_FLAGS:
        raise SerializationError(
            f"unknown flags 0x{flags:04x}: version 1 defines only 0x0001 (big-endian) "
            "and 0x0002 (checksum)"
        )
    if flags & FLAG_BIG_ENDIAN:
        raise SerializationError(
            "big-endian payloads are not supported: data must be little-endian"
        )
    if header_length > MAX_HEADER_BYTES:
        raise SerializationError(
            f"header too large: {header_length} bytes exceeds the cap of {MAX_HEADER_BYTES} bytes"
        )
    return Preamble(version, flags, header_length, data_length)


def open_layout(view: memoryview) -> tuple[Preamble, Layout, dict[str, Any] | None]:
    """Check an envelope's preamble, its size against the buffer's, and its header.

    Raises:
        SerializationError: naming the first problem found.
    """
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
    layout, meta = parse_header(bytes(view[PREAMBLE.size : header_end]), pre.data_length)
    return pre, layout, meta


def as_byte_view(payload: object) -> memoryview:
    """A flat byte view of any contiguous buffer, or a `SerializationError`."""
    if type(payload) is bytes or type(payload) is bytearray:
        return memoryview(payload)
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


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """One tensor of the header: where its bytes are and how to view them."""

    name: str
    dtype_name: str
    shape: tuple[int, ...]
    offset: int
    length: int

    @property
    def numel(self) -> int:
        """Number of elements (``length`` divided by the element size)."""
        return self.length // WIRE_DTYPES[self.dtype_name]

    def as_json(self) -> dict[str, Any]:
        """The entry as it appears in the header."""
        return {"name": self.name, "dtype": self.dtype_name, "shape": list(self.shape),
                "offset": self.offset, "length": self.length}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layout:
    """A validated header: tensor entries plus where padding lies in the data section."""

    entries: tuple[TensorEntry, ...]
    data_length: int
    has_meta: bool
    pads: tuple[tuple[int, int], ...]
    """(data offset, size) of every padding run, for the zero-padding check."""
    has_bool: bool
    """Whether any tensor is bool (whose bytes must be 0 or 1)."""


def plan_layout(specs: list[tuple[str, str, tuple[int, ...], int]]) -> Layout:
    """Lay out tensors given as (name, dtype name, shape, byte length), in order."""
    entries: list[TensorEntry] = []
    pads: list[tuple[int, int]] = []
    offset = 0
    for name, dtype_name, shape, length in specs:
        entries.append(TensorEntry(name, dtype_name, shape, offset, length))
        end = offset + length
        offset = align(end)
        if offset > end:
            pads.append((end, offset - end))
    has_bool = any(e.dtype_name == "bool" for e in entries)
    return Layout(tuple(entries), offset, False, tuple(pads), has_bool)


def parse_header(header: bytes, data_length: int) -> tuple[Layout, dict[str, Any] | None]:
    """Parse and validate untrusted header bytes against the data section size.

    Returns:
        The layout and the state's metadata (``None`` when absent).

    Raises:
        SerializationError: naming the first problem found.
    """
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationError(f"header is not valid UTF-8 at byte {exc.start}") from None
    check_header_budget(header)
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except SerializationError:
        raise
    except RecursionError:
        raise SerializationError("header JSON is nested too deeply") from None
    except ValueError as exc:
        raise SerializationError(f"header is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"meta", "tensors"}:
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise SerializationError(
            f"header must be an object with keys ['meta', 'tensors']; got {got}"
        )
    meta, tensors = doc["meta"], doc["tensors"]
    if meta is not None and not isinstance(meta, dict):
        raise SerializationError(
            f"header 'meta' must be an object or null; got {type(meta).__name__}"
        )
    if not isinstance(tensors, list):
        raise SerializationError(f"header 'tensors' must be a list; got {type(tensors).__name__}")
    _check_round_trip(meta, tensors)
    entries = tuple(_parse_entry(i, item) for i, item in enumerate(tensors))
    pads = _check_placement(entries, data_length)
    has_bool = any(e.dtype_name == "bool" for e in entries)
    return Layout(entries, data_length, meta is not None, pads, has_bool), meta


def check_header_budget(header: bytes) -> None:
    """Bound the objects JSON decoding may create, in proportion to nothing but caps.

    Counting delimiter bytes (inside strings too, so the count is an upper bound)
    costs a few fast passes over the header and caps the arrays, objects and values
    the decoder can allocate, however the header's bytes are spent.

    Raises:
        SerializationError: the header holds more than `MAX_HEADER_CONTAINERS` ``[``
            and ``{`` bytes or more than `MAX_HEADER_ITEMS` ``,`` bytes.
    """
    containers = header.count(b"[") + header.count(b"{")
    if containers > MAX_HEADER_CONTAINERS:
        raise SerializationError(
            f"header opens {containers} JSON arrays or objects; at most "
            f"{MAX_HEADER_CONTAINERS} are allowed"
        )
    items = header.count(b",")
    if items > MAX_HEADER_ITEMS:
        raise SerializationError(
            f"header lists {items} JSON values; at most {MAX_HEADER_ITEMS} are allowed"
        )


def check_meta_depth(meta: object, text: str | None = None) -> None:
    """Refuse to encode metadata that a reader would refuse (see `meta_problem`).

    ``text`` is the metadata's JSON, if it could be made: only when it opens more
    containers than the depth limit can the metadata be too deep, so small metadata
    costs two counts.
    """
    if text is None or text.count("[") + text.count("{") > MAX_META_DEPTH:
        problem = meta_problem(meta)
        if problem is not None:
            raise SerializationError(f"State.meta cannot be encoded: {problem}")


def _check_round_trip(meta: dict[str, Any] | None, tensors: list[Any]) -> None:
    if len(tensors) > MAX_TENSORS:
        raise SerializationError(
            f"header lists {len(tensors)} tensors; at most {MAX_TENSORS} are allowed"
        )
    for index, item in enumerate(tensors):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and meta_problem(name) is not None:
            raise SerializationError(
                f"tensor entry {index} has name {ascii(name)}, which holds a lone surrogate "
                "(not UTF-8)"
            )
    problem = None if meta is None else meta_problem(meta)
    if problem is not None:
        raise SerializationError(f"header {problem}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SerializationError(
            f"header holds the number {text[:40]}, which is out of float64 range"
        )
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise SerializationError(f"header repeats the key {dup!r} in one object")
    return out


def _no_constant(name: str) -> None:
    raise SerializationError(f"header holds {name}, which canonical JSON does not allow")


def _is_int(value: object) -> bool:
    return type(value) is int


def _parse_entry(index: int, item: object) -> TensorEntry:
    if not isinstance(item, dict) or set(item) != _ENTRY_KEYS:
        got = sorted(item) if isinstance(item, dict) else type(item).__name__
        raise SerializationError(
            f"tensor entry {index} must have keys {sorted(_ENTRY_KEYS)}; got {got}"
        )
    name, dtype_name, shape = item["name"], item["dtype"], item["shape"]
    offset, length = item["offset"], item["length"]
    if not isinstance(name, str) or not name:
        raise SerializationError(
            f"tensor entry {index} has name {name!r}; expected a non-empty str"
        )
    if not isinstance(dtype_name, str) or dtype_name not in WIRE_DTYPES:
        raise SerializationError(f"unknown dtype {dtype_name!r} for tensor {name!r}")
    if not _is_int(offset) or not _is_int(length) or offset < 0 or length < 0:
        raise SerializationError(
            f"tensor {name!r} has offset {offset!r} and length {length!r}; "
            "expected non-negative integers"
        )
    dims = _parse_shape(name, shape)
    numel = 1
    for d in dims:
        numel *= d
    expected = numel * WIRE_DTYPES[dtype_name]
    if expected != length:
        raise SerializationError(
            f"tensor {name!r}: shape {list(dims)} of {dtype_name} needs {expected} bytes "
            f"but length is {length}"
        )
    return TensorEntry(name, dtype_name, dims, offset, length)


def _parse_shape(name: str, shape: object) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise SerializationError(
            f"tensor {name!r} has shape {shape!r}; expected a list of non-negative integers"
        )
    if len(shape) > MAX_NDIM:
        raise SerializationError(
            f"tensor {name!r} has {len(shape)} dimensions; at most {MAX_NDIM} are allowed"
        )
    span = 1  # product of the non-zero sizes: bounds every stride torch computes
    for d in shape:
        span *= max(d, 1)
    if span > _INT64_MAX:
        raise SerializationError(
            f"tensor {name!r} has shape {shape!r}, too large for int64 strides"
        )
    return tuple(shape)


def _check_placement(
    entries: tuple[TensorEntry, ...], data_length: int
) -> tuple[tuple[int, int], ...]:
    names: set[str] = set()
    pads: list[tuple[int, int]] = []
    end, prev = 0, None
    for e in entries:
        if e.name in names:
            raise SerializationError(f"tensor {e.name!r} appears twice in the header")
        names.add(e.name)
        if e.offset % ALIGNMENT:
            raise SerializationError(
                f"tensor {e.name!r} offset {e.offset} is not {ALIGNMENT}-byte aligned"
            )
        if e.offset < end:
            raise SerializationError(
                f"tensor {e.name!r} at data offset {e.offset} overlaps tensor {prev!r} "
                f"ending at {end}"
            )
        if e.offset + e.length > data_length:
            raise SerializationError(
                f"tensor {e.name!r} spans data bytes [{e.offset}, {e.offset + e.length}), "
                f"out of bounds of the {data_length}-byte data section"
            )
        if e.offset > align(end):
            raise SerializationError(
                f"{e.offset - align(end)} unaccounted bytes before tensor {e.name!r} "
                f"at data offset {e.offset}"
            )
        if e.offset > end:
            pads.append((end, e.offset - end))
        end, prev = e.offset + e.length, e.name
    if data_length > align(end):
        raise SerializationError(
            f"{data_length - align(end)} unaccounted bytes after the last tensor "
            f"(the data section must end at offset {align(end)}, got {data_length})"
        )
    if data_length < align(end):
        raise SerializationError(
            f"data section has {data_length} bytes; the tensors end at {end}, so it must be "
            f"padded to {align(end)}"
        )
    if data_length > end:
        pads.append((end, data_length - end))
    return tuple(pads)
