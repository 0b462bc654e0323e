"""Builders for hand-made (often hostile) envelopes and bitwise tensor comparison."""

from __future__ import annotations

import json
import struct
from typing import Any

import torch
import xxhash

from worldmodel_sdk.wire._layout import FLAG_CHECKSUM, MAGIC, PREAMBLE, align

PRE = PREAMBLE.size


def raw_envelope(
    header: bytes | dict[str, Any],
    data: bytes = b"",
    *,
    magic: bytes = MAGIC,
    version: int = 1,
    flags: int = FLAG_CHECKSUM,
    header_length: int | None = None,
    data_length: int | None = None,
    pad: bytes | None = None,
    checksum: int | None = None,
) -> bytearray:
    """An envelope with every field under the caller's control (valid checksum by default)."""
    if isinstance(header, dict):
        header = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h_len = len(header) if header_length is None else header_length
    d_len = len(data) if data_length is None else data_length
    if pad is None:
        pad = bytes(align(PRE + len(header)) - PRE - len(header))
    body = bytearray(PREAMBLE.pack(magic, version, flags, h_len, d_len) + header + pad + data)
    if flags & FLAG_CHECKSUM:
        value = xxhash.xxh3_64_intdigest(bytes(body)) if checksum is None else checksum
        body += struct.pack("<Q", value)
    return body


def entry(name: str, dtype: str, shape: list[int], offset: int, length: int) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape, "offset": offset, "length": length}


def header(*entries: dict[str, Any], meta: Any = None) -> dict[str, Any]:
    return {"meta": meta, "tensors": list(entries)}


def bits(t: torch.Tensor) -> bytes:
    """The tensor's bytes, for bitwise comparison of any dtype (NaNs, float8, ...)."""
    t = t.detach().cpu().contiguous()
    if t.numel() == 0:
        return b""
    return bytes(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert tuple(a.shape) == tuple(b.shape), (a.shape, b.shape)
    assert bits(a) == bits(b)
