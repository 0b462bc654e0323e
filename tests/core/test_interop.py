import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    ActionSpec,
    Capability,
    ConditionPayload,
    ConditionSpec,
    ContractError,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
)

from .models import TwoAgents


class Recorder(WorldModel):
    """Records what each protocol call received, to check conversions and sharing."""

    capabilities = frozenset(
        {
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.POSTERIOR_UPDATE,
            Capability.OBS_DECODER,
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, object] = {}

    def io_contract(self) -> IOContract:
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", 3))},
            action=ActionSpec(kind="continuous", shape=(2,)),
            state={"z": TensorSpec(shape=("B", 3))},
            prediction={"obs": TensorSpec(shape=("B", 3))},
            condition=ConditionSpec(tensors={"goal": TensorSpec(shape=("B", 1))}),
        )

    def encode(self, obs, deterministic=False):
        self.seen["obs"] = obs
        return State({"z": obs if isinstance(obs, torch.Tensor) else obs["obs"]})

    def transition(self, state, action, conditions=None, deterministic=False):
        self.seen.update(state=state, action=action, conditions=conditions)
        return State({"z": state["z"] + 1})

    def update(self, state, action, obs, conditions=None):
        self.seen.update(state=state, action=action, obs=obs)
        return State({"z": obs["obs"] if isinstance(obs, dict) else obs})

    def decode(self, state, conditions=None):
        return ModelOutput(predictions={"obs": state["z"]}, state=state)

    def loss(self, batch):
        return LossOutput(total=torch.zeros(()))


def _shares(tensor: object, array: np.ndarray) -> bool:
    return isinstance(tensor, torch.Tensor) and np.shares_memory(tensor.numpy(), array)


def test_numpy_observations_become_tensors_sharing_memory():
    model, obs = Recorder(), np.ones((2, 3), np.float32)
    assert _shares(model.encode(obs)["z"], obs)
    model.encode({"obs": obs})
    assert _shares(model.seen["obs"]["obs"], obs)  # type: ignore[index]


def test_numpy_actions_states_and_conditions_are_accepted_everywhere():
    model = Recorder()
    z, action, goal = np.zeros((2, 3), np.float32), np.ones((2, 2), np.float32), np.ones((2, 1))
    goal = goal.astype(np.float32)
    payload = ActionPayload(kind="continuous", tensor=action)  # type: ignore[arg-type]
    conditions = ConditionPayload(tensors={"goal": goal})  # type: ignore[dict-item]
    out = model.transition(State({"z": z}), payload, conditions)  # type: ignore[dict-item]
    assert torch.equal(out["z"], torch.ones(2, 3))
    seen = model.seen
    assert _shares(seen["state"]["z"], z) and _shares(seen["action"].tensor, action)  # type: ignore[attr-defined,index]
    assert _shares(seen["conditions"].tensors["goal"], goal)  # type: ignore[attr-defined]
    assert isinstance(payload.tensor, np.ndarray)  # the caller's payload is not modified
    model.transition(State({"z": z}), action, conditions=conditions)  # type: ignore[dict-item,arg-type]
    assert _shares(model.seen["action"], action)
    model.update(State({"z": torch.zeros(2, 3)}), action, z)  # type: ignore[arg-type]
    assert _shares(model.seen["obs"], z)


def test_numpy_joint_actions_are_accepted():
    model = TwoAgents()
    obs = {"agent_2": np.zeros((3, 4), np.float32), "agent_10": np.zeros((3, 6), np.float32)}
    state = model.encode(obs)  # type: ignore[arg-type]
    agents = {"agent_2": np.array([0, 1, 2]), "agent_10": np.zeros((3, 2), np.float32)}
    action = ActionPayload(kind="joint", agents=agents)  # type: ignore[arg-type]
    assert model.transition(state, action)["z"].shape == (3, 5)


def test_rollout_takes_numpy_action_sequences():
    model, z = Recorder(), np.zeros((2, 3), np.float32)
    actions = np.zeros((4, 2, 2), np.float32)
    trajectory = model.rollout(State({"z": z}), actions)  # type: ignore[arg-type,dict-item]
    assert trajectory.horizon == 4 and _shares(trajectory.actions, actions)
    steps = [ActionPayload(kind="continuous", tensor=a) for a in actions[:2]]  # type: ignore[arg-type]
    assert model.rollout(State({"z": torch.zeros(2, 3)}), steps).horizon == 2


def test_numpy_dtypes_are_checked_not_cast():
    model = Recorder()
    with pytest.raises(
        ContractError,
        match=re.escape("obs['obs'] has dtype float64; contract expects float32 [Recorder.encode]"),
    ):
        model.encode(np.zeros((2, 3)))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action_sequence has dtype float64; contract expects float32 [Recorder.rollout]"
        ),
    ):
        model.rollout(State({"z": torch.zeros(2, 3)}), np.zeros((4, 2, 2)))  # type: ignore[arg-type]
    with pytest.raises(
        ContractError,
        match=re.escape(
            "obs['obs'] is a numpy array of dtype object; torch has no tensor of that dtype "
            "(expected bool, integer, float or complex) [Recorder.encode]"
        ),
    ):
        model.encode({"obs": np.empty((2, 3), dtype=object)})  # type: ignore[dict-item]


def test_arrays_torch_cannot_view_are_copied():
    model = Recorder()
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    frozen = values.copy()
    frozen.flags.writeable = False
    swapped = values.astype(">f4")
    reversed_ = values[::-1, ::-1].copy()[::-1, ::-1]
    for obs in (frozen, swapped, reversed_):
        state = model.encode(obs)
        assert state["z"].dtype == torch.float32 and not _shares(state["z"], obs)
        assert state["z"].tolist() == values.tolist()


def test_tensors_pass_through_untouched():
    model, obs = Recorder(), torch.ones(2, 3)
    model.encode(obs)
    assert model.seen["obs"] is obs


def test_state_to_and_from_tensordict_share_memory():
    from tensordict import TensorDict

    state = State({"h": torch.zeros(4, 8), "k": torch.arange(4)}, meta={"step": 3})
    data = state.to_tensordict()
    assert isinstance(data, TensorDict) and data.batch_size == torch.Size([4])
    assert data.device == torch.device("cpu") and data["h"] is state["h"]
    back = State.from_tensordict(data, meta=state.meta)
    assert list(back) == ["h", "k"] and back["k"] is state["k"] and back.meta == {"step": 3}


def test_from_tensordict_refuses_what_a_state_cannot_hold():
    from tensordict import TensorDict

    nested = TensorDict({"a": {"b": torch.zeros(2)}}, batch_size=[2])
    with pytest.raises(
        ContractError,
        match=re.escape(
            "TensorDict entry ('a', 'b') is nested; a State holds flat names "
            "(call data.flatten_keys('.') first) [State.from_tensordict]"
        ),
    ):
        State.from_tensordict(nested)
    assert list(State.from_tensordict(nested.flatten_keys("."))) == ["a.b"]
    ragged = TensorDict({"a": torch.zeros(2, 3), "b": torch.zeros(3)}, batch_size=[])
    with pytest.raises(ContractError, match=re.escape("State['b'] has batch size 3; expected 2")):
        State.from_tensordict(ragged)
    with pytest.raises(
        ContractError,
        match=re.escape("State.from_tensordict expects a TensorDict; got dict"),
    ):
        State.from_tensordict({"a": torch.zeros(2)})  # type: ignore[arg-type]
    with pytest.raises(ContractError, match=re.escape("State['b'] has batch size 3")):
        State({"a": torch.zeros(2), "b": torch.zeros(3)}).to_tensordict()


def test_tensordict_absent_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensordict", None)  # makes `import tensordict` fail
    message = (
        "State.to_tensordict needs the optional package 'tensordict'; install it with "
        "pip install 'worldmodel-sdk[tensordict]'"
    )
    with pytest.raises(ImportError, match=re.escape(message)):
        State({"a": torch.zeros(2)}).to_tensordict()
    with pytest.raises(ImportError, match=re.escape("State.from_tensordict needs")):
        State.from_tensordict(object())  # type: ignore[arg-type]


def test_importing_the_sdk_does_not_import_tensordict():
    code = "import sys, worldmodel_sdk, worldmodel_sdk.models; print('tensordict' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
