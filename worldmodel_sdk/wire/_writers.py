"""Owner-side writable mappings of segments that are published into again.

A fresh segment costs the kernel a zero-filled page for every 4 KiB, and freeing
those pages again on unlink. Publishing into a segment that already exists skips
both: its pages stay allocated, and after the first reuse they stay mapped in the
owner, so a publish is one copy of the state (with its hash fused in).

A writer is made on the first reuse of a segment and kept until the segment is
unlinked (or the process exits). It maps the segment shared and writable; growing
it for a larger state extends the segment (attachers' mappings of the old size
stay valid) and remaps.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from dataclasses import dataclass

from ._segments import open_segment_for_writing

__all__ = ["Writer", "release_all", "release_writer", "writer_for"]


@dataclass(slots=True)
class Writer:
    """A writable shared mapping of one segment, with its address and a byte view."""

    mapping: mmap.mmap
    window: ctypes.Array[ctypes.c_char]  # pins the mapping while the address is used
    address: int
    view: memoryview
    size: int

    def release(self) -> None:
        """Unmap (the segment itself is untouched)."""
        self.view.release()
        del self.window
        self.mapping.close()


_WRITERS: dict[str, tuple[int, Writer]] = {}  # segment name -> (creator pid, writer)


def writer_for(name: str, size: int) -> Writer:
    """A writable mapping of at least ``size`` bytes of segment ``name`` (made or grown).

    Raises:
        SerializationError: the segment no longer exists.
    """
    pid = os.getpid()
    entry = _WRITERS.get(name)
    if entry is not None and entry[0] == pid and entry[1].size >= size:
        return entry[1]
    release_writer(name)
    mapping = open_segment_for_writing(name, size)
    try:
        window = (ctypes.c_char * len(mapping)).from_buffer(mapping)
    except BaseException:
        mapping.close()
        raise
    writer = Writer(mapping, window, ctypes.addressof(window), memoryview(mapping), len(mapping))
    _WRITERS[name] = (pid, writer)
    return writer


def release_writer(name: str) -> None:
    """Unmap the writer of segment ``name``, if this process holds one."""
    entry = _WRITERS.pop(name, None)
    if entry is None:
        return
    if entry[0] == os.getpid():  # one inherited over fork is the parent's to release
        entry[1].release()


def release_all() -> None:
    """Unmap every writer of this process (at exit)."""
    for name in list(_WRITERS):
        release_writer(name)
