"""The golden vectors under contracts/golden/ pin the byte layout."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import DTYPE_BY_NAME, serialize_state

GOLDEN = Path(__file__).resolve().parents[2] / "contracts" / "golden"
MANIFEST: dict[str, Any] = json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))
VALID = [v for v in MANIFEST["vectors"] if v["valid"]]
INVALID = [v for v in MANIFEST["vectors"] if not v["valid"]]


def load(vector: dict[str, Any]) -> bytes:
    data = (GOLDEN / vector["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == vector["sha256"], vector["file"]
    assert len(data) == vector["size"]
    return data


@pytest.mark.parametrize("vector", VALID, ids=[v["file"] for v in VALID])
def test_valid_vectors_decode_to_the_manifest_and_re_encode_identically(
    vector: dict[str, Any],
) -> None:
    data = load(vector)
    state = State.deserialize(data)
    assert state.meta == vector["meta"]
    assert [t["name"] for t in vector["tensors"]] == list(state.tensors)
    for record in vector["tensors"]:
        t = state[record["name"]]
        assert t.dtype == DTYPE_BY_NAME[record["dtype"]]
        assert list(t.shape) == record["shape"]
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        assert raw.hex() == record["hex"]
    assert serialize_state(state, checksum=vector["checksum"]) == data


@pytest.mark.parametrize("vector", INVALID, ids=[v["file"] for v in INVALID])
def test_invalid_vectors_are_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(SerializationError, match=vector["error"]):
        State.deserialize(load(vector))


def test_vectors_are_up_to_date_with_the_generator() -> None:
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files, manifest = module.build()
    assert manifest == MANIFEST
    for name, data in files.items():
        assert (GOLDEN / name).read_bytes() == data, name
