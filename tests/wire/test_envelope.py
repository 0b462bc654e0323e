from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from worldmodel_sdk.errors import SerializationError
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import (
    DTYPE_BY_NAME,
    deserialize_state,
    envelope_length,
    serialize_into,
    serialize_state,
    serialized_size,
)
from worldmodel_sdk.wire._layout import ALIGNMENT, PREAMBLE, WIRE_DTYPES

from .helpers import assert_same, bits

ALL_DTYPES = sorted(DTYPE_BY_NAME)


def sample(dtype: torch.dtype, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Arbitrary bytes viewed as ``dtype``: exercises every bit pattern, NaNs included."""
    g = torch.Generator().manual_seed(seed)
    n = 1
    for d in shape:
        n *= d
    raw = torch.randint(0, 256, (n * dtype.itemsize,), dtype=torch.uint8, generator=g)
    if dtype is torch.bool:
        raw = raw % 2
    return raw.view(dtype).reshape(shape)


def roundtrip(state: State, **kwargs: object) -> State:
    return State.deserialize(state.serialize(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(3, 5), (), (0,), (2, 0, 3), (1,)])
def test_every_dtype_and_shape_round_trips_bitwise(name: str, shape: tuple[int, ...]) -> None:
    dtype = DTYPE_BY_NAME[name]
    state = State({"x": sample(dtype, shape), "y": sample(dtype, (2, 1), seed=1)})
    back = roundtrip(state)
    assert list(back.tensors) == ["x", "y"]
    for key in state.tensors:
        assert_same(back[key], state[key])


def test_core_dtypes_are_named_canonically() -> None:
    for name in ("bool", "bfloat16", "float16", "float32", "complex64", "complex128", "uint64"):
        assert name in DTYPE_BY_NAME
    assert "qint8" not in DTYPE_BY_NAME and "int4" not in DTYPE_BY_NAME


def test_the_torch_free_dtype_table_matches_torch() -> None:
    # The header parser (and so ``wmsdk inspect``) knows dtypes by name and size alone.
    assert {name: dtype.itemsize for name, dtype in DTYPE_BY_NAME.items()} == WIRE_DTYPES


def test_metadata_round_trips_and_is_a_fresh_dict() -> None:
    state = State({"h": torch.ones(2, 3)}, meta={"step": 3, "model": "vae", "ok": [1, None]})
    payload = state.serialize()
    first, second = State.deserialize(payload), State.deserialize(payload)
    assert first.meta == state.meta
    assert first.meta is not second.meta


def test_empty_state_round_trips() -> None:
    back = roundtrip(State({}))
    assert back.tensors == {} and back.meta is None


def test_non_contiguous_and_lazy_views_are_written_as_values() -> None:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    z = torch.complex(torch.randn(3), torch.randn(3))
    state = State({"t": base.t(), "s": base[:, ::2], "conj": z.conj(), "neg": z.conj().imag})
    back = roundtrip(state)
    assert torch.equal(back["t"], base.t()) and back["t"].is_contiguous()
    assert torch.equal(back["s"], base[:, ::2])
    assert torch.equal(back["conj"], z.conj()) and not back["conj"].is_conj()
    assert torch.equal(back["neg"], -z.imag) and not back["neg"].is_neg()


def test_requires_grad_is_not_carried() -> None:
    state = State({"w": torch.ones(2, 2, requires_grad=True)})
    back = roundtrip(state)
    assert not back["w"].requires_grad
    assert torch.equal(back["w"], torch.ones(2, 2))


def test_same_state_gives_same_bytes_and_canonical_header() -> None:
    state = State({"b": torch.zeros(1, 2), "a": torch.ones(1)}, meta={"z": 1, "a": [2]})
    payload = state.serialize()
    assert payload == state.clone().serialize()
    (h_len,) = PREAMBLE.unpack_from(payload)[3:4]
    text = payload[PREAMBLE.size : PREAMBLE.size + h_len].decode()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert text.startswith('{"meta":{"a":[2],"z":1},"tensors":[{"dtype":"float32"')


def test_states_of_one_layout_each_get_their_own_bytes_across_threads() -> None:
    # Small envelopes are assembled in scratch buffers their (shared) plan keeps.
    def work(seed: int) -> list[tuple[State, bytes]]:
        g = torch.Generator().manual_seed(seed)
        states = [
            State({"h": torch.randn(2, 8, generator=g), "b": torch.ones(2)}) for _ in range(200)
        ]
        return [(s, s.serialize()) for s in states]

    with ThreadPoolExecutor(4) as pool:
        results = [pair for batch in pool.map(work, range(4)) for pair in batch]
    for state, payload in results:
        back = State.deserialize(payload)
        assert torch.equal(back["h"], state["h"]) and torch.equal(back["b"], state["b"])
    assert len({payload for _, payload in results}) == len(results)


def test_tensor_data_is_64_byte_aligned_in_the_envelope() -> None:
    state = State({"a": torch.ones(3, dtype=torch.int8), "b": torch.ones(5, dtype=torch.float64)})
    buf = bytearray(state.serialize())
    back = State.deserialize(buf)
    origin = torch.frombuffer(buf, dtype=torch.uint8).data_ptr()
    for t in back.tensors.values():
        assert (t.data_ptr() - origin) % ALIGNMENT == 0


def test_writable_buffer_gives_views_not_copies() -> None:
    buf = bytearray(State({"h": torch.zeros(2, 4)}).serialize())
    back = State.deserialize(buf, verify=False)
    back["h"][0, 0] = 7.0
    assert State.deserialize(bytes(buf), verify=False)["h"][0, 0] == 7.0
    with pytest.raises(BufferError):
        buf.extend(b"x")  # a live view pins the buffer: it cannot move under the tensor


def test_memoryview_input_is_zero_copy_too() -> None:
    buf = bytearray(State({"h": torch.zeros(3)}).serialize())
    back = State.deserialize(memoryview(buf))
    buf_ptr = torch.frombuffer(buf, dtype=torch.uint8).data_ptr()
    assert buf_ptr <= back["h"].data_ptr() < buf_ptr + len(buf)


def test_copy_true_and_read_only_input_do_not_alias() -> None:
    payload = State({"h": torch.zeros(2)}).serialize()
    buf = bytearray(payload)
    copied = State.deserialize(buf, copy=True)
    buf.extend(b"")  # no live export: the copy does not pin the buffer
    from_bytes = State.deserialize(payload)
    from_bytes["h"][0] = 1.0  # writable without a warning, and the payload is untouched
    assert State.deserialize(payload)["h"][0] == 0.0
    assert copied["h"][0] == 0.0


def test_map_location_cpu_and_invalid() -> None:
    payload = State({"h": torch.ones(1)}).serialize()
    assert State.deserialize(payload, map_location="cpu")["h"].device.type == "cpu"
    with pytest.raises(SerializationError, match=re.escape("invalid map_location 'nowhere'")):
        State.deserialize(payload, map_location="nowhere")


def test_map_location_meta_is_refused() -> None:
    payload = State({"h": torch.ones(1)}).serialize()
    for location in ("meta", torch.device("meta")):
        with pytest.raises(
            SerializationError,
            match=r"^map_location 'meta' cannot hold tensor data; decode to 'cpu' instead$",
        ):
            State.deserialize(payload, map_location=location)
    with pytest.raises(SerializationError, match="map_location 'meta' cannot hold"):
        State.deserialize(State({}).serialize(), map_location="meta")  # even with no tensors


UNAVAILABLE = [
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available"),
    ),
    "cuda:99",
    pytest.param(
        "xpu",
        marks=pytest.mark.skipif(
            hasattr(torch, "xpu") and torch.xpu.is_available(), reason="XPU is available"
        ),
    ),
    pytest.param(
        "mps",
        marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available"),
    ),
]


@pytest.mark.parametrize("location", UNAVAILABLE)
def test_map_location_on_a_device_this_machine_lacks(location: str) -> None:
    payload = State({"h": torch.ones(1)}).serialize()
    prefix = f"map_location {location!r} is not available on this machine: "
    with pytest.raises(SerializationError, match=f"^{re.escape(prefix)}.") as info:
        State.deserialize(payload, map_location=location)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(SerializationError, match=f"^{re.escape(prefix)}"):
        State.deserialize(bytearray(payload), copy=True, map_location=torch.device(location))


def test_serialize_into_writes_the_same_bytes_in_place() -> None:
    state = State({"h": torch.randn(4, 3)}, meta={"k": 1})
    size = serialized_size(state)
    target = bytearray(size + 10)
    assert serialize_into(state, target, 10) == size
    assert bytes(target[10:]) == state.serialize()
    assert envelope_length(target[10:34]) == size
    with pytest.raises(SerializationError, match=re.escape(f"the envelope needs {size}")):
        serialize_into(state, bytearray(size - 1))
    with pytest.raises(SerializationError, match="needs a writable buffer"):
        serialize_into(state, bytes(size))


def test_checksum_can_be_left_out() -> None:
    state = State({"h": torch.randn(2)})
    payload = serialize_state(state, checksum=False)
    assert len(payload) == len(state.serialize()) - 8
    assert torch.equal(deserialize_state(payload)["h"], state["h"])


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            State({"q": torch.empty(2, dtype=torch.int4)}),
            "State['q'] has dtype torch.int4, which the wire format cannot represent",
        ),
        (
            State({"s": torch.eye(2).to_sparse()}),
            "State['s'] has layout torch.sparse_coo; only strided tensors serialize",
        ),
        (State({"m": torch.empty(2, device="meta")}), "State['m'] is on the meta device"),
        (State({"n": [1, 2]}), "State['n'] is a list, not a torch.Tensor"),  # type: ignore[dict-item]
        (State({3: torch.ones(1)}), "State keys must be non-empty str; got 3"),  # type: ignore[dict-item]
        (State({"": torch.ones(1)}), "State keys must be non-empty str; got ''"),
        (State({"h": torch.ones(1)}, meta={"x": float("nan")}), "State.meta must be JSON-able"),
        (State({"h": torch.ones(1)}, meta={"x": object()}), "State.meta must be JSON-able"),
        (State({"h": torch.ones(1)}, meta=[1]), "State.meta must be a dict or None; got list"),  # type: ignore[arg-type]
    ],
)
def test_unencodable_states_raise_serialization_error(state: State, message: str) -> None:
    with pytest.raises(SerializationError, match=re.escape(message)):
        state.serialize()


def test_unknown_version_or_format_on_write() -> None:
    state = State({"h": torch.ones(1)})
    with pytest.raises(SerializationError, match=re.escape("unknown wire version 'v2'")):
        state.serialize(version="v2")
    with pytest.raises(SerializationError, match=re.escape("unknown wire format 'json'")):
        state.serialize(format="json")


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@st.composite
def states(draw: st.DrawFn) -> State:
    keys = draw(st.lists(names, max_size=4, unique=True))
    tensors = {
        k: sample(DTYPE_BY_NAME[draw(st.sampled_from(ALL_DTYPES))], draw(shapes), seed=i)
        for i, k in enumerate(keys)
    }
    meta = draw(st.none() | st.dictionaries(names, st.integers() | st.text(max_size=5), max_size=3))
    return State(tensors, meta)


@settings(max_examples=60, deadline=None)
@given(state=states(), kind=st.sampled_from(["bytes", "bytearray", "memoryview", "copy"]))
def test_property_round_trip_any_state(state: State, kind: str) -> None:
    payload = state.serialize()
    source: bytes | bytearray | memoryview = payload
    if kind == "bytearray":
        source = bytearray(payload)
    elif kind == "memoryview":
        source = memoryview(bytearray(payload))
    back = State.deserialize(source, copy=kind == "copy")
    assert list(back.tensors) == list(state.tensors)
    assert back.meta == state.meta
    for key, value in state.tensors.items():
        assert_same(back[key], value)
    assert back.serialize() == payload  # an attached/decoded state re-serializes identically
    assert bits(back[key]) == bits(value) if state.tensors else True
