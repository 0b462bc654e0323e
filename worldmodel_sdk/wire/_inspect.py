"""Describe an envelope without decoding it, and without torch (``wmsdk inspect``).

Inspection checks the same structure and bounds as decoding (`open_layout`) and,
unless told not to, hashes the envelope to report whether its checksum matches.
It imports neither torch nor NumPy, so the command answers in a fraction of a
second.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from .._files import require_regular
from ..errors import SerializationError
from ._layout import PREAMBLE, TensorEntry, as_byte_view, open_layout

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["EnvelopeInfo", "inspect_envelope", "inspect_file"]

_CHECKSUM = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class EnvelopeInfo:
    """What an envelope's preamble and header say, without touching tensor data."""

    version: int
    flags: int
    header_length: int
    data_length: int
    total: int
    tensors: tuple[TensorEntry, ...]
    meta: dict[str, Any] | None
    checksum: str
    """``"ok"``, ``"mismatch"``, ``"absent"`` or ``"not checked"``."""


def inspect_envelope(payload: Buffer, *, verify: bool = True) -> EnvelopeInfo:
    """Describe an envelope; ``verify`` also hashes it to report the checksum status.

    Raises:
        SerializationError: the structure is invalid (a checksum mismatch is reported,
            not raised).
    """
    view = as_byte_view(payload)
    pre, layout, meta = open_layout(view)
    status = "not checked"
    if not pre.has_checksum:
        status = "absent"
    elif verify:
        (stored,) = _CHECKSUM.unpack_from(view, pre.data_end)
        computed = xxhash.xxh3_64_intdigest(view[: pre.data_end])
        status = "ok" if stored == computed else "mismatch"
    return EnvelopeInfo(
        pre.version, pre.flags, pre.header_length, pre.data_length, pre.total,
        layout.entries, meta, status,
    )  # fmt: skip


def inspect_file(path: str | os.PathLike[str], *, verify: bool = True) -> EnvelopeInfo:
    """`inspect_envelope` on a file, mapped read-only (tensor bytes are not loaded).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        PermissionError: ``path`` cannot be read.
        SerializationError: ``path`` is not a regular file or holds no valid envelope.
    """
    require_regular(Path(path))  # a FIFO would block the open, a device never end
    with open(Path(path), "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise SerializationError(
                f"truncated at offset 0: the preamble needs {PREAMBLE.size} bytes"
            )
        # Not closed explicitly: a traceback may still reference a view of it.
        mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return inspect_envelope(mapping, verify=verify)
