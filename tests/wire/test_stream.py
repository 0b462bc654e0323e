from __future__ import annotations

import io
import os
import re
import socket
import threading
from pathlib import Path
from typing import IO, cast

import pytest
import torch

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import (
    _encode,
    inspect_envelope,
    read_state,
    shared_memory,
    stream,
    write_state,
)
from worldmodel_sdk.wire.envelope import write_all

from .helpers import assert_same


def make_state(seed: int = 0) -> State:
    g = torch.Generator().manual_seed(seed)
    return State(
        {"h": torch.randn(4, 8, generator=g), "z": torch.zeros(4, dtype=torch.bfloat16)},
        meta={"seed": seed},
    )


def test_file_round_trip_is_a_zero_copy_mapping_and_reads_in_sequence(tmp_path: Path) -> None:
    path = tmp_path / "states.wms"
    states = [make_state(i) for i in range(3)]
    with open(path, "wb") as fh:
        sizes = [write_state(s, fh) for s in states]
    assert path.stat().st_size == sum(sizes)
    assert path.read_bytes()[: sizes[0]] == states[0].serialize()
    with open(path, "rb") as fh:
        back = [read_state(fh) for _ in states]
        assert fh.tell() == sum(sizes)
        with pytest.raises(
            SerializationError, match="truncated at offset 0: the preamble needs 24"
        ):
            read_state(fh)
    for a, b in zip(states, back, strict=True):
        assert_same(a["h"], b["h"]) and assert_same(a["z"], b["z"])
        assert b.meta == a.meta
    back[0]["h"][0, 0] = 1e6  # copy-on-write: the file is not modified
    assert read_state(path)["h"][0, 0] == states[0]["h"][0, 0]


def test_truncated_file_names_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "cut.wms"
    payload = make_state().serialize()
    path.write_bytes(payload[:-10])
    message = f"truncated at offset {len(payload) - 10}: the envelope needs {len(payload)} bytes"
    with pytest.raises(SerializationError, match=re.escape(message)):
        read_state(path)


def test_bytesio_streams_read_exactly_one_envelope() -> None:
    sink = io.BytesIO()
    write_state(make_state(1), sink)
    write_state(make_state(2), sink, checksum=False)
    sink.seek(0)
    assert read_state(sink).meta == {"seed": 1}
    assert read_state(sink, copy=True).meta == {"seed": 2}
    with pytest.raises(
        SerializationError, match="truncated at offset 0: the stream ended before byte 24"
    ):
        read_state(sink)


def test_read_only_stream_without_readinto() -> None:
    class Reader:
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def read(self, n: int) -> bytes:
            return self.inner.read(min(n, 7))  # dribbles bytes in tiny pieces

    state = make_state(3)
    back = read_state(Reader(state.serialize()))  # type: ignore[arg-type]
    assert_same(back["h"], state["h"])


class Trickle(io.RawIOBase):
    """A sink that accepts at most ``step`` bytes per write (or ``result`` if given)."""

    def __init__(self, step: int = 3, result: int | None = -1) -> None:
        self.data = bytearray()
        self.step = step
        self.result = result

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int | None:
        if self.result != -1:
            return self.result
        chunk = bytes(memoryview(b))[: self.step]  # type: ignore[arg-type]
        self.data += chunk
        return len(chunk)


def test_one_write_helper_serves_streams_and_shared_memory() -> None:
    assert stream.write_all is write_all and _encode.write_all is write_all
    assert shared_memory.encode_to_fd.__globals__["write_all"] is write_all
    assert not hasattr(stream, "_write_all") and not hasattr(shared_memory, "_write_all")


def test_write_all_resumes_partial_writes_to_file_objects() -> None:
    state = make_state()
    sink = Trickle(step=7)
    assert write_state(state, cast(IO[bytes], sink)) == len(state.serialize())
    assert bytes(sink.data) == state.serialize()
    with pytest.raises(BlockingIOError, match="^the sink is non-blocking and would block$"):
        write_all(cast(IO[bytes], Trickle(result=None)), [b"abc"])
    with pytest.raises(OSError, match=re.escape("the sink accepted no bytes (0 of 3)")):
        write_all(cast(IO[bytes], Trickle(result=0)), [b"", b"abc"])
    # Nothing to write: the sink is never asked.
    write_all(cast(IO[bytes], Trickle(result=0)), [b"", bytearray()])


def test_write_all_to_a_descriptor_batches_and_resumes_partial_writev() -> None:
    # 1500 pieces are more than one writev batch, and together (~480 KiB) far more
    # than a pipe buffer holds, so the kernel returns partial writes to resume.
    pieces: list[bytes | bytearray | memoryview] = [
        bytes([i % 251]) * (1 + (i * 97) % 300) for i in range(1500)
    ]
    pieces += [memoryview(bytearray(range(256)) * 1024), b"", torch.arange(10).numpy().data]
    expected = b"".join(bytes(p) for p in pieces)
    read_fd, write_fd = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_fd, 1 << 12):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        write_all(write_fd, pieces)
    finally:
        os.close(write_fd)
        reader.join(timeout=30)
        os.close(read_fd)
    assert bytes(received) == expected


def test_socket_round_trip() -> None:
    left, right = socket.socketpair()
    state = make_state(4)
    with left, right:
        writer = threading.Thread(target=write_state, args=(state, left))
        writer.start()
        back = read_state(right)
        writer.join()
    assert_same(back["h"], state["h"]) and back.meta == {"seed": 4}


def test_hostile_stream_length_does_not_preallocate() -> None:
    payload = bytearray(make_state().serialize())
    payload[16:24] = (2**62).to_bytes(8, "little")  # claims an enormous data section
    with pytest.raises(SerializationError, match="the stream ended before byte"):
        read_state(io.BytesIO(bytes(payload)))


def test_inspect_reports_header_and_checksum_without_decoding() -> None:
    payload = bytearray(make_state().serialize())
    info = inspect_envelope(payload)
    assert [(e.name, e.dtype_name, e.shape, e.length) for e in info.tensors] == [
        ("h", "float32", (4, 8), 128),
        ("z", "bfloat16", (4,), 8),
    ]
    assert info.checksum == "ok" and info.total == len(payload) and info.meta == {"seed": 0}
    payload[-9] ^= 1
    assert inspect_envelope(payload).checksum == "mismatch"
    assert inspect_envelope(payload, verify=False).checksum == "not checked"
    assert inspect_envelope(State({}).serialize()).checksum == "ok"


def test_descriptor_writes_resume_after_partial_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = State(
        {"h": torch.randn(300, 1000), "b": torch.ones(3, dtype=torch.bool)}, meta={"k": 1}
    )
    real = os.writev

    def stingy(fd: int, buffers: list[bytes]) -> int:  # at most 1000 bytes a call
        return real(fd, [memoryview(b"".join(bytes(b) for b in buffers))[:1000]])

    monkeypatch.setattr(_encode.os, "writev", stingy)
    plan, prepared = _encode.prepare_state(state, True)
    with open(tmp_path / "s.wms", "wb") as fh:
        digest = _encode.encode_to_fd(plan, prepared, fh.fileno())
    payload = (tmp_path / "s.wms").read_bytes()
    assert payload == state.serialize()
    assert digest == int.from_bytes(payload[-8:], "little")
