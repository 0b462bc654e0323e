"""Wire format and shared-memory benchmark: ratios against baselines, in one process.

Run: ``python benchmarks/serialization.py [--quick]``

States: small = three float32 tensors [1,512], [1,32,32], [1,32,32] (10 KiB);
large = the same at batch 1024 (10 MiB); huge = batch 10240 (100 MiB, for the O(1)
deserialize and attach checks). Baselines, measured here in the same run: pickle
protocol 5, torch.save/torch.load to memory, safetensors save/load of bytes, and a
plain memcpy of the same number of bytes into a fresh buffer. Every figure is the
median of several timed batches. Pickle and torch.load appear only as baselines.
"""

from __future__ import annotations

import ctypes
import io
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import safetensors.torch
import torch
import xxhash

from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import (
    attach_state,
    close_state,
    deserialize_state,
    publish_state,
    serialize_state,
    unlink_descriptor,
)

QUICK = "--quick" in sys.argv


def make_state(batch: int) -> State:
    g = torch.Generator().manual_seed(0)
    return State(
        {
            "deter": torch.randn(batch, 512, generator=g),
            "stoch": torch.randn(batch, 32, 32, generator=g),
            "logits": torch.randn(batch, 32, 32, generator=g),
        }
    )


def bench(fn: Callable[[], Any], *, budget: float = 0.25, batches: int = 7) -> float:
    """Median seconds per call over ``batches`` batches sized to fill ``budget``."""
    fn()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < budget / batches or n < 1:
        fn()
        n += 1
    if QUICK:
        batches = 3
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def memcpy_fresh(nbytes: int) -> Callable[[], Any]:
    src = torch.randn(nbytes // 4)
    raw = (ctypes.c_char * nbytes).from_address(src.data_ptr())
    return lambda: (src, bytes(raw))  # one malloc + one memcpy of nbytes


def shm_cycle(state: State, *, trusted: bool) -> Callable[[], None]:
    def cycle() -> None:
        descriptor = publish_state(state, checksum=not trusted)
        attached = attach_state(descriptor, verify=not trusted)
        close_state(attached)
        close_state(state)
        unlink_descriptor(descriptor)

    return cycle


def torch_round_trip(tensors: dict[str, torch.Tensor]) -> Callable[[], Any]:
    def run() -> Any:
        sink = io.BytesIO()
        torch.save(tensors, sink)
        sink.seek(0)
        return torch.load(sink, weights_only=True)

    return run


def us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f} us"


def row(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<52}{us(seconds)}  {note}")


def small_section(small: State) -> None:
    tensors = small.tensors
    payload = serialize_state(small)
    print("\nSmall state, 10 KiB (round trip = serialize + deserialize)")
    ours = bench(lambda: deserialize_state(serialize_state(small)))
    trusted = bench(lambda: deserialize_state(serialize_state(small, checksum=False), verify=False))
    ser = bench(lambda: serialize_state(small))
    de = bench(lambda: deserialize_state(payload))
    st = bench(lambda: safetensors.torch.load(safetensors.torch.save(tensors)))
    pk = bench(lambda: pickle.loads(pickle.dumps(tensors, protocol=5)))
    ts = bench(torch_round_trip(tensors))
    row("wmsdk round trip (checksum + verify)", ours, "target <= 10 us")
    row("wmsdk round trip (no checksum, no verify)", trusted)
    row("  of which serialize / deserialize", ser, f"/ {de * 1e6:.1f} us")
    row(
        "safetensors save + load (bytes)", st, f"-> wmsdk is {st / ours:.1f}x faster (target >= 4x)"
    )
    row("pickle protocol 5 dumps + loads", pk, f"-> wmsdk is {pk / ours:.1f}x faster")
    row("torch.save + torch.load (BytesIO)", ts, f"-> wmsdk is {ts / ours:.1f}x faster")
    print(f"  peer reference: ~37 us round trip -> wmsdk is {37e-6 / ours:.1f}x faster")


def large_section(large: State, huge: State) -> None:
    tensors = large.tensors
    nbytes = sum(t.nbytes for t in tensors.values())
    payload = serialize_state(large)
    writable = bytearray(payload)
    huge_writable = bytearray(serialize_state(huge))
    print(f"\nLarge state, {nbytes / 2**20:.0f} MiB")
    memcpy = bench(memcpy_fresh(nbytes))
    ser = bench(lambda: serialize_state(large, checksum=False))
    ser_ck = bench(lambda: serialize_state(large))
    view = memoryview(writable)
    hash_t = bench(lambda: xxhash.xxh3_64_intdigest(view))
    row("memcpy of the same bytes into a fresh buffer", memcpy, "(baseline)")
    row("wmsdk serialize, checksum excluded", ser, f"= {ser / memcpy:.2f}x memcpy (target <= 1.5x)")
    row("wmsdk serialize with checksum", ser_ck, f"= {ser_ck / memcpy:.2f}x memcpy")
    row("XXH3-64 checksum alone", hash_t, f"= {nbytes / hash_t / 1e9:.1f} GB/s (target >= 10)")
    de = bench(lambda: deserialize_state(writable, verify=False))
    de_huge = bench(lambda: deserialize_state(huge_writable, verify=False))
    de_ck = bench(lambda: deserialize_state(writable))
    de_bytes = bench(lambda: deserialize_state(payload, verify=False))
    row("wmsdk deserialize, writable 10 MiB, no verify", de, "target <= 50 us")
    row(
        "wmsdk deserialize, writable 100 MiB, no verify",
        de_huge,
        f"= {de_huge / de:.2f}x the 10 MiB time (O(1))",
    )
    row(
        "wmsdk deserialize, writable 10 MiB, verify",
        de_ck,
        f"= no-verify + {(de_ck - de) / hash_t:.2f}x hash time",
    )
    row("wmsdk deserialize, immutable bytes (one copy)", de_bytes)
    st_save = bench(lambda: safetensors.torch.save(tensors))
    st_blob = safetensors.torch.save(tensors)
    st_load = bench(lambda: safetensors.torch.load(st_blob))
    pk = bench(lambda: pickle.dumps(tensors, protocol=5))
    pk_blob = pickle.dumps(tensors, protocol=5)
    pk_load = bench(lambda: pickle.loads(pk_blob))
    ts = bench(torch_round_trip(tensors))
    row("safetensors save (bytes)", st_save, f"-> wmsdk serialize {st_save / ser_ck:.1f}x faster")
    row("safetensors load (bytes)", st_load, f"-> wmsdk deserialize {st_load / de_ck:.1f}x faster")
    row("pickle 5 dumps / loads", pk, f"/ {pk_load * 1e6:.1f} us")
    row("torch.save + torch.load round trip", ts)
    print(
        f"  peer reference: ~13 ms serialize, ~0.7 ms deserialize -> wmsdk "
        f"{13e-3 / ser_ck:.0f}x / {0.7e-3 / de_ck:.0f}x faster"
    )
    shm_section(large, huge, memcpy)


def shm_section(large: State, huge: State, memcpy: float) -> None:
    print("\nShared memory, large state (publish + attach + close + unlink)")
    full = bench(shm_cycle(large, trusted=False), budget=0.5)
    trusted = bench(shm_cycle(large, trusted=True), budget=0.5)
    row("cycle with checksum + verified attach", full, f"= {full / memcpy:.1f}x memcpy")
    row(
        "cycle, trusted (no checksum, attach unverified)",
        trusted,
        f"= {trusted / memcpy:.1f}x memcpy (target <= 1.5 ms)",
    )
    for label, state in (("10 MiB", large), ("100 MiB", huge)):
        descriptor = publish_state(state, checksum=False)
        attach = bench(lambda d=descriptor: close_state(attach_state(d, verify=False)))
        row(f"attach + close alone, {label}, unverified", attach)
        close_state(state, unlink=True)
    print(f"  peer reference: ~8 ms cycle -> wmsdk {8e-3 / trusted:.1f}x faster (trusted)")


def main() -> None:
    torch.set_num_threads(1)
    print(
        f"worldmodel-sdk wire benchmark (torch {torch.__version__}, python "
        f"{sys.version.split()[0]}{', quick' if QUICK else ''})"
    )
    small_section(make_state(1))
    large_section(make_state(1024), make_state(10240))


if __name__ == "__main__":
    main()
