"""Long fuzz run of the envelope decoder (not part of the default test run).

Usage::

    python tests/fuzz/fuzz_envelope.py --seconds 600            # structured mutation fuzzer
    python tests/fuzz/fuzz_envelope.py --inputs 1000000         # ... until N inputs are tried
    python tests/fuzz/fuzz_envelope.py --atheris -- -max_total_time=600   # coverage-guided

Both modes feed the decoder valid envelopes (the golden vectors plus generated
states) mutated at the byte level (flips, overwrites, inserts, deletes, cuts,
extensions) and at the header level (JSON values swapped for hostile ones, with
the checksum recomputed so the structure checks are reached). Any exception other
than `SerializationError` is a bug: the run prints it and exits 1.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import struct
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import xxhash

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import deserialize_state, inspect_envelope
from worldmodel_sdk.wire._layout import PREAMBLE, align

GOLDEN = Path(__file__).resolve().parents[2] / "contracts" / "golden"
HOSTILE_VALUES: list[Any] = [
    -1,
    0,
    1,
    63,
    64,
    2**31,
    2**63,
    2**64 + 1,
    1.5,
    True,
    None,
    "",
    "x",
    [],
    {},
    [2**40] * 3,
    [-1],
    [0, 2**62, 8],
    "float32",
    "bool",
    "complex32",
    "bfloat16",
    "nope",
    [[1]],
    10**400,
]


def seeds() -> list[bytes]:
    out = [p.read_bytes() for p in sorted(GOLDEN.glob("*.wms")) if not p.name.startswith("invalid")]
    g = torch.Generator().manual_seed(0)
    out.append(
        State(
            {"h": torch.randn(2, 3, generator=g), "b": torch.ones(2, dtype=torch.bool)},
            meta={"k": [1, "v"]},
        ).serialize()
    )
    out.append(
        State({"e": torch.empty(0, 2), "z": torch.zeros((), dtype=torch.bfloat16)}).serialize()
    )
    return out


def reseal(payload: bytes, header: bytes) -> bytes:
    """Rebuild an envelope around a new header, keeping its data, with a valid checksum."""
    magic, version, flags, h_len, d_len = PREAMBLE.unpack_from(payload)
    start = align(PREAMBLE.size + h_len)
    data = payload[start : start + d_len]
    body = PREAMBLE.pack(magic, version, flags, len(header), len(data)) + header
    body += bytes(align(len(body)) - len(body)) + data
    return body + struct.pack("<Q", xxhash.xxh3_64_intdigest(body)) if flags & 2 else body


def mutate_header(rng: random.Random, payload: bytes) -> bytes:
    h_len = PREAMBLE.unpack_from(payload)[3]
    doc = json.loads(payload[PREAMBLE.size : PREAMBLE.size + h_len])
    if doc["tensors"] and rng.random() < 0.8:
        item = rng.choice(doc["tensors"])
        item[rng.choice(sorted(item))] = rng.choice(HOSTILE_VALUES)
    else:
        doc[rng.choice(["meta", "tensors", "extra"])] = rng.choice(HOSTILE_VALUES)
    return reseal(payload, json.dumps(doc).encode())


def mutate_bytes(rng: random.Random, payload: bytes) -> bytes:
    buf = bytearray(payload)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        at = rng.randrange(len(buf)) if buf else 0
        if op == 0 and buf:
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif op == 3:
            del buf[at : at + rng.randint(1, 16)]
        elif op == 4:
            del buf[at:]
        else:
            buf += rng.randbytes(rng.randint(1, 64))
    if rng.random() < 0.3 and len(buf) >= PREAMBLE.size:  # often keep the checksum right
        buf[-8:] = struct.pack("<Q", xxhash.xxh3_64_intdigest(bytes(buf[:-8])))
    return bytes(buf)


def check_one(data: bytes, errors: Counter[str]) -> None:
    """Decode ``data`` four ways; anything but SerializationError is a bug."""
    for source, kwargs in (
        (data, {}),  # immutable: a verified copy (fused hash)
        (bytearray(data), {}),  # writable: zero-copy views, structure only
        (bytearray(data), {"verify": True}),  # zero-copy, verified in place
        (data, {"copy": True, "verify": False}),  # a copy without the hash
    ):
        try:
            state = deserialize_state(source, **kwargs)  # type: ignore[arg-type]
            for t in state.tensors.values():
                t.reshape(-1).view(torch.uint8).sum()
            inspect_envelope(source)
        except SerializationError as exc:
            errors[str(exc).split(":")[0][:40]] += 1


def run_mutation(seconds: float, seed: int, inputs: int | None = None) -> int:
    rng = random.Random(seed)
    pool, errors, tried = seeds(), Counter[str](), 0
    started = time.monotonic()
    deadline = started + seconds
    while tried < inputs if inputs is not None else time.monotonic() < deadline:
        base = rng.choice(pool)
        data = mutate_header(rng, base) if rng.random() < 0.4 else mutate_bytes(rng, base)
        try:
            check_one(data, errors)
        except Exception:
            print(f"UNEXPECTED after {tried} inputs; input hex: {data.hex()}")
            traceback.print_exc()
            return 1
        tried += 1
    elapsed = time.monotonic() - started
    print(f"{tried} inputs tried in {elapsed:.0f} s (seed {seed}), 0 unexpected exceptions")
    for reason, n in errors.most_common(12):
        print(f"  {n:8d}  {reason}")
    return 0


def run_atheris(argv: list[str]) -> int:  # pragma: no cover - optional tool
    import atheris

    pool, errors = seeds(), Counter[str]()

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        base = pool[fdp.ConsumeIntInRange(0, len(pool) - 1)]
        rng = random.Random(fdp.ConsumeInt(4))
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        candidate = raw if rng.random() < 0.2 else mutate_bytes(rng, base[: len(base)] + raw[:8])
        check_one(candidate, errors)

    from worldmodel_sdk.wire import _layout, envelope, stream

    for module in (_layout, envelope, stream):  # coverage feedback for the decoder only
        for value in vars(module).values():
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                atheris.instrument_func(value)
    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inputs", type=int, default=None, help="stop after N inputs")
    parser.add_argument("--atheris", action="store_true")
    args, rest = parser.parse_known_args()
    if args.atheris:
        return run_atheris([a for a in rest if a != "--"])
    return run_mutation(args.seconds, args.seed, args.inputs)


if __name__ == "__main__":
    sys.exit(main())
