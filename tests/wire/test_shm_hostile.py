"""Shared memory against what a local user can plant in /dev/shm, and against its own owner."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import SharedStateDescriptor, attach_state, unlink_descriptor
from worldmodel_sdk.wire._segments import SHM_DIR, list_segments, unlink_segment
from worldmodel_sdk.wire.cli import shm_app

pytestmark = [
    pytest.mark.skipif(not SHM_DIR.is_dir(), reason="needs Linux /dev/shm"),
    pytest.mark.timeout(60),  # a regression that blocks fails instead of hanging
]
NAMESPACE = "wmsdk-hostiletest"


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture
def planted() -> Iterator[list[Path]]:
    """Paths planted under segment names, removed afterwards whatever they are."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _plant(planted: list[Path], kind: str, pid: int | None = None) -> Path:
    path = SHM_DIR / f"{NAMESPACE}.{pid or os.getpid()}.{len(planted):08x}"
    planted.append(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(b"")
    return path


def _descriptor(path: Path) -> SharedStateDescriptor:
    return SharedStateDescriptor(name=path.name, size=128, owner_pid=os.getpid())


@pytest.mark.parametrize(
    ("kind", "what"), [("fifo", "a FIFO"), ("dir", "a directory"), ("symlink", "a symbolic link")]
)
def test_attaching_to_a_non_file_is_refused_without_blocking(planted, kind, what):
    path = _plant(planted, kind)
    message = f"shared-memory segment {path.name!r} is {what}, not a regular file"
    with pytest.raises(SerializationError, match=re.escape(message)):
        attach_state(_descriptor(path))
    with pytest.raises(SerializationError, match=re.escape(message)):
        State.from_shared_memory(_descriptor(path))


def test_list_and_gc_skip_non_files_and_collect_any_orphan_file(planted):
    dead = _dead_pid()
    for kind in ("fifo", "dir", "symlink"):
        _plant(planted, kind, dead)
    empty = _plant(planted, "empty", dead)  # a publisher killed before writing a byte
    garbage = _plant(planted, "empty", dead)
    garbage.write_bytes(b"not an envelope")
    listed = {s.name: s for s in list_segments(NAMESPACE)}
    assert sorted(listed) == sorted([empty.name, garbage.name])
    assert not listed[empty.name].is_envelope and listed[empty.name].size == 0
    runner = CliRunner()
    out = runner.invoke(shm_app, ["list", "--namespace", NAMESPACE])
    assert out.exit_code == 0 and empty.name in out.output
    out = runner.invoke(shm_app, ["gc", "--namespace", NAMESPACE])
    assert out.exit_code == 0, out.output
    assert "2 orphaned segment(s) removed" in out.output
    assert not empty.exists() and not garbage.exists()
    assert all(p.exists() or p.is_symlink() for p in planted if p not in (empty, garbage))


def test_unlink_refuses_names_that_are_not_segments(tmp_path):
    victim = SHM_DIR / f"{NAMESPACE}-victim"
    victim.write_bytes(b"someone else's data")
    try:
        message = f"{victim.name!r} is not a state segment name (<namespace>.<pid>.<hex>); refusing to unlink it"
        with pytest.raises(SerializationError, match=re.escape(message)):
            unlink_segment(victim.name)
        forged = SharedStateDescriptor.model_construct(name=victim.name, size=1, owner_pid=1)
        with pytest.raises(SerializationError, match=re.escape(message)):
            unlink_descriptor(forged)
        assert victim.read_bytes() == b"someone else's data"
    finally:
        victim.unlink()


def _publish_in_child(conn) -> None:
    state = State({"h": torch.ones(2, 3)})
    conn.send(state.to_shared_memory(namespace=NAMESPACE).name)
    conn.close()


def test_segments_published_by_a_forked_child_are_unlinked_when_it_exits():
    ctx = multiprocessing.get_context("fork")
    parent, child_end = ctx.Pipe()
    child = ctx.Process(target=_publish_in_child, args=(child_end,))
    child.start()
    name = parent.recv()
    child.join(30)
    assert child.exitcode == 0
    assert not (SHM_DIR / name).exists()


TRUNCATED = """
import sys
from worldmodel_sdk.wire import SharedStateDescriptor, attach_state
d = SharedStateDescriptor.model_validate_json(sys.argv[1])
views, copied = attach_state(d), attach_state(d, copy=True)
print("attached", flush=True)
sys.stdin.readline()  # the owner truncates the segment now
print(float(copied["h"].sum()), flush=True)
print(float(views["h"].sum()), flush=True)  # touches pages the file no longer has
"""


def test_truncation_by_the_owner_kills_zero_copy_attachers_but_not_copies():
    # Documented limit: POSIX shared memory cannot be sealed, so an owner that shrinks
    # its segment makes zero-copy views fault (SIGBUS); copy=True attachers keep working.
    state = State({"h": torch.ones(64, 1024)})
    descriptor = state.to_shared_memory(namespace=NAMESPACE)
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(TRUNCATED), descriptor.model_dump_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "attached"
        os.truncate(SHM_DIR / descriptor.name, 0)
        child.stdin.write("go\n")
        child.stdin.close()
        assert child.stdout.readline().strip() == "65536.0"
        assert child.wait(30) == -signal.SIGBUS
        child.stdout.close()
    finally:
        state.close_shared_memory(unlink=True)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_inspect_refuses_special_files_without_blocking(tmp_path, kind):
    from worldmodel_sdk.wire import inspect_file

    path = tmp_path / "state.wms"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    what = "a FIFO" if kind == "fifo" else "a character device"
    with pytest.raises(
        SerializationError, match=re.escape(f"{path} is {what}, not a regular file")
    ):
        inspect_file(path)
