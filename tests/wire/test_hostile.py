"""Hostile bytes: every failure is a SerializationError that says what is wrong."""

from __future__ import annotations

import json
import re
import struct
import tracemalloc

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import MAX_HEADER_BYTES
from worldmodel_sdk.wire._layout import FLAG_BIG_ENDIAN, FLAG_CHECKSUM, PREAMBLE, align

from .helpers import entry, header, raw_envelope

F4 = entry("h", "float32", [2], 0, 8)
DATA = struct.pack("<2f", 1.0, 2.0) + bytes(56)


def rejects(payload: object, message: str, **kwargs: object) -> None:
    with pytest.raises(SerializationError, match=re.escape(message)):
        State.deserialize(payload, **kwargs)  # type: ignore[arg-type]


def test_the_reference_envelope_is_valid() -> None:
    back = State.deserialize(raw_envelope(header(F4), DATA))
    assert back["h"].tolist() == [1.0, 2.0]


def test_bad_magic() -> None:
    rejects(
        raw_envelope(header(F4), DATA, magic=b"PK\x03\x04abcd"),
        "bad magic: expected b'\\x89WMS\\r\\n\\x1a\\n', got b'PK\\x03\\x04abcd'",
    )


def test_unknown_version_and_flags() -> None:
    rejects(
        raw_envelope(header(F4), DATA, version=2),
        "unknown version 2: this reader supports version 1",
    )
    rejects(raw_envelope(header(F4), DATA, flags=0x0012), "unknown flags 0x0012")
    rejects(
        raw_envelope(header(F4), DATA, flags=FLAG_CHECKSUM | FLAG_BIG_ENDIAN),
        "big-endian payloads are not supported",
    )


def test_truncations_name_the_offset() -> None:
    good = bytes(raw_envelope(header(F4), DATA))
    rejects(good[:10], "truncated at offset 10: the preamble needs 24 bytes")
    rejects(good[:40], "truncated at offset 40: the header ends at offset")
    rejects(good[:-1], f"truncated at offset {len(good) - 1}: the envelope needs {len(good)} bytes")
    rejects(b"", "truncated at offset 0: the preamble needs 24 bytes")


def test_trailing_bytes() -> None:
    good = bytes(raw_envelope(header(F4), DATA))
    rejects(
        good + b"\0\0\0", f"3 trailing bytes after the envelope, which ends at offset {len(good)}"
    )


def test_header_too_large_is_refused_before_reading_it() -> None:
    rejects(
        raw_envelope(b"{}", header_length=MAX_HEADER_BYTES + 1),
        f"header too large: {MAX_HEADER_BYTES + 1} bytes exceeds the cap",
    )


def test_huge_data_length_is_a_truncation_not_an_allocation() -> None:
    tracemalloc.start()
    try:
        rejects(raw_envelope(header(F4), DATA, data_length=2**63), "truncated at offset")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"\xff\xfe", "header is not valid UTF-8 at byte 0"),
        (b"{nope", "header is not valid JSON: Expecting property name"),
        (b"[" * 30_000 + b"]" * 30_000, "header JSON is nested too deeply"),
        (b'{"meta":NaN,"tensors":[]}', "header holds NaN, which canonical JSON does not allow"),
        (b'{"meta":null,"meta":null,"tensors":[]}', "header repeats the key 'meta' in one object"),
        (b"[]", "header must be an object with keys ['meta', 'tensors']; got list"),
        (
            b'{"tensors":[]}',
            "header must be an object with keys ['meta', 'tensors']; got ['tensors']",
        ),
        (b'{"meta":1,"tensors":[]}', "header 'meta' must be an object or null; got int"),
        (b'{"meta":null,"tensors":{}}', "header 'tensors' must be a list; got dict"),
        (b'{"meta":null,"tensors":[7]}', "tensor entry 0 must have keys"),
    ],
)
def test_malformed_headers(head: bytes, message: str) -> None:
    rejects(raw_envelope(head), message)


@pytest.mark.parametrize(
    ("entries", "data", "message"),
    [
        ([entry("h", "float128", [2], 0, 8)], DATA, "unknown dtype 'float128' for tensor 'h'"),
        ([entry("h", "qint8", [2], 0, 2)], DATA, "unknown dtype 'qint8' for tensor 'h'"),
        (
            [entry("h", "float32", [3], 0, 8)],
            DATA,
            "tensor 'h': shape [3] of float32 needs 12 bytes but length is 8",
        ),
        ([entry("h", "float32", [2, -1], 0, 8)], DATA, "tensor 'h' has shape [2, -1]; expected"),
        ([entry("h", "float32", [True], 0, 4)], DATA, "tensor 'h' has shape [True]; expected"),
        ([entry("h", "float32", [0, 2**62, 4], 0, 0)], b"", "too large for int64 strides"),
        ([entry("h", "float32", [1] * 65, 0, 4)], DATA, "tensor 'h' has 65 dimensions; at most 64"),
        ([entry("", "float32", [2], 0, 8)], DATA, "tensor entry 0 has name ''"),
        ([entry("h", "float32", [2], -64, 8)], DATA, "tensor 'h' has offset -64 and length 8"),
        ([entry("h", "float32", [2], 1.0, 8)], DATA, "tensor 'h' has offset 1.0 and length 8"),  # type: ignore[arg-type]
        ([entry("h", "float32", [2], 8, 8)], DATA, "tensor 'h' offset 8 is not 64-byte aligned"),
        (
            [entry("h", "float32", [2], 64, 8)],
            DATA,
            "tensor 'h' spans data bytes [64, 72), out of bounds of the 64-byte data section",
        ),
        (
            [entry("h", "float32", [2], 0, 8), entry("g", "float32", [2], 0, 8)],
            DATA,
            "tensor 'g' at data offset 0 overlaps tensor 'h' ending at 8",
        ),
        (
            [entry("h", "float32", [2], 0, 8), entry("h", "float32", [2], 64, 8)],
            DATA * 2,
            "tensor 'h' appears twice in the header",
        ),
        (
            [entry("h", "float32", [2], 128, 8)],
            bytes(192),
            "128 unaccounted bytes before tensor 'h'",
        ),
        (
            [F4],
            DATA + bytes(64),
            "64 unaccounted bytes after the last tensor (the data section must end at "
            "offset 64, got 128)",
        ),
        (
            [F4],
            DATA[:8],
            "data section has 8 bytes; the tensors end at 8, so it must be padded to 64",
        ),
    ],
)
def test_bad_tensor_entries(entries: list[dict[str, object]], data: bytes, message: str) -> None:
    rejects(raw_envelope(header(*entries), data), message)


def test_checksum_mismatch_names_both_values() -> None:
    payload = raw_envelope(header(F4), DATA)
    payload[-20] ^= 0xFF  # inside the data section
    message = "checksum mismatch: stored 0x"
    rejects(bytes(payload), message)  # copied input: verified by default
    rejects(payload, message, copy=True)
    rejects(payload, message, verify=True)  # zero-copy: one keyword away
    assert State.deserialize(payload)["h"].numel() == 2  # zero-copy default: O(1), no hash
    assert State.deserialize(bytes(payload), verify=False)["h"].numel() == 2


def test_chunked_verified_copy_names_the_mismatch() -> None:
    big = State({"h": torch.arange(300_000, dtype=torch.float32)}).serialize()  # > one chunk
    assert torch.equal(State.deserialize(big)["h"], torch.arange(300_000, dtype=torch.float32))
    corrupt = bytearray(big)
    corrupt[len(big) // 2] ^= 1
    rejects(bytes(corrupt), "checksum mismatch: stored 0x")


@pytest.mark.parametrize("how", [{"verify": True}, {"copy": True}, {"as_bytes": True}])
def test_non_zero_padding_and_bad_bool_bytes_fail_verification(how: dict[str, bool]) -> None:
    def check(payload: bytearray, message: str) -> None:
        if how.get("as_bytes"):
            rejects(bytes(payload), message)
        else:
            rejects(payload, message, **how)
        State.deserialize(payload)  # the zero-copy default does not look at them

    check(
        raw_envelope(header(F4), DATA[:8] + b"\1" + bytes(55)),
        "padding byte at offset 136 is 0x01; padding must be zero",
    )
    head = json.dumps(header(F4), sort_keys=True, separators=(",", ":")).encode()
    pad = align(PREAMBLE.size + len(head)) - PREAMBLE.size - len(head)
    check(
        raw_envelope(head, DATA, pad=b"\0\7" + bytes(pad - 2)),
        f"padding byte at offset {PREAMBLE.size + len(head) + 1} is 0x07",
    )
    flags = entry("f", "bool", [3], 0, 3)
    check(
        raw_envelope(header(flags), b"\1\0\2" + bytes(61)),
        "tensor 'f' (bool) holds a byte other than 0 or 1 at element 2",
    )


def test_payload_of_the_wrong_type() -> None:
    rejects(
        12, "payload must be bytes, bytearray, memoryview or another contiguous buffer; got int"
    )
    rejects(memoryview(bytearray(64))[::2], "payload must be bytes")
    released = memoryview(bytearray(64))
    released.release()
    rejects(released, "payload must be bytes")


VALID = [
    State(
        {
            "a": torch.arange(6, dtype=torch.float32).reshape(2, 3),
            "b": torch.ones(2, dtype=torch.bool),
        },
        meta={"step": 1},
    ).serialize(),
    State({"z": torch.zeros((), dtype=torch.bfloat16), "e": torch.empty(0, 4)}).serialize(),
]


def decode_or_serialization_error(payload: bytes | bytearray) -> None:
    try:
        state = State.deserialize(payload)
    except SerializationError:
        return
    for t in state.tensors.values():  # a decoded state is usable
        t.reshape(-1).view(torch.uint8).sum()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.data())
def test_property_mutated_payloads_only_raise_serialization_error(
    valid: bytes, data: st.DataObject
) -> None:
    payload = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    decode_or_serialization_error(payload)
    decode_or_serialization_error(bytes(payload))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_property_truncated_and_extended_payloads_are_rejected(
    valid: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(valid) - 1))
    with pytest.raises(SerializationError, match="truncated at offset"):
        State.deserialize(valid[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=100))
    with pytest.raises(SerializationError, match="trailing bytes after the envelope"):
        State.deserialize(valid + extra)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_property_random_bytes_only_raise_serialization_error(junk: bytes) -> None:
    decode_or_serialization_error(junk)
    decode_or_serialization_error(raw_envelope(junk))  # random header, valid preamble + checksum
