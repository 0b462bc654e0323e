import re
from collections.abc import Mapping

import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    ActionSpec,
    ConditionPayload,
    ContractError,
    LossOutput,
    ModelOutput,
    State,
    Trajectory,
    WorldModelInput,
)
from worldmodel_sdk.payloads.action import flatten_action


def test_state_validate_and_helpers():
    s = State({"h": torch.zeros(4, 3), "z": torch.ones(4, 2)}, meta={"step": 1})
    assert s.validate() is s
    assert s.batch_size == 4 and list(s.keys()) == ["h", "z"] and "h" in s and len(s) == 2
    assert s.detach().tensors["z"].equal(s.tensors["z"])
    clone = s.clone()
    clone.tensors["h"].add_(1)
    assert s.tensors["h"].sum() == 0
    assert s.replace(h=torch.ones(4, 3))["h"].sum() == 12


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            State({"h": torch.zeros(4, 3), "z": torch.zeros(5, 2)}),
            "State['z'] has batch size 5; expected 4 (the batch size of State['h']), shape (5, 2)",
        ),
        (State({"h": torch.tensor(1.0)}), "State['h'] is 0-dimensional"),
        (State({"h": [1, 2]}), "State['h'] must be a torch.Tensor; got list"),  # type: ignore[dict-item]
        (State({"h": torch.zeros(1)}, meta={"x": object()}), "State.meta must be JSON-able"),
        (State({"h": torch.zeros(1)}, meta={"x": float("nan")}), "State.meta must be JSON-able"),
    ],
)
def test_state_validate_errors(state, message):
    with pytest.raises(ContractError, match=re.escape(message)):
        state.validate()


def test_state_missing_key_names_known_keys():
    with pytest.raises(KeyError, match=re.escape("State has no tensor 'q'; it holds: h")):
        State({"h": torch.zeros(1)})["q"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (ActionPayload(kind="teleport", tensor=torch.zeros(2)), "ActionPayload.kind is 'teleport'"),  # type: ignore[arg-type]
        (
            ActionPayload(kind="discrete", tensor=torch.zeros(2)),
            "ActionPayload.tensor of a discrete action must hold integers",
        ),
        (
            ActionPayload(kind="continuous", tensor=torch.zeros(2, dtype=torch.long)),
            "of a continuous action must be floating",
        ),
        (
            ActionPayload(kind="continuous", tensor=None),
            "ActionPayload.tensor must be a torch.Tensor; got NoneType",
        ),
        (
            ActionPayload(kind="joint", tensor=torch.zeros(2)),
            "a joint ActionPayload carries agents",
        ),
        (
            ActionPayload(kind="joint", agents={"a": torch.zeros(2), "b": torch.zeros(3)}),
            "joint ActionPayload agents disagree on batch size: {'a': 2, 'b': 3}",
        ),
        (
            ActionPayload(kind="discrete", tensor=torch.zeros(2, dtype=torch.long), agents={}),
            "takes tensor=..., not agents=...",
        ),
    ],
)
def test_action_payload_validate(payload, message):
    with pytest.raises(ContractError, match=re.escape(message)):
        payload.validate()


def test_action_payload_api_version():
    with pytest.raises(
        ContractError, match=re.escape("unsupported api_version 'v9'; expected one of ('v0.2',)")
    ):
        ActionPayload(kind="discrete", tensor=torch.zeros(2, dtype=torch.long)).validate(
            api_version="v9"
        )


def test_flatten_action_encodings():
    spec = ActionSpec(
        kind="joint",
        agents={
            "agent_10": ActionSpec(kind="discrete", num_actions=3),
            "agent_2": ActionSpec(kind="multi_discrete", nvec=(2, 2)),
            "agent_1": ActionSpec(kind="continuous", shape=(1,)),
        },
    )
    action = ActionPayload(
        kind="joint",
        agents={
            "agent_10": torch.tensor([2]),
            "agent_2": torch.tensor([[1, 0]]),
            "agent_1": torch.tensor([[0.5]]),
        },
    )
    flat = flatten_action(spec, action)
    assert flat.tolist() == [[0.5, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]]
    assert flat.shape[-1] == spec.flat_size
    assert action.packed().tolist() == [[0.5, 1.0, 0.0, 2.0]]


def test_flatten_action_refuses_a_bare_tensor_for_a_joint_spec():
    spec = ActionSpec(kind="joint", agents={"a": ActionSpec(kind="discrete", num_actions=2)})
    with pytest.raises(
        ContractError,
        match=re.escape(
            "a joint action over ['a'] must be an ActionPayload with kind='joint'; got Tensor"
        ),
    ):
        flatten_action(spec, torch.zeros(2, dtype=torch.long))


def test_condition_payload_validation():
    ok = ConditionPayload(tensors={"goal": torch.zeros(2, 3)}, extras={"acme.goal": "door"})
    assert (
        ok.validate(strict=True, allowed_extra_keys={"acme.goal"}, extra_schema={"acme.goal": str})
        is ok
    )
    with pytest.raises(
        ContractError, match=re.escape("key 'goal' is not namespaced; expected 'namespace.name'")
    ):
        ConditionPayload(extras={"goal": 1}).validate()
    with pytest.raises(
        ContractError, match=re.escape("key 'acme.x' is not allowed; allowed keys: none")
    ):
        ConditionPayload(extras={"acme.x": 1}).validate(strict=True)
    with pytest.raises(ContractError, match=re.escape("allowed keys: ['acme.y']")):
        ConditionPayload(extras={"acme.x": 1}).validate(allowed_extra_keys=["acme.y"])
    with pytest.raises(
        ContractError, match=re.escape("extras['acme.x'] must be int | float; got str 'a'")
    ):
        ConditionPayload(extras={"acme.x": "a"}).validate(extra_schema={"acme.x": (int, float)})
    with pytest.raises(ContractError, match="must be JSON-able"):
        ConditionPayload(extras={"acme.x": {1, 2}}).validate()
    with pytest.raises(ContractError, match="unsupported api_version"):
        ConditionPayload().validate(api_version="v0.1")


def _states(n: int, batch: int = 2) -> list[State]:
    return [State({"h": torch.zeros(batch, 3)}) for _ in range(n)]


def test_trajectory_invariants():
    t = Trajectory(
        states=_states(4),
        actions=torch.zeros(3, 2, 1),
        rewards=torch.zeros(3, 2),
        values=torch.zeros(4, 2),
        continues=torch.ones(3, 2),
    )
    assert t.horizon == 3 and t.batch_size == 2 and t.stacked("h").shape == (4, 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"states": _states(3), "actions": torch.zeros(3, 2, 1)},
            "Trajectory has 3 states and 3 actions; expected len(states) == T + 1 = 4",
        ),
        (
            {"states": _states(4), "actions": torch.zeros(3)},
            "Trajectory.actions must be a tensor [T, B, ...]; got (3,)",
        ),
        (
            {"states": _states(4, batch=5), "actions": torch.zeros(3, 2)},
            "Trajectory.states[0] has batch size 5; expected 2",
        ),
        (
            {"states": _states(4), "actions": torch.zeros(3, 2), "rewards": torch.zeros(4, 2)},
            "Trajectory.rewards has shape (4, 2); expected (3, 2)",
        ),
        (
            {"states": _states(4), "actions": torch.zeros(3, 2), "values": torch.zeros(3, 2)},
            "Trajectory.values has shape (3, 2); expected (4, 2)",
        ),
        (
            {"states": _states(4), "actions": torch.zeros(3, 2), "continues": torch.zeros(3)},
            "Trajectory.continues has shape (3,); expected (3, 2)",
        ),
        (
            {
                "states": _states(4),
                "actions": torch.zeros(3, 2),
                "predictions": {"obs": torch.zeros(4, 2, 1)},
            },
            "Trajectory.predictions['obs'] has shape (4, 2, 1); expected (3, 2, ...)",
        ),
    ],
)
def test_trajectory_invariant_errors(kwargs, message):
    with pytest.raises(ContractError, match=re.escape(message)):
        Trajectory(**kwargs)


def test_loss_output_items():
    loss = LossOutput(
        total=torch.tensor(3.0), components={"a": torch.tensor(1.0), "b": torch.tensor(2.0)}
    )
    assert [k for k, _ in loss.items()] == ["total", "a", "b"]


def test_state_is_a_read_only_mapping_of_its_tensors():
    h, z = torch.zeros(4, 3), torch.ones(4, 2)
    s = State({"h": h, "z": z}, meta={"step": 1})
    assert isinstance(s, Mapping) and dict(s) == {"h": h, "z": z}
    assert (lambda **kw: kw)(**s) == {"h": h, "z": z}
    assert list(s.keys()) == ["h", "z"] and list(s.values()) == [h, z]
    assert list(s.items()) == [("h", h), ("z", z)] and s.get("q") is None and s.get("h") is h
    with pytest.raises(TypeError, match="does not support item assignment"):
        s["q"] = h  # type: ignore[index]
    with pytest.raises(TypeError, match="does not support item deletion"):
        del s["h"]  # type: ignore[attr-defined]
    twin = State({"h": h, "z": z})
    assert s == s and s != twin and len({s, twin}) == 2  # identity, as before


def test_state_repr_shows_layout_not_values():
    s = State({"h": torch.zeros(4, 128), "k": torch.zeros(4, dtype=torch.int64)}, meta={"a": 1})
    assert repr(s) == (
        "State(batch_size=4, tensors={'h': float32[4, 128] cpu, 'k': int64[4] cpu}, "
        "meta_keys=['a'])"
    )
    assert repr(State({})) == "State(batch_size=0, tensors={})"
    assert repr(State({"h": [1]})) == "State(batch_size=?, tensors={'h': list})"  # type: ignore[dict-item]
    # Tensors on the meta device have no values at all: repr must never need them.
    huge = State({"h": torch.empty(1 << 20, 1 << 20, device="meta")})
    assert repr(huge) == "State(batch_size=1048576, tensors={'h': float32[1048576, 1048576] meta})"


def test_payload_reprs_show_layout_not_values():
    big = 1 << 30
    meta = torch.empty(big, 4, device="meta")  # no values at all: repr must never need them
    assert repr(ActionPayload(kind="continuous", tensor=meta)) == (
        f"ActionPayload(kind='continuous', tensor=float32[{big}, 4] meta)"
    )
    assert repr(ActionPayload(kind="discrete")) == "ActionPayload(kind='discrete', tensor=None)"
    joint = ActionPayload(kind="joint", agents={"a": torch.zeros(2, dtype=torch.int64)})
    assert repr(joint) == "ActionPayload(kind='joint', agents={'a': int64[2] cpu})"
    assert repr(ConditionPayload({"g": meta}, {"acme.goal": "door"})) == (
        f"ConditionPayload(tensors={{'g': float32[{big}, 4] meta}}, extras={{'acme.goal': 'door'}})"
    )
    assert repr(ModelOutput({"obs": meta})) == (
        f"ModelOutput(predictions={{'obs': float32[{big}, 4] meta}})"
    )
    out = ModelOutput({"obs": meta}, State({"h": meta}))
    assert repr(out).endswith(
        f"state=State(batch_size={big}, tensors={{'h': float32[{big}, 4] meta}}))"
    )
    batch = WorldModelInput({"a": meta}, actions=joint, rewards=meta[:, 0], sequence=True)
    assert repr(batch) == (
        f"WorldModelInput(obs={{'a': float32[{big}, 4] meta}}, actions={joint!r}, "
        f"rewards=float32[{big}] meta, sequence=True)"
    )


def test_trajectory_repr_shows_layout_not_values():
    big = 1 << 30
    states = [State({"h": torch.empty(big, 8, device="meta")}) for _ in range(3)]
    t = Trajectory(
        states=states,
        actions=torch.empty(2, big, 1, device="meta"),
        rewards=torch.empty(2, big, device="meta"),
        values=torch.empty(3, big, device="meta"),
        predictions={"obs": torch.empty(2, big, 5, dtype=torch.float16, device="meta")},
    )
    assert repr(t) == (
        f"Trajectory(T=2, batch_size={big}, states=3 (first: {{'h': float32[{big}, 8] meta}}), "
        f"actions=float32[2, {big}, 1] meta, rewards=float32[2, {big}] meta, "
        f"values=float32[3, {big}] meta, predictions={{'obs': float16[2, {big}, 5] meta}})"
    )
    short = Trajectory(states=_states(2), actions=torch.zeros(1, 2, dtype=torch.int64))
    assert repr(short) == (
        "Trajectory(T=1, batch_size=2, states=2 (first: {'h': float32[2, 3] cpu}), "
        "actions=int64[1, 2] cpu)"
    )
