"""Requests and trajectories through envelopes: exact round trips, clear refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    CapabilityError,
    ConditionPayload,
    ContractError,
    SerializationError,
    State,
    Trajectory,
)
from worldmodel_sdk.distributed import DistributedError
from worldmodel_sdk.distributed._codec import (
    decode_request,
    decode_trajectory,
    encode_request,
    encode_trajectory,
)
from worldmodel_sdk.distributed._worker import error_from_record, error_record


def _state(batch: int = 3) -> State:
    return State(
        {"h": torch.randn(batch, 4), "flag": torch.rand(batch, 2) > 0.5},
        meta={"model": "m", "step": 0},
    )


def test_request_with_tensor_actions_and_conditions_round_trips_exactly() -> None:
    state = _state()
    actions = torch.randn(5, 3, 2, dtype=torch.float64)
    conditions = ConditionPayload(
        tensors={"goal": torch.randn(3, 6)}, extras={"acme.goal_id": "door"}
    )
    got_state, got_actions, got_conditions = decode_request(
        encode_request(state, actions, conditions)
    )
    assert got_state.meta == state.meta
    assert list(got_state.tensors) == ["h", "flag"]
    assert all(torch.equal(got_state[k], state[k]) for k in state.tensors)
    assert got_state["flag"].dtype == torch.bool
    assert isinstance(got_actions, torch.Tensor)
    assert got_actions.dtype == torch.float64 and torch.equal(got_actions, actions)
    assert got_conditions is not None
    assert torch.equal(got_conditions.tensors["goal"], conditions.tensors["goal"])
    assert got_conditions.extras == {"acme.goal_id": "door"}


def test_request_with_joint_payload_sequence_keeps_agent_order() -> None:
    steps = [
        ActionPayload(
            kind="joint",
            agents={"agent_10": torch.randint(0, 5, (2,)), "agent_2": torch.randn(2, 3)},
        )
        for _ in range(4)
    ]
    _, actions, conditions = decode_request(encode_request(_state(2), steps, None))
    assert conditions is None
    assert isinstance(actions, ActionPayload) and actions.kind == "joint"
    assert list(actions.agents or {}) == ["agent_10", "agent_2"]
    for name in ("agent_10", "agent_2"):
        want = torch.stack([s.agents[name] for s in steps])  # type: ignore[index]
        assert torch.equal((actions.agents or {})[name], want)


def test_request_with_discrete_payload_keeps_kind() -> None:
    payload = ActionPayload(kind="discrete", tensor=torch.randint(0, 4, (6, 3)))
    _, actions, _ = decode_request(encode_request(_state(), payload, None))
    assert isinstance(actions, ActionPayload) and actions.kind == "discrete"
    assert actions.tensor is not None and torch.equal(actions.tensor, payload.tensor)


def test_an_empty_or_mixed_action_sequence_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match=re.escape("got a sequence of nothing")):
        encode_request(_state(), [], None)
    with pytest.raises(ContractError, match=re.escape("got a sequence of Tensor")):
        encode_request(_state(), [torch.zeros(3, 2)], None)  # type: ignore[list-item]


def _trajectory(horizon: int = 4, batch: int = 3) -> Trajectory:
    states = [
        State({"h": torch.randn(batch, 4), "z": torch.randn(batch, 2)}, {"t": t})
        for t in range(horizon + 1)
    ]
    return Trajectory(
        states=states,
        actions=torch.randn(horizon, batch, 2),
        rewards=torch.randn(horizon, batch),
        values=torch.randn(horizon + 1, batch),
        continues=torch.rand(horizon, batch),
        predictions={"obs": torch.randn(horizon, batch, 5)},
    )


def test_trajectory_round_trips_exactly_with_contiguous_states() -> None:
    want = _trajectory()
    got = decode_trajectory(encode_trajectory(want))
    assert got.horizon == want.horizon and got.batch_size == want.batch_size
    for a, b in zip(want.states, got.states, strict=True):
        assert a.meta == b.meta
        assert all(torch.equal(a[k], b[k]) and b[k].is_contiguous() for k in a.tensors)
    for name in ("actions", "rewards", "values", "continues"):
        assert torch.equal(getattr(want, name), getattr(got, name))
    assert got.predictions is not None and torch.equal(
        got.predictions["obs"], (want.predictions or {})["obs"]
    )


def test_trajectory_whose_states_differ_in_layout_round_trips() -> None:
    states = [State({"h": torch.randn(2, 3)}), State({"h": torch.randn(2, 3), "x": torch.ones(2)})]
    want = Trajectory(states=states, actions=torch.zeros(1, 2, 1))
    got = decode_trajectory(encode_trajectory(want))
    assert list(got.states[0].tensors) == ["h"] and list(got.states[1].tensors) == ["h", "x"]
    assert got.rewards is None and got.predictions is None
    assert torch.equal(got.states[1]["x"], torch.ones(2))


def test_a_non_envelope_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match=re.escape("got ndarray of float32")):
        decode_trajectory(np.zeros(4, dtype=np.float32))
    with pytest.raises(SerializationError, match=re.escape("got bytes")):
        decode_request(b"WMSD")
    damaged = encode_trajectory(_trajectory()).copy()
    damaged[-20] ^= 0xFF
    with pytest.raises(SerializationError):
        decode_trajectory(damaged)


def test_errors_come_back_with_their_type_and_message() -> None:
    sdk = error_from_record(error_record(CapabilityError("no decode")), DistributedError)
    assert type(sdk) is CapabilityError and str(sdk) == "no decode"
    builtin = error_from_record(error_record(ZeroDivisionError("x")), DistributedError)
    assert type(builtin) is ZeroDivisionError
    other = error_from_record({"type": "AcmeError", "message": "bad"}, DistributedError)
    assert type(other) is DistributedError and str(other) == "worker raised AcmeError: bad"
