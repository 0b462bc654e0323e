"""Header work bounded per byte, metadata that round-trips, one depth limit for metadata."""

from __future__ import annotations

import re
import sys
import tracemalloc

import pytest
import torch

from worldmodel_sdk.errors import ContractError, SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire._layout import MAX_HEADER_ITEMS, MAX_TENSORS

from .helpers import entry, header, raw_envelope


def rejects(payload: object, message: str) -> None:
    with pytest.raises(SerializationError, match=re.escape(message)):
        State.deserialize(payload)  # type: ignore[arg-type]


def _peak_while_rejecting(payload: bytes) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(SerializationError):
            State.deserialize(payload)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]," * (1 << 20), "header opens 1048580 JSON arrays or objects; at most 65536"),
        (b"{}," * (1 << 20), "header opens 1048580 JSON arrays or objects; at most 65536"),
        (b"0," * (1 << 21), f"header lists 2097153 JSON values; at most {MAX_HEADER_ITEMS}"),
    ],
)
def test_tiny_json_values_cost_no_more_than_the_header(body, message):
    text = b'{"meta":{"k":[' + body + b'0]},"tensors":[]}'
    payload = bytes(raw_envelope(text))
    rejects(payload, message)
    # Decoding these into Python objects would cost 4-30x the header; refusing costs ~2x.
    assert _peak_while_rejecting(payload) < 3 * len(text)


def test_tensor_count_is_capped():
    entries = [entry(f"t{i}", "bool", [0], 0, 0) for i in range(MAX_TENSORS + 1)]
    message = f"header lists {MAX_TENSORS + 1} tensors; at most {MAX_TENSORS} are allowed"
    rejects(bytes(raw_envelope(header(*entries))), message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"meta":{"x":1e400},"tensors":[]}', "header holds the number 1e400, which is out of float64 range"),
        (b'{"meta":{"x":-2.5e308},"tensors":[]}', "header holds the number -2.5e308"),
        (b'{"meta":{"\\ud800":1},"tensors":[]}', "header meta has key '\\ud800', which holds a lone surrogate (not UTF-8)"),
        (b'{"meta":{"x":["\\udfff"]},"tensors":[]}', "header meta['x'][0] is '\\udfff', which holds a lone surrogate"),
        (
            b'{"meta":null,"tensors":[{"dtype":"bool","length":0,"name":"\\udc00","offset":0,"shape":[0]}]}',
            "tensor entry 0 has name '\\udc00', which holds a lone surrogate (not UTF-8)",
        ),
    ],
)  # fmt: skip
def test_what_cannot_be_written_back_is_refused(text, message):
    rejects(bytes(raw_envelope(text)), message)


def test_a_valid_surrogate_pair_is_text_and_round_trips():
    payload = bytes(raw_envelope(b'{"meta":{"\\ud83d\\ude00":1},"tensors":[]}'))
    state = State.deserialize(payload)
    assert state.meta == {"\U0001f600": 1}
    assert State.deserialize(state.serialize()).meta == state.meta


def _nested(depth: int) -> dict[str, object]:
    value: object = 0
    for _ in range(depth - 1):
        value = [value]
    return {"k": value}


def _at_depth(frames: int, function):
    return function() if frames == 0 else _at_depth(frames - 1, function)


def test_one_depth_limit_holds_on_every_path():
    deepest = State({"h": torch.zeros(1)}, meta=_nested(32))
    payload = deepest.serialize()  # the deepest accepted metadata is written ...
    assert State.deserialize(payload).meta == deepest.meta
    # ... and read again, from the layout cache, deep in a caller's stack.
    frames = sys.getrecursionlimit() - 120
    assert _at_depth(frames, lambda: State.deserialize(payload).meta) == deepest.meta
    assert deepest.clone().meta == deepest.meta
    deeper = State({"h": torch.zeros(1)}, meta=_nested(33))
    message = "is nested 33 levels deep; metadata may nest at most 32 levels"
    with pytest.raises(SerializationError, match=re.escape(message)):
        deeper.serialize()
    with pytest.raises(ContractError, match=re.escape(message)):
        deeper.validate()
    with pytest.raises(ContractError, match=re.escape(message)):
        deeper.clone()
    nested_json = b'{"meta":{"k":' + b"[" * 32 + b"0" + b"]" * 32 + b'},"tensors":[]}'
    rejects(bytes(raw_envelope(nested_json)), "header meta['k']")


def test_hostile_depth_in_process_is_a_contract_error_not_recursion():
    state = State({"h": torch.zeros(1)}, meta=_nested(5000))
    with pytest.raises(ContractError, match="metadata may nest at most 32 levels"):
        state.clone()
    with pytest.raises(SerializationError, match="metadata may nest at most 32 levels"):
        state.serialize()
