"""Regenerate the wire-format golden vectors in this folder.

Usage::

    python contracts/golden/make_golden.py           # rewrite the files
    python contracts/golden/make_golden.py --check   # exit 1 if any file would change

Each ``*.wms`` file is one envelope. ``manifest.json`` lists, for every file, its
SHA-256 and either the state it must decode to (tensor names, dtypes, shapes and
raw little-endian bytes as hex, plus metadata) or, for ``valid: false`` vectors,
a phrase the decoder's error must contain. Another implementation of the format
passes when it decodes every valid vector to exactly that state, re-encodes it to
the identical bytes, and rejects every invalid vector.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

import torch

from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import serialize_state
from worldmodel_sdk.wire._dtypes import NAME_BY_DTYPE

HERE = Path(__file__).resolve().parent


def valid_states() -> dict[str, tuple[State, bool]]:
    """Name -> (state, with checksum). Values are fixed, never random."""
    ramp = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
    mixed = {
        "flag": torch.tensor([True, False, True]),
        "byte": torch.tensor([0, 127, 255], dtype=torch.uint8),
        "count": torch.tensor([-1, 0, 2**40], dtype=torch.int64),
        "half": torch.tensor([1.5, -0.0, 65504.0], dtype=torch.float16),
        "brain": torch.tensor([1.0, -2.5, 3e38], dtype=torch.bfloat16),
        "wave": torch.tensor([1 + 2j, -0.5j, 3.0], dtype=torch.complex64),
        "scalar": torch.tensor(3.141592653589793, dtype=torch.float64),
        "none": torch.empty(0, 4, dtype=torch.float32),
    }
    strided = torch.arange(12, dtype=torch.int32).reshape(3, 4).t()  # written contiguous
    return {
        "empty": (State({}), True),
        "small_float32": (State({"obs": ramp}, meta={"model": "vae", "step": 1}), True),
        "mixed_dtypes": (State(mixed, meta={"note": "one tensor of each common dtype"}), True),
        "no_checksum": (State({"obs": ramp}), False),
        "unicode_and_strided": (
            State({"température": strided}, meta={"unité": "°C", "nested": {"a": [1, None]}}),
            True,
        ),
    }


def invalid_vectors(small: bytes) -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes, phrase the error must contain), derived from a valid envelope."""
    flipped = bytearray(small)
    flipped[-9] ^= 0x01  # last data byte
    header_length = struct.unpack_from("<I", small, 12)[0]
    return {
        "invalid_bad_magic": (b"PK\x03\x04" + small[4:], "bad magic"),
        "invalid_version": (small[:8] + struct.pack("<H", 9) + small[10:], "unknown version 9"),
        "invalid_checksum": (bytes(flipped), "checksum mismatch"),
        "invalid_truncated": (small[:-3], "truncated at offset"),
        "invalid_trailing": (small + b"\0", "trailing bytes"),
        "invalid_header_cut": (small[: 24 + header_length // 2], "truncated at offset"),
    }


def tensor_record(name: str, t: torch.Tensor) -> dict[str, Any]:
    """A tensor as the manifest records it: name, dtype, shape, raw bytes in hex."""
    flat = t.contiguous().reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0)
    return {
        "name": name,
        "dtype": NAME_BY_DTYPE[t.dtype],
        "shape": list(t.shape),
        "hex": bytes(flat.numpy().tobytes()).hex() if t.numel() else "",
    }


def build() -> tuple[dict[str, bytes], dict[str, Any]]:
    """All vector files and the manifest describing them."""
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    for name, (state, checksum) in valid_states().items():
        payload = serialize_state(state, checksum=checksum)
        files[f"{name}.wms"] = payload
        entries.append({
            "file": f"{name}.wms", "valid": True, "checksum": checksum, "meta": state.meta,
            "tensors": [tensor_record(k, v) for k, v in state.tensors.items()],
        })  # fmt: skip
    for name, (payload, error) in invalid_vectors(files["small_float32.wms"]).items():
        files[f"{name}.wms"] = payload
        entries.append({"file": f"{name}.wms", "valid": False, "error": error})
    for entry in entries:
        data = files[entry["file"]]
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["size"] = len(data)
    manifest = {"format_version": 1, "vectors": entries}
    files["manifest.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    return files, manifest


def main(argv: list[str]) -> int:
    """Write the vectors (or, with ``--check``, report stale ones). Returns the exit code."""
    files, _ = build()
    check = "--check" in argv
    stale = [
        n
        for n, data in files.items()
        if not (HERE / n).is_file() or (HERE / n).read_bytes() != data
    ]
    if check:
        for name in stale:
            print(f"stale golden vector: {name}")
        return 1 if stale else 0
    for name in stale:
        (HERE / name).write_bytes(files[name])
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
