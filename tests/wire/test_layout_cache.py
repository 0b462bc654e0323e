"""The decoder's layout cache: keyed by every byte before the data section, never poisoned.

Each test reads its envelopes at least twice, so the second read comes from the cache
whatever ran before it.
"""

from __future__ import annotations

import gc
import json
import mmap
import re
import struct

import pytest
import torch

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire._layout import MAGIC, PREAMBLE, align

from .helpers import assert_same, entry, header, raw_envelope

SIX = struct.pack("<6f", *range(6))


def read(payload: bytes | bytearray, **kwargs: object) -> State:
    return State.deserialize(payload, **kwargs)  # type: ignore[arg-type]


def rejects(payload: bytes | bytearray, message: str, **kwargs: object) -> None:
    with pytest.raises(SerializationError, match=re.escape(message)):
        read(payload, **kwargs)


def test_headers_that_differ_decode_to_their_own_layout() -> None:
    shapes = raw_envelope(header(entry("cache_a", "float32", [2, 3], 0, 24)), SIX + bytes(40))
    other = raw_envelope(header(entry("cache_a", "float32", [3, 2], 0, 24)), SIX + bytes(40))
    ints = raw_envelope(header(entry("cache_a", "int32", [6], 0, 24)), SIX + bytes(40))
    assert len(shapes) == len(other) == len(ints)
    expected = torch.arange(6, dtype=torch.float32)
    for _ in range(3):
        assert torch.equal(read(bytes(shapes))["cache_a"], expected.reshape(2, 3))
        assert torch.equal(read(bytes(other))["cache_a"], expected.reshape(3, 2))
        assert torch.equal(read(bytes(ints))["cache_a"], expected.view(torch.int32))


def test_one_layout_with_other_data_decodes_to_its_own_data() -> None:
    states = [State({"cache_b": torch.full((2, 3), float(i))}, {"i": i}) for i in range(4)]
    payloads = [s.serialize() for s in states] * 2
    for i, payload in enumerate(payloads):
        back = read(payload)
        assert torch.equal(back["cache_b"], torch.full((2, 3), float(i % 4)))
        assert back.meta == {"i": i % 4}


def test_a_corrupted_header_after_a_cached_one_raises_the_exact_error() -> None:
    data = struct.pack("<2f", 1.0, 2.0) + bytes(56)
    good = raw_envelope(header(entry("cache_c", "float32", [2], 0, 8)), data)
    read(bytes(good))
    read(bytes(good))
    bad_dtype = raw_envelope(header(entry("cache_c", "floatXX", [2], 0, 8)), data)
    rejects(bytes(bad_dtype), "unknown dtype 'floatXX' for tensor 'cache_c'")
    broken = bytearray(good)
    broken[PREAMBLE.size] = ord("[")  # the header's opening brace
    rejects(broken, "header is not valid JSON")
    rejects(
        bytes(good) + b"\0",
        f"1 trailing bytes after the envelope, which ends at offset {len(good)}",
    )
    rejects(
        bytes(good[:-1]),
        f"truncated at offset {len(good) - 1}: the envelope needs {len(good)} bytes",
    )
    stale = bytearray(good)
    stale[-20] ^= 0xFF  # the data, under a cached header
    rejects(bytes(stale), "checksum mismatch: stored 0x")
    assert read(bytes(good))["cache_c"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("dirty_first", [False, True])
def test_header_padding_is_part_of_the_key(dirty_first: bool) -> None:
    head = json.dumps(
        header(entry("cache_d", "float32", [2], 0, 8)), sort_keys=True, separators=(",", ":")
    ).encode()
    pad = align(PREAMBLE.size + len(head)) - PREAMBLE.size - len(head)
    data = struct.pack("<2f", 1.0, 2.0) + bytes(56)
    clean = raw_envelope(head, data)
    dirty = raw_envelope(head, data, pad=b"\0\7" + bytes(pad - 2))
    message = f"padding byte at offset {PREAMBLE.size + len(head) + 1} is 0x07"
    for _ in range(2):
        if dirty_first:
            assert read(dirty, verify=False)["cache_d"].tolist() == [1.0, 2.0]
        rejects(dirty, message, verify=True)
        rejects(bytes(dirty), message)
        assert read(bytes(clean))["cache_d"].tolist() == [1.0, 2.0]
        assert read(clean, verify=True)["cache_d"].tolist() == [1.0, 2.0]


def test_padding_between_tensors_is_checked_on_every_verified_read() -> None:
    entries = (entry("cache_e", "int8", [3], 0, 3), entry("cache_f", "float32", [2], 64, 8))
    data = b"\1\2\3" + bytes(61) + struct.pack("<2f", 1.0, 2.0) + bytes(56)
    clean = raw_envelope(header(*entries), data)
    dirty = raw_envelope(header(*entries), data[:10] + b"\5" + data[11:])
    offset = len(clean) - 8 - len(data) + 10
    for _ in range(2):
        assert read(bytes(clean))["cache_e"].tolist() == [1, 2, 3]
        rejects(bytes(dirty), f"padding byte at offset {offset} is 0x05; padding must be zero")


def test_cached_views_share_and_pin_a_writable_buffer() -> None:
    state = State(
        {
            "cache_g": torch.zeros(2, 3),
            "cache_h": torch.ones(4, dtype=torch.bfloat16),
            "cache_i": torch.zeros(0, 3),
        }
    )
    buf = bytearray(state.serialize())
    for value in (7.0, 8.0):
        back = read(buf)
        back["cache_g"][1, 2] = value
        back["cache_h"][0] = value
        again = read(bytes(buf), verify=False)  # the writes changed what the checksum covers
        assert again["cache_g"][1, 2] == value and again["cache_h"][0] == value
        with pytest.raises(BufferError):
            buf.extend(b"x")  # a live view pins the buffer: it cannot move under the tensor
        del back
        gc.collect()
        buf.extend(b"x")  # the cache holds no view of it
        del buf[-1]


def test_mixed_layouts_round_trip_first_and_from_the_cache() -> None:
    g = torch.Generator().manual_seed(0)
    state = State(
        {
            "cache_j": torch.tensor(2.5),
            "cache_k": torch.randn(2, 3, generator=g).to(torch.bfloat16),
            "cache_l": torch.tensor([True, False, True]),
            "cache_m": torch.zeros(0, 3, dtype=torch.int64),
            "cache_n": torch.arange(5, dtype=torch.int64).reshape(5, 1, 1),
            "cache_o": torch.randn(2, dtype=torch.complex128, generator=g),
        },
        {"step": 1},
    )
    payload = state.serialize()
    for _ in range(2):
        for back in (read(payload), read(bytearray(payload)), read(payload, copy=True)):
            assert list(back.tensors) == list(state.tensors) and back.meta == {"step": 1}
            for name, tensor in state.tensors.items():
                assert_same(back[name], tensor)


@pytest.mark.parametrize(
    "entries",
    [
        [entry("a", "uint8", [1 << 31], 0, 1 << 31)],
        [entry("a", "float32", [1 << 29], 0, 1 << 31)],
        [
            entry("a", "uint8", [3 << 29], 0, 3 << 29),
            entry("b", "uint8", [3 << 29], 3 << 29, 3 << 29),
        ],
    ],
    ids=["uint8", "float32", "two"],
)
def test_data_sections_of_2_gib_and_more_decode_without_a_record(entries: list) -> None:
    # NumPy sizes a structured dtype with a C int; such layouts build each tensor alone.
    # An anonymous mapping: only the first page (preamble and header) is ever touched.
    text = json.dumps(header(*entries), sort_keys=True, separators=(",", ":")).encode()
    size = sum(e["length"] for e in entries)
    start = align(PREAMBLE.size + len(text))
    with mmap.mmap(-1, start + size) as buffer:
        buffer[: PREAMBLE.size] = PREAMBLE.pack(MAGIC, 1, 0, len(text), size)
        buffer[PREAMBLE.size : PREAMBLE.size + len(text)] = text
        for _ in range(2):  # the second read comes from the cache
            state = read(buffer, verify=False)  # type: ignore[arg-type]
            shapes = {k: list(v.shape) for k, v in state.tensors.items()}
            assert shapes == {e["name"]: e["shape"] for e in entries}
            del state


def test_meta_is_encoded_before_any_tensor_is_read() -> None:
    # Encoding meta may run the caller's code; a tensor it changes is written as changed,
    # never from the memory it had before (that read freed memory, or crashed).
    t = torch.arange(4096, dtype=torch.float32)

    class Shrinking(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def]
            t.set_(torch.tensor([7.0]))
            return super().items()

    state = State({"t": t})
    state.meta = Shrinking(a=1)
    back = read(State.serialize(state))
    assert_same(back["t"], torch.tensor([7.0]))
    assert back.meta == {"a": 1}
