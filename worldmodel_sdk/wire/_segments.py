"""POSIX shared-memory segments: naming, create/open/unlink, and orphan discovery.

Segments are opened with ``_posixshmem`` (the module `multiprocessing.shared_memory`
itself uses) and mapped with `mmap` directly, not through
`multiprocessing.shared_memory.SharedMemory`. On Python < 3.13 that class registers
every segment it opens — attachers included — with the multiprocessing resource
tracker, which then warns about "leaked" segments and unlinks them when the
*attaching* process exits, and it needs a tracker process per interpreter. Owning
the two system calls ourselves means attachers never touch the tracker, owners
choose how to write (one ``writev`` instead of page-faulting a fresh mapping), and
attachers can map privately (copy-on-write). Orphans are handled by name instead:
every segment is named ``<namespace>.<owner pid>.<8 hex digits>``, so ``wmsdk shm
gc`` can find segments whose owner process is gone.
"""

from __future__ import annotations

import errno
import importlib
import mmap
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import describe_mode
from ..errors import SerializationError
from ._magic import MAGIC

try:
    _posixshmem: Any = importlib.import_module("_posixshmem")
except ImportError:  # pragma: no cover - Windows
    _posixshmem = None

__all__ = [
    "SEGMENT_NAME",
    "SHM_DIR",
    "SegmentInfo",
    "create_segment",
    "list_segments",
    "make_name",
    "open_segment",
    "open_segment_for_writing",
    "pid_alive",
    "unlink_segment",
]

NAMESPACE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEGMENT_NAME = re.compile(r"(?P<namespace>[A-Za-z0-9_-]{1,64})\.(?P<pid>[0-9]{1,10})\.[0-9a-f]{8}")
SHM_DIR = Path("/dev/shm")
_CREATE_ATTEMPTS = 16


def _require_posix() -> None:
    if _posixshmem is None:  # pragma: no cover - Windows
        raise OSError("shared-memory states need POSIX shared memory (Linux or macOS)")


def make_name(namespace: str) -> str:
    """A fresh segment name ``<namespace>.<pid>.<8 hex digits>``.

    Raises:
        ValueError: ``namespace`` is not 1-64 characters of ``[A-Za-z0-9_-]``.
    """
    if not isinstance(namespace, str) or not NAMESPACE.fullmatch(namespace):
        raise ValueError(f"namespace must be 1-64 characters of [A-Za-z0-9_-]; got {namespace!r}")
    return f"{namespace}.{os.getpid()}.{secrets.token_hex(4)}"


def create_segment(namespace: str, size: int) -> tuple[str, int]:
    """Create a new segment of ``size`` bytes, readable and writable by this user only.

    Returns:
        The segment name and an open file descriptor the caller must close.
    """
    _require_posix()
    for _ in range(_CREATE_ATTEMPTS):
        name = make_name(namespace)
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        except FileExistsError:
            continue
        try:
            os.ftruncate(fd, size)
        except BaseException:
            os.close(fd)
            _posixshmem.shm_unlink("/" + name)
            raise
        return name, fd
    raise FileExistsError(errno.EEXIST, "no free shared-memory segment name", namespace)


def _open_regular(name: str) -> tuple[int, int]:
    """Open segment ``name`` read-only; refuse anything but a regular file, never block.

    Returns:
        The file descriptor (the caller closes it) and the segment's size.

    ``O_NONBLOCK`` keeps a FIFO planted under a segment name from blocking the open;
    ``shm_open`` itself adds ``O_NOFOLLOW``, so a symlink fails with ``ELOOP``.
    """
    try:
        fd: int = _posixshmem.shm_open("/" + name, os.O_RDONLY | os.O_NONBLOCK, mode=0o600)
    except FileNotFoundError:
        raise SerializationError(
            f"shared-memory segment {name!r} does not exist (unlinked, or its owner exited)"
        ) from None
    except OSError as exc:
        kind = "a symbolic link" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
        raise SerializationError(
            f"shared-memory segment {name!r} is {kind}, not a regular file; refusing to map it"
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SerializationError(
            f"shared-memory segment {name!r} is {describe_mode(info.st_mode)}, not a regular "
            "file; refusing to map it"
        )
    return fd, info.st_size


def _check_name(name: str, action: str) -> None:
    if not isinstance(name, str) or not SEGMENT_NAME.fullmatch(name):
        raise SerializationError(
            f"{name!r} is not a state segment name (<namespace>.<pid>.<hex>); "
            f"refusing to {action} it"
        )


def open_segment(name: str, size: int) -> mmap.mmap:
    """Map an existing segment privately (copy-on-write) for reading ``size`` bytes.

    Raises:
        SerializationError: the name is malformed, the segment is missing or smaller
            than ``size``.
    """
    _require_posix()
    _check_name(name, "map")
    fd, actual = _open_regular(name)
    try:
        if actual < size or size <= 0:
            raise SerializationError(
                f"shared-memory segment {name!r} has {actual} bytes; the descriptor says {size}"
            )
        return mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)


def open_segment_for_writing(name: str, size: int) -> mmap.mmap:
    """Map an existing segment shared and writable, growing it to ``size`` bytes if smaller.

    Raises:
        SerializationError: the segment does not exist.
    """
    _require_posix()
    try:
        fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
    except FileNotFoundError:
        raise SerializationError(
            f"shared-memory segment {name!r} does not exist (unlinked?)"
        ) from None
    try:
        actual = os.fstat(fd).st_size
        if actual < size:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, max(actual, size))
    finally:
        os.close(fd)


def unlink_segment(name: str, *, missing_ok: bool = False) -> bool:
    """Remove a segment's name; mappings stay valid until unmapped.

    Returns:
        Whether a segment was removed.

    Raises:
        SerializationError: ``name`` is not a state segment name: nothing else is removed.
    """
    _require_posix()
    _check_name(name, "unlink")
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        if missing_ok:
            return False
        raise
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (in this pid namespace)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A state segment found in ``/dev/shm``."""

    name: str
    namespace: str
    owner_pid: int
    size: int
    owner_alive: bool
    is_envelope: bool


def _read_head(path: Path, count: int) -> tuple[int, bytes] | None:
    """Size and first bytes of a regular file, or None for anything else (never blocks)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return info.st_size, os.read(fd, count)
    except OSError:
        return None
    finally:
        os.close(fd)


def list_segments(namespace: str | None = None, directory: Path = SHM_DIR) -> list[SegmentInfo]:
    """State segments in ``directory`` (Linux's ``/dev/shm``), optionally of one namespace.

    Only regular files named like segments are listed; FIFOs, directories, symlinks and
    devices under such names are skipped without being opened.
    """
    found = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    for name in names:
        match = SEGMENT_NAME.fullmatch(name)
        if match is None or (namespace is not None and match["namespace"] != namespace):
            continue
        read = _read_head(directory / name, len(MAGIC))
        if read is None:
            continue
        pid = int(match["pid"])
        found.append(
            SegmentInfo(name, match["namespace"], pid, read[0], pid_alive(pid), read[1] == MAGIC)
        )
    return found
