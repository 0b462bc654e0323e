"""Reading untrusted files: regular files only, never more bytes than they recorded.

A path that names a FIFO would block ``open`` forever, and a symlink to ``/dev/zero``
would feed a reader without end. `read_regular` looks at what a path names before
opening it (following symlinks, as any reader would), refuses everything that is not
a regular file, opens without blocking, checks that the opened file is the one it
looked at, and reads at most the size the file recorded at that moment (and at most
``max_bytes``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import SerializationError

__all__ = ["describe_mode", "read_regular", "require_regular"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def describe_mode(mode: int) -> str:
    """What kind of file ``mode`` (an ``st_mode``) describes, e.g. ``"a FIFO"``."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "an unknown kind of file"


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise SerializationError(
            f"{path} is {describe_mode(mode)}, not a regular file; refusing to read it"
        )


def require_regular(path: Path) -> None:
    """Refuse a path that names (or links to) anything but a regular file, without opening it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        SerializationError: ``path`` is a directory, FIFO, device or socket.
    """
    _check_regular(path, os.stat(path).st_mode)


def read_regular(path: Path, *, max_bytes: int, hint: str = "raise max_bytes to read it") -> bytes:
    """All bytes of the regular file ``path``, which must hold at most ``max_bytes``.

    ``hint`` ends the message for a file over the cap.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        SerializationError: ``path`` is not a regular file (a directory, FIFO, device,
            socket, or a symlink to one), is larger than ``max_bytes``, or changed while
            it was read.
        OSError: the file cannot be opened or read.
    """
    before = os.stat(path)
    _check_regular(path, before.st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        _check_regular(path, opened.st_mode)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise SerializationError(f"{path} was replaced while being opened; try again")
        size = opened.st_size
        if size > max_bytes:
            raise SerializationError(f"{path}: file is larger than {max_bytes} bytes; {hint}")
        return _read_exactly(fd, size, path)
    finally:
        os.close(fd)


def _read_exactly(fd: int, size: int, path: Path) -> bytes:
    # One read returns the whole file unless it is past Linux's ~2 GiB per-call limit.
    chunks = [os.read(fd, size)]
    done = len(chunks[0])
    while done < size:
        chunk = os.read(fd, size - done)
        if not chunk:
            raise SerializationError(
                f"{path} shrank while being read: {done} of the {size} bytes it recorded"
            )
        chunks.append(chunk)
        done += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
