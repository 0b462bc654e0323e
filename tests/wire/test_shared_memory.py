from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import (
    SharedStateDescriptor,
    attach_state,
    attached_state,
    publish_state,
    shared_state,
    state_handle,
)
from worldmodel_sdk.wire._segments import SHM_DIR, list_segments
from worldmodel_sdk.wire.cli import shm_app

from .conftest import TEST_NAMESPACE, _segments

needs_dev_shm = pytest.mark.skipif(not SHM_DIR.is_dir(), reason="needs Linux /dev/shm")


def make_state() -> State:
    return State(
        {
            "h": torch.arange(12, dtype=torch.float32).reshape(3, 4),
            "m": torch.ones(3, dtype=torch.bool),
        },
        meta={"step": 5},
    )


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_publish_attach_close_unlink_cycle() -> None:
    state = make_state()
    descriptor = state.to_shared_memory()
    assert descriptor.name.startswith(f"wmsdk-state.{os.getpid()}.")
    assert descriptor.size == len(state.serialize())
    attached = State.from_shared_memory(descriptor)
    assert torch.equal(attached["h"], state["h"]) and attached.meta == {"step": 5}
    attached.close_shared_memory()
    assert attached["h"].sum() == 66  # closing never unmaps under live tensors
    state.close_shared_memory(unlink=True)
    with pytest.raises(
        SerializationError, match=re.escape(f"segment {descriptor.name!r} does not exist")
    ):
        State.from_shared_memory(descriptor)


def test_attached_tensors_are_private_copy_on_write_views() -> None:
    state = make_state()
    with shared_state(state) as descriptor:
        first = State.from_shared_memory(descriptor)
        first["h"][0, 0] = 100.0  # stays in this attacher's pages
        second = State.from_shared_memory(descriptor, verify=True)
        assert second["h"][0, 0] == 0.0
        first.close_shared_memory()
        second.close_shared_memory()


def test_descriptor_is_small_json_and_frozen() -> None:
    state = make_state()
    with shared_state(state) as descriptor:
        text = descriptor.model_dump_json()
        assert len(text) < 150
        assert SharedStateDescriptor.model_validate_json(text) == descriptor
        with attached_state(text) as attached:  # the JSON itself is accepted
            assert torch.equal(attached["m"], state["m"])
        with pytest.raises(ValueError, match="frozen"):
            descriptor.size = 1  # type: ignore[misc]


def test_owner_and_attacher_context_managers_clean_up() -> None:
    state = make_state()
    with shared_state(state) as descriptor:
        with attached_state(descriptor) as attached:
            assert state_handle(attached) is not None
        assert state_handle(attached) is None
    assert not (SHM_DIR / descriptor.name).exists()
    assert state_handle(state) is None


def test_handle_is_a_context_manager_for_owners() -> None:
    state = make_state()
    descriptor = state.to_shared_memory()
    assert state_handle(state) is not None
    handle = state_handle(state)
    assert handle is not None
    with handle:
        assert handle.owner and handle.descriptor == descriptor
    assert not (SHM_DIR / descriptor.name).exists()


def test_copy_attach_releases_the_mapping_and_unlink_is_idempotent() -> None:
    state = make_state()
    descriptor = state.to_shared_memory(namespace="wmsdk-copytest")
    copied = State.from_shared_memory(descriptor, copy=True)
    assert state_handle(copied) is None and torch.equal(copied["h"], state["h"])
    State.unlink_shared_memory(descriptor)
    State.unlink_shared_memory(descriptor)
    state.close_shared_memory(unlink=True)


def test_attached_state_can_be_serialized_and_reshared() -> None:
    state = make_state()
    with shared_state(state) as descriptor, attached_state(descriptor) as attached:
        assert attached.serialize() == state.serialize()
        again = attached.to_shared_memory()
        assert again.name != descriptor.name
        with attached_state(again) as twice:
            assert torch.equal(twice["h"], state["h"])
        attached.close_shared_memory(unlink=True)


def test_trusted_attach_without_checksum() -> None:
    state = make_state()
    descriptor = publish_state(state, checksum=False)
    try:
        assert descriptor.checksum is None
        with attached_state(descriptor, verify=False) as attached:
            assert torch.equal(attached["h"], state["h"])
    finally:
        state.close_shared_memory(unlink=True)


def test_descriptor_checksum_must_match_the_segment() -> None:
    state = make_state()
    with shared_state(state) as descriptor:
        forged = descriptor.model_copy(update={"checksum": "0" * 16})
        with pytest.raises(SerializationError, match="the descriptor expects 0000000000000000"):
            attach_state(forged)
        tiny = descriptor.model_copy(update={"size": 4})
        with pytest.raises(SerializationError, match="descriptor size 4 is smaller than any"):
            attach_state(tiny)
        bigger = descriptor.model_copy(update={"size": descriptor.size + 1})
        with pytest.raises(
            SerializationError, match=f"has {descriptor.size} bytes; the descriptor says"
        ):
            attach_state(bigger)


def test_republishing_an_owned_state_is_refused_and_leaks_no_segment() -> None:
    state = make_state()
    before = _segments()
    first = state.to_shared_memory()
    refusal = (
        f"this state already owns shared-memory segment {first.name!r}; publishing it "
        "again would orphan that segment. Reuse its descriptor, or call "
        "close_shared_memory(unlink=True) first"
    )
    try:
        with pytest.raises(SerializationError, match=f"^{re.escape(refusal)}$"):
            state.to_shared_memory()
        with pytest.raises(SerializationError, match=f"^{re.escape(refusal)}$"):
            with shared_state(state):
                pass  # pragma: no cover - never entered
        assert _segments() - before == {first.name}  # no second segment was made
        assert state_handle(state) is not None and state_handle(state).descriptor == first
        with attached_state(first) as attached:  # the first segment is intact
            assert torch.equal(attached["h"], state["h"])
    finally:
        state.close_shared_memory(unlink=True)
    assert _segments() == before


def test_a_state_can_be_published_again_once_its_segment_is_unlinked() -> None:
    state = make_state()
    first = state.to_shared_memory()
    state.close_shared_memory(unlink=True)
    second = state.to_shared_memory()  # closed and unlinked: allowed
    State.unlink_shared_memory(second)
    third = state.to_shared_memory()  # unlinked by descriptor, handle still held: allowed
    try:
        assert len({first.name, second.name, third.name}) == 3
        assert state_handle(state) is not None and state_handle(state).descriptor == third
    finally:
        state.close_shared_memory(unlink=True)
    with shared_state(state) as descriptor:  # and the context manager leaves it free
        assert state_handle(state) is not None and state_handle(state).descriptor == descriptor
    state.to_shared_memory()
    state.close_shared_memory(unlink=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<bad json>", "Invalid JSON: expected value at line 1 column 1"),
        ("", "Invalid JSON: EOF while parsing a value at line 1 column 0"),
        ("[1]", "Input should be an object"),
        (
            "{}",
            "field 'name': Field required; field 'size': Field required; "
            "field 'owner_pid': Field required",
        ),
        (
            '{"name": "../../etc/passwd", "size": 0, "owner_pid": -1, "extra": 1}',
            "field 'name': String should match pattern "
            "'^[A-Za-z0-9_-]{1,64}\\.[0-9]{1,10}\\.[0-9a-f]{8}$'; "
            "field 'size': Input should be greater than 0; "
            "field 'owner_pid': Input should be greater than or equal to 0; "
            "field 'extra': Extra inputs are not permitted",
        ),
        (
            '{"name": "wmsdk-state.1.0123abcd", "size": 80, "owner_pid": 1, "checksum": "XYZ"}',
            "field 'checksum': String should match pattern '^[0-9a-f]{16}$'",
        ),
        (
            "{" + ", ".join(f'"{"k" * 100}{i}": 1' for i in range(6)) + "}",
            "field 'name': Field required; field 'size': Field required; "
            "field 'owner_pid': Field required; "
            f"field '{'k' * 40}': Extra inputs are not permitted; "
            f"field '{'k' * 40}': Extra inputs are not permitted; and 4 more problems",
        ),
    ],
)
def test_malformed_descriptor_json_is_a_serialization_error(text: str, message: str) -> None:
    expected = f"^{re.escape('invalid shared-state descriptor: ' + message)}$"
    with pytest.raises(SerializationError, match=expected) as info:
        attach_state(text)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(SerializationError, match=expected):
        with attached_state(text):
            pass  # pragma: no cover - never entered


def test_accelerator_tensors_need_explicit_permission() -> None:
    state = State({"h": torch.empty(2, device="meta")})
    with pytest.raises(
        SerializationError, match=re.escape("State['h'] is on meta; shared memory holds CPU")
    ):
        state.to_shared_memory()


def test_bad_namespace_and_bad_segment_names() -> None:
    with pytest.raises(ValueError, match=re.escape("namespace must be 1-64 characters")):
        make_state().to_shared_memory(namespace="../etc")
    with pytest.raises(ValueError, match="String should match pattern"):
        SharedStateDescriptor(name="/etc/passwd", size=10, owner_pid=1)


@needs_dev_shm
def test_second_process_attaches_zero_copy_without_tracker_noise() -> None:
    state = make_state()
    with shared_state(state) as descriptor:
        child = run_python(
            f"""
            import ctypes, sys, torch
            from worldmodel_sdk.payloads.state import State
            from worldmodel_sdk.wire import SharedStateDescriptor, state_handle
            d = SharedStateDescriptor.model_validate_json(sys.argv[1])
            s = State.from_shared_memory(d)
            mapping = state_handle(s)._mapping
            base = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
            inside = all(base <= t.data_ptr() < base + d.size for t in s.tensors.values())
            print(s["h"].sum().item(), s["m"].all().item(), s.meta["step"], inside)
            s.close_shared_memory()
            # a segment this process forgets is unlinked when it exits normally
            print(s.to_shared_memory(namespace="{TEST_NAMESPACE}").name)
            """,
            descriptor.model_dump_json(),
        )
        assert child.returncode == 0, child.stderr
        *values, forgotten = child.stdout.split()
        assert values == ["66.0", "True", "5", "True"]
        assert child.stderr == ""  # no resource-tracker warnings, no torch warnings
        assert (SHM_DIR / descriptor.name).exists()  # an attacher's exit leaves it alone
        assert not (SHM_DIR / forgotten).exists()


ORPHAN_MAKER = """
import _posixshmem, os, sys, time
payload = sys.stdin.buffer.read()
name = f"{sys.argv[1]}.{os.getpid()}.0123abcd"
fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
os.write(fd, payload)
print(name, flush=True)
time.sleep(60)
"""


@needs_dev_shm
def test_orphans_of_killed_processes_are_listed_and_collected() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, TEST_NAMESPACE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(make_state().serialize())
    child.stdin.close()
    name = child.stdout.readline().decode().strip()
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    [orphan] = [s for s in list_segments(TEST_NAMESPACE) if s.name == name]
    assert not orphan.owner_alive and orphan.is_envelope and orphan.owner_pid == child.pid
    runner = CliRunner()
    listed = runner.invoke(shm_app, ["list", "--namespace", TEST_NAMESPACE])
    assert name in listed.output and "dead" in listed.output
    dry = runner.invoke(shm_app, ["gc", "--namespace", TEST_NAMESPACE, "--dry-run"])
    assert f"would remove {name}" in dry.output and (SHM_DIR / name).exists()
    done = runner.invoke(shm_app, ["gc", "--namespace", TEST_NAMESPACE])
    assert done.exit_code == 0 and f"removed {name}" in done.output
    assert not (SHM_DIR / name).exists()


@needs_dev_shm
def test_gc_spares_live_owners() -> None:
    state = make_state()
    with shared_state(state, namespace="wmsdk-livetest") as descriptor:
        out = CliRunner().invoke(shm_app, ["gc", "--namespace", "wmsdk-livetest"])
        assert "0 orphaned segment(s) removed" in out.output
        assert (SHM_DIR / descriptor.name).exists()


def test_state_holds_no_transport_field_and_payloads_import_no_wire() -> None:
    import ast
    import inspect
    from pathlib import Path

    import worldmodel_sdk.payloads as payloads

    assert list(inspect.signature(State).parameters) == ["tensors", "meta"]
    assert not hasattr(State({}), "_shm")
    for path in Path(payloads.__file__).parent.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            if isinstance(node, ast.ImportFrom):
                assert "wire" not in (node.module or ""), (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert all("wire" not in a.name for a in node.names), path.name


def test_a_state_collected_while_published_drops_its_handle() -> None:
    import gc

    from worldmodel_sdk.wire import shared_memory

    state = make_state()
    descriptor = state.to_shared_memory()
    try:
        assert state_handle(state) is not None
        key = id(state)
        del state
        gc.collect()
        assert key not in shared_memory._HANDLES
    finally:
        State.unlink_shared_memory(descriptor)


def _corrupt_segment(name: str, at: int) -> None:
    import mmap

    from worldmodel_sdk.wire import _segments

    fd = _segments._posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
    try:
        with mmap.mmap(fd, 0) as mapping:
            mapping[at] ^= 0xFF
    finally:
        os.close(fd)


def test_attach_default_is_o1_and_verification_is_one_keyword_away() -> None:
    state = make_state()
    with shared_state(state) as descriptor:
        _corrupt_segment(descriptor.name, descriptor.size - 20)  # a data byte, not the trailer
        with attached_state(descriptor) as attached:  # default: no hash of the segment
            assert attached["h"].numel() == 12
        with pytest.raises(SerializationError, match=re.escape("checksum mismatch: stored 0x")):
            State.from_shared_memory(descriptor, verify=True)
        with pytest.raises(SerializationError, match=re.escape("checksum mismatch: stored 0x")):
            attach_state(descriptor, copy=True, verify=True)
        _corrupt_segment(descriptor.name, descriptor.size - 1)  # the stored checksum itself
        with pytest.raises(SerializationError, match="the descriptor expects"):
            attach_state(descriptor)  # checked on every attach: 8 bytes


def test_publishing_into_an_existing_segment_reuses_it() -> None:
    first = make_state()
    before = _segments()
    descriptor = first.to_shared_memory()
    try:
        with attached_state(descriptor) as attached:
            assert torch.equal(attached["h"], first["h"])
        second = State({"h": first["h"] + 1, "m": torch.zeros(3, dtype=torch.bool)}, {"step": 6})
        again = second.to_shared_memory(reuse=descriptor)
        assert again.name == descriptor.name and again.checksum != descriptor.checksum
        assert _segments() - before == {descriptor.name}  # no new segment
        with attached_state(again) as attached:
            assert torch.equal(attached["h"], first["h"] + 1) and attached.meta == {"step": 6}
            assert not attached["m"].any()
        with pytest.raises(SerializationError, match="the descriptor expects"):
            attach_state(descriptor)  # a stale descriptor is refused at attach, in O(1)
        bigger = State({"h": torch.arange(4096, dtype=torch.float32)})
        grown = publish_state(bigger, reuse=again)  # the segment grows to fit
        assert grown.name == descriptor.name and grown.size > descriptor.size
        with attached_state(grown, verify=True) as attached:
            assert torch.equal(attached["h"], bigger["h"])
        handle = state_handle(bigger)
        assert handle is not None and handle.owner and handle.descriptor == grown
    finally:
        State.unlink_shared_memory(descriptor)
    assert _segments() == before


def test_reuse_needs_a_segment_this_process_owns() -> None:
    state = make_state()
    descriptor = state.to_shared_memory()
    state.close_shared_memory(unlink=True)
    message = (
        f"cannot reuse shared-memory segment {descriptor.name!r}: this process did not "
        "publish it, or it is unlinked"
    )
    with pytest.raises(SerializationError, match=f"^{re.escape(message)}$"):
        make_state().to_shared_memory(reuse=descriptor)
    foreign = SharedStateDescriptor(name="wmsdk-state.1.0123abcd", size=80, owner_pid=1)
    with pytest.raises(SerializationError, match="cannot reuse shared-memory segment"):
        make_state().to_shared_memory(reuse=foreign)
    owner, other = make_state(), make_state()
    mine, theirs = owner.to_shared_memory(), other.to_shared_memory()
    try:
        with pytest.raises(SerializationError, match="this state already owns"):
            owner.to_shared_memory(reuse=theirs)  # it would orphan its own segment
        assert owner.to_shared_memory(reuse=mine).name == mine.name  # its own: fine
    finally:
        State.unlink_shared_memory(mine)
        State.unlink_shared_memory(theirs)
