"""Streaming envelopes: write to files and sockets, read back (files via mmap).

`write_state` hands each piece of the envelope (header, then every tensor's own
memory) straight to the sink: no intermediate copy of the payload is built.
`read_state` maps regular files copy-on-write, so tensors are zero-copy views of
the page cache; other sources (sockets, pipes, ``BytesIO``) are read into one
buffer that grows only as bytes actually arrive. Several envelopes may follow one
another in a file or on a socket: each call reads exactly one.
"""

from __future__ import annotations

import mmap
import os
import socket
import stat
from typing import IO, Any

import torch

from ..errors import SerializationError
from ..payloads.state import State
from ._layout import PREAMBLE, read_preamble
from .envelope import deserialize_state, stream_state, write_all

__all__ = ["read_state", "write_state"]

_CHUNK = 1 << 16  # first read size; the buffer then at most doubles per read


def write_state(state: State, sink: IO[bytes] | socket.socket, *, checksum: bool = True) -> int:
    """Write ``state`` as one envelope to a binary file object or a connected socket.

    Returns:
        The number of bytes written.
    """
    if isinstance(sink, socket.socket):
        sock = sink

        def send(batch: list[memoryview]) -> None:
            for piece in batch:
                sock.sendall(piece)

        return stream_state(state, send, checksum=checksum)[0]
    file = sink
    return stream_state(state, lambda batch: write_all(file, batch), checksum=checksum)[0]


def read_state(
    source: str | os.PathLike[str] | IO[bytes] | socket.socket,
    *,
    copy: bool = False,
    verify: bool = True,
    map_location: torch.device | str | None = None,
) -> State:
    """Read one envelope from a path, a binary file object or a connected socket.

    A path or a regular file is memory-mapped copy-on-write, so (unless ``copy``) the
    tensors are views of the file's pages: the file must not be truncated while they
    live. A file object is left positioned just after the envelope.

    Raises:
        SerializationError: the bytes are not a valid envelope, or the source ends early.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return read_state(fh, copy=copy, verify=verify, map_location=map_location)
    if isinstance(source, socket.socket):
        buffer = _read_stream(lambda view: source.recv_into(view))
    elif _is_regular_file(source):
        return _read_mapped(source, copy=copy, verify=verify, map_location=map_location)
    else:
        buffer = _read_stream(_stream_reader(source))
    return deserialize_state(buffer, copy=copy, verify=verify, map_location=map_location)


def _is_regular_file(source: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(source.fileno()).st_mode) and source.seekable()
    except (AttributeError, OSError, ValueError):
        return False


def _read_mapped(
    fh: IO[bytes], *, copy: bool, verify: bool, map_location: torch.device | str | None
) -> State:
    start = fh.tell()
    head = os.pread(fh.fileno(), PREAMBLE.size, start)
    size = os.fstat(fh.fileno()).st_size - start
    total = read_preamble(memoryview(head), len(head) if len(head) < PREAMBLE.size else size).total
    if size < total:
        raise SerializationError(f"truncated at offset {size}: the envelope needs {total} bytes")
    base = start - start % mmap.ALLOCATIONGRANULARITY
    mapping = mmap.mmap(fh.fileno(), start - base + total, access=mmap.ACCESS_COPY, offset=base)
    view = memoryview(mapping)[start - base : start - base + total]
    state = deserialize_state(view, copy=copy, verify=verify, map_location=map_location)
    fh.seek(start + total)
    return state


def _stream_reader(source: IO[bytes]) -> Any:
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return readinto

    def read(view: memoryview) -> int:
        data = source.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    return read


def _read_stream(read_into: Any) -> bytearray:
    """Read one envelope; the buffer grows only as fast as bytes arrive."""
    buffer = bytearray(PREAMBLE.size)
    _fill(read_into, buffer, 0, PREAMBLE.size)
    total = read_preamble(memoryview(buffer), PREAMBLE.size).total
    filled = PREAMBLE.size
    while filled < total:
        grow = min(total, max(2 * len(buffer), _CHUNK))
        buffer.extend(bytes(grow - len(buffer)))
        _fill(read_into, buffer, filled, len(buffer))
        filled = len(buffer)
    return buffer


def _fill(read_into: Any, buffer: bytearray, start: int, stop: int) -> None:
    with memoryview(buffer) as view:
        position = start
        while position < stop:
            n = read_into(view[position:stop])
            if not n:
                raise SerializationError(
                    f"truncated at offset {position}: the stream ended before byte {stop}"
                )
            position += n
