"""Replacing a directory as a whole: build a complete sibling, fsync it, swap it in.

`replace_directory` never writes into the directory it replaces. It fills a hidden
sibling (``.<name>.<pid>.<hex>.saving``), carries over every entry it was not asked
to write (hard links, so nothing is copied), fsyncs the files and the sibling, and
then exchanges the two directories with one ``renameat2(RENAME_EXCHANGE)`` (Linux)
or, where that call is missing, two renames. Until the exchange the old directory is
untouched; after it the new one is complete. A process killed at any point leaves
the old or the new directory at the path (with two renames, a kill between them
leaves the old one under the sibling's name ``...saving.old``), plus at most a
hidden sibling that the next save of the same path removes (once the process that
made it is gone).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["fsync_path", "replace_directory"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_STAGE = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.saving")
_IN_FLIGHT: set[str] = set()  # sibling directories this process is filling right now


def fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush a file's (or a directory's entries') data to stable storage."""
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc older than glibc 2.28
        return None
    return function


_RENAMEAT2 = _libc_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False where the system cannot (the caller falls back)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


def _remove_stale(parent: Path, name: str) -> None:
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            match = _STAGE.fullmatch(entry.name)
            if not match or match["name"] != name or entry.path in _IN_FLIGHT:
                continue
            pid = int(match["pid"])
            if pid == os.getpid() or not _alive(pid):
                shutil.rmtree(entry.path, ignore_errors=True)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, destination, follow_symlinks=False)


def _carry_over(old: Path, stage: Path, written: Collection[str]) -> None:
    """Give the new directory every entry of the old one that the save does not write."""
    with os.scandir(old) as entries:
        for entry in entries:
            if entry.name in written:
                continue
            target = stage / entry.name
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, target, symlinks=True, copy_function=_link_or_copy)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            else:
                _link_or_copy(entry.path, str(target))


def replace_directory(
    path: str | os.PathLike[str], fill: Callable[[Path], Collection[str]]
) -> None:
    """Make ``path`` a directory holding what ``fill`` writes, atomically.

    Args:
        path: the directory to create or replace (a symlink to one is followed).
        fill: writes the new files into the empty directory it is given and returns
            their names; each must be fsynced by ``fill`` (see `fsync_path`).

    Raises:
        NotADirectoryError: ``path`` exists and is not a directory.
        OSError: anything before the swap failed; ``path`` is then unchanged.
    """
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(parent, target.name)
    stage = parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.saving"
    os.mkdir(stage)
    _IN_FLIGHT.add(str(stage))
    try:
        written = fill(stage)
        if target.is_dir():
            _carry_over(target, stage, written)
        fsync_path(stage, directory=True)
        _swap(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        _IN_FLIGHT.discard(str(stage))
    # The new directory is in place: what follows only tidies up, and cannot undo it.
    with contextlib.suppress(OSError):
        fsync_path(parent, directory=True)
    shutil.rmtree(stage, ignore_errors=True)


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
    elif not _exchange(stage, target):
        aside = stage.with_name(stage.name + ".old")
        os.rename(target, aside)
        try:
            os.rename(stage, target)
        except BaseException:
            os.rename(aside, target)
            raise
        os.rename(aside, stage)
