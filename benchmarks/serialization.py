"""Wire format and shared-memory benchmark: every figure and baseline measured in this run.

Run: ``python benchmarks/serialization.py [--quick]``

States: small = three float32 tensors [1,512], [1,32,32], [1,32,32] (10 KiB);
large = the same at batch 1024 (10 MiB); huge = batch 10240 (100 MiB, for the O(1)
checks). Figures are CPU time (user + system) of this process: the minimum over
many short batches, so that other processes on a shared machine inflate them as
little as possible; a subject and its baseline run in alternating batches, so
both see the same load. Baselines and peers are measured here, in the same run,
and compared like with like: copying reads with copying reads (safetensors and
pickle load from bytes, which copy), zero-copy reads with building the same views
directly (``np.frombuffer`` + ``torch.from_numpy`` over the buffer), and shared
memory with the raw POSIX segment floor (create, write, map, unmap, unlink; no
header, no checksum). Every target prints as met or not met with its ratio.

A checksum has to read every byte once more. Where a target leaves less room than
that read costs, the hardware bound is printed beside the target: the baseline plus
XXH3 over the same number of bytes while they are in cache (a `CHUNK`-sized buffer
hashed repeatedly), both measured in this run. The cheapest a fused copy-and-hash
can be is that sum.
"""

from __future__ import annotations

import ctypes
import io
import mmap
import os
import pickle
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
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
from worldmodel_sdk.wire._encode import CHUNK
from worldmodel_sdk.wire._segments import _posixshmem

QUICK = "--quick" in sys.argv
STREAM = 8
"""Back-to-back cycles per batch when measuring a reused segment's steady state."""
RESULTS: list[tuple[str, bool, str]] = []


def make_state(batch: int) -> State:
    g = torch.Generator().manual_seed(0)
    return State(
        {
            "deter": torch.randn(batch, 512, generator=g),
            "stoch": torch.randn(batch, 32, 32, generator=g),
            "logits": torch.randn(batch, 32, 32, generator=g),
        }
    )


def cpu(*fns: Callable[[], Any], budget: float = 0.4, calls: int = 1) -> float | tuple[float, ...]:
    """Minimum CPU seconds per call of each function over short interleaved batches.

    With several functions, their batches alternate, so a subject and its baseline
    see the same load on a shared machine; each gets about ``budget`` seconds. A
    batch makes at least ``calls`` calls of its function, back to back.
    """
    sizes = []
    for fn in fns:
        fn()
        start, n = time.process_time(), 0
        while time.process_time() - start < 0.002 or n < calls:
            fn()
            n += 1
        sizes.append((n, max(time.process_time() - start, 1e-6)))
    rounds = min(max(5, int(budget / max(t for _, t in sizes))), 20 if QUICK else 400)
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, (fn, (n, _)) in enumerate(zip(fns, sizes, strict=True)):
            t0 = time.process_time()
            for _ in range(n):
                fn()
            best[i] = min(best[i], (time.process_time() - t0) / n)
    return best[0] if len(fns) == 1 else tuple(best)


def pair(
    fn: Callable[[], Any], baseline: Callable[[], Any], budget: float = 0.8, calls: int = 1
) -> tuple[float, float]:
    """(fn, baseline) minimum CPU seconds per call, measured interleaved."""
    a, b = cast(tuple[float, float], cpu(fn, baseline, budget=budget, calls=calls))
    return a, b


def us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f} us"


def row(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<56}{us(seconds)}  {note}")


def target(label: str, value: float, limit: float, unit: str, floor: float | None = None) -> None:
    met = value <= limit
    if unit == "x":
        bound = "" if floor is None else f"; hardware bound {floor:.2f}x"
        text = f"{value:.2f}x (target <= {limit:g}x{bound})"
    else:
        text = f"{value * 1e6:.1f} us (target <= {limit * 1e6:g} us, ratio {value / limit:.2f})"
    RESULTS.append((label, met, text))


def memcpy_fresh(nbytes: int) -> Callable[[], Any]:
    src = torch.randn(nbytes // 4)
    raw = (ctypes.c_char * nbytes).from_address(src.data_ptr())
    return lambda: (src, bytes(raw))  # one malloc + one memcpy of nbytes


def cached_hash(nbytes: int) -> Callable[[], Any]:
    """XXH3 over ``nbytes`` bytes that are in cache: one CHUNK-sized buffer, again and again."""
    chunk = memoryview(bytearray(np.random.default_rng(0).bytes(CHUNK)))

    def run() -> int:
        hasher = xxhash.xxh3_64()
        for _ in range(nbytes // CHUNK):
            hasher.update(chunk)
        hasher.update(chunk[: nbytes % CHUNK])
        return hasher.intdigest()

    return run


def memcpy_warm(nbytes: int) -> Callable[[], Any]:
    """memcpy into the same, already touched buffer: what rewriting a reused segment costs."""
    src = torch.randn(nbytes // 4)
    dst = torch.empty_like(src)
    return lambda: ctypes.memmove(dst.data_ptr(), src.data_ptr(), nbytes)


def direct_views(buffer: bytearray, state: State) -> Callable[[], Any]:
    """The zero-copy floor: the same views built straight from known offsets."""
    specs, offset = [], 0
    for t in state.tensors.values():
        specs.append((t.numel(), offset, tuple(t.shape)))
        offset += t.nbytes

    def run() -> Any:
        return [
            torch.from_numpy(np.frombuffer(buffer, np.float32, n, at).reshape(shape))
            for n, at, shape in specs
        ]

    return run


def small_section(small: State) -> None:
    tensors = small.tensors
    payload = serialize_state(small)
    print("\nSmall state, 10 KiB (round trip = serialize + deserialize of the bytes)")
    ours = cpu(lambda: State.deserialize(small.serialize()))
    ser = cpu(lambda: small.serialize())
    de = cpu(lambda: State.deserialize(payload))
    st = cpu(lambda: safetensors.torch.load(safetensors.torch.save(tensors)))
    pk = cpu(lambda: pickle.loads(pickle.dumps(tensors, protocol=5)))
    ts = cpu(torch_round_trip(tensors))
    row("wmsdk round trip, defaults (checksum written and verified)", ours)
    row("  of which serialize / deserialize", ser, f"/ {de * 1e6:.1f} us")
    row("safetensors save + load (bytes)", st, f"-> wmsdk {st / ours:.1f}x faster")
    row("pickle protocol 5 dumps + loads", pk, f"-> wmsdk {pk / ours:.1f}x faster")
    row("torch.save + torch.load (BytesIO)", ts, f"-> wmsdk {ts / ours:.1f}x faster")
    target("small round trip, defaults", ours, 15e-6, "us")


def torch_round_trip(tensors: dict[str, torch.Tensor]) -> Callable[[], Any]:
    def run() -> Any:
        sink = io.BytesIO()
        torch.save(tensors, sink)
        sink.seek(0)
        return torch.load(sink, weights_only=True)

    return run


def copying_section(large: State) -> float:
    tensors = large.tensors
    nbytes = sum(t.nbytes for t in tensors.values())
    payload = serialize_state(large)
    print(f"\nLarge state, {nbytes / 2**20:.0f} MiB: copying writes and reads")
    base = memcpy_fresh(nbytes)
    ser, memcpy = pair(lambda: serialize_state(large), base)
    ser_plain, memcpy_b = pair(lambda: serialize_state(large, checksum=False), base)
    de, memcpy_c = pair(lambda: deserialize_state(payload), base)
    de_plain, memcpy_d = pair(lambda: deserialize_state(payload, verify=False), base)
    st_save, memcpy_e = pair(lambda: safetensors.torch.save(tensors), base)
    st_blob = safetensors.torch.save(tensors)
    st_load, memcpy_f = pair(lambda: safetensors.torch.load(st_blob), base)
    pk_blob = pickle.dumps(tensors, protocol=5)
    pk_load, memcpy_g = pair(lambda: pickle.loads(pk_blob), base)
    hashed, memcpy_h = pair(cached_hash(nbytes), base)
    bound = 1 + hashed / memcpy_h
    row("memcpy of the same bytes into a fresh buffer", memcpy, "(baseline, measured beside each)")
    row("XXH3 of the same bytes from cache", hashed, f"= {hashed / memcpy_h:.2f}x memcpy")
    row("  hardware bound of a checksummed copy: memcpy + that", memcpy_h + hashed,
        f"= {bound:.2f}x memcpy")  # fmt: skip
    row("wmsdk serialize, default (checksum fused)", ser, f"= {ser / memcpy:.2f}x memcpy")
    row("wmsdk serialize, checksum=False", ser_plain, f"= {ser_plain / memcpy_b:.2f}x memcpy")
    row("safetensors save (bytes)", st_save, f"= {st_save / memcpy_e:.2f}x memcpy")
    row("wmsdk deserialize bytes, default (verified copy)", de, f"= {de / memcpy_c:.2f}x memcpy")
    row("wmsdk deserialize bytes, verify=False", de_plain, f"= {de_plain / memcpy_d:.2f}x memcpy")
    row("safetensors load (bytes, copies)", st_load, f"= {st_load / memcpy_f:.2f}x memcpy")
    row("pickle 5 loads (bytes, copies)", pk_load, f"= {pk_load / memcpy_g:.2f}x memcpy")
    target("default serialize vs memcpy", ser / memcpy, 1.2, "x", bound)
    target("verified deserialize of bytes vs memcpy", de / memcpy_c, 1.2, "x", bound)
    return memcpy


def zero_copy_section(large: State, huge: State) -> None:
    print("\nZero-copy reads of a writable buffer (defaults: structure checked, no hash)")
    for label, state in (("10 MiB", large), ("100 MiB", huge)):
        buffer = bytearray(serialize_state(state))
        ours = cpu(lambda b=buffer: deserialize_state(b))
        floor = cpu(direct_views(buffer, state))
        verified = cpu(lambda b=buffer: deserialize_state(b, verify=True), budget=0.2)
        row(f"wmsdk deserialize(bytearray), {label}, default", ours)
        row(f"  the same views built directly, {label}", floor, f"(wmsdk {ours / floor:.1f}x)")
        row(f"  wmsdk deserialize(bytearray, verify=True), {label}", verified)
        target(f"default deserialize(bytearray), {label}", ours, 50e-6, "us")


def raw_segment_floor(payload: bytes) -> Callable[[], None]:
    """Create, write, map, unmap, unlink a POSIX segment: no header, no checksum."""
    size = len(payload)

    def run() -> None:
        name = f"/wmsdk-bench.{os.getpid()}.floor"
        fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        try:
            os.ftruncate(fd, size)
            os.write(fd, payload)
            mapping = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
        finally:
            os.close(fd)
        mapping.close()
        _posixshmem.shm_unlink(name)

    return run


def shm_section(large: State, huge: State) -> None:
    print("\nShared memory, 10 MiB state")
    raw = b"".join(bytes(t.numpy().data) for t in large.tensors.values())

    def fresh() -> None:
        descriptor = publish_state(large)
        close_state(attach_state(descriptor))
        close_state(large, unlink=True)

    reuse_descriptor = publish_state(large)
    close_state(large)

    def steady() -> None:
        descriptor = publish_state(large, reuse=reuse_descriptor)
        close_state(attach_state(descriptor))
        close_state(large)

    fresh_t, floor = pair(fresh, raw_segment_floor(raw), budget=2.0)
    # Steady state is a stream of cycles: batches of STREAM back-to-back cycles, each
    # batch alternating with one of fresh raw segments (whose writes evict the caches,
    # so a batch's first cycle starts cold). The first line, one or two cycles per batch,
    # is what a publisher pays when fresh segments run between its cycles.
    after_fresh, floor_c = pair(steady, raw_segment_floor(raw), budget=2.0)
    steady_t, floor_b = pair(steady, raw_segment_floor(raw), budget=2.0, calls=STREAM)
    hashed, floor_h = pair(cached_hash(len(raw)), raw_segment_floor(raw))
    warm, floor_w = pair(memcpy_warm(len(raw)), raw_segment_floor(raw))
    unlink_descriptor(reuse_descriptor)
    fresh_bound = 1 + hashed / floor_h
    steady_bound = warm / floor_w + hashed / floor_h
    row("raw segment floor (create, write, map, unmap, unlink)", floor, "(baseline, beside each)")
    row("XXH3 of the same bytes from cache", hashed, f"= {hashed / floor_h:.2f}x the floor")
    row("memcpy into an already touched buffer", warm, f"= {warm / floor_w:.2f}x the floor")
    row("wmsdk fresh: publish + attach + close + unlink", fresh_t, f"= {fresh_t / floor:.2f}x")
    row("  hardware bound: raw floor + XXH3 from cache", floor_h + hashed, f"= {fresh_bound:.2f}x")
    row("wmsdk reused segment, right after a fresh one", after_fresh,
        f"= {after_fresh / floor_c:.2f}x")  # fmt: skip
    row(f"wmsdk reused segment, {STREAM} cycles back to back", steady_t,
        f"= {steady_t / floor_b:.2f}x")  # fmt: skip
    row("  hardware bound: warm memcpy + XXH3 from cache", warm + hashed, f"= {steady_bound:.2f}x")
    target("fresh segment cycle vs raw floor", fresh_t / floor, 1.15, "x", fresh_bound)
    target("steady-state reused cycle vs fresh floor", steady_t / floor_b, 0.5, "x", steady_bound)
    for label, state in (("10 MiB", large), ("100 MiB", huge)):
        descriptor = publish_state(state)
        attach = cpu(lambda d=descriptor: close_state(attach_state(d)))
        verified = cpu(lambda d=descriptor: close_state(attach_state(d, verify=True)), budget=0.2)
        row(f"attach + close, {label}, default", attach)
        row(f"  attach + close, {label}, verify=True", verified)
        close_state(state, unlink=True)
        target(f"default attach, {label}", attach, 50e-6, "us")


def main() -> None:
    torch.set_num_threads(1)
    print(
        f"worldmodel-sdk wire benchmark (torch {torch.__version__}, python "
        f"{sys.version.split()[0]}, CPU time, min of repeated batches"
        f"{', quick' if QUICK else ''})"
    )
    large, huge = make_state(1024), make_state(10240)
    small_section(make_state(1))
    copying_section(large)
    zero_copy_section(large, huge)
    shm_section(large, huge)
    print("\nTargets")
    for label, met, text in RESULTS:
        print(f"  {'met    ' if met else 'NOT MET'}  {label:<44}{text}")


if __name__ == "__main__":
    main()
