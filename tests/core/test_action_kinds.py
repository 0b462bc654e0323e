"""One home per action kind: a new kind is one class registered in `action_kinds.KINDS`."""

import inspect
import re
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from worldmodel_sdk import (
    ActionPayload,
    ActionSpec,
    ContractError,
    IOContract,
    TensorSpec,
    contract,
    validation,
)
from worldmodel_sdk.action_kinds import KINDS, Kind
from worldmodel_sdk.envs import world_model_env
from worldmodel_sdk.payloads import action as payload_action
from worldmodel_sdk.payloads.action import flatten_action


class Binary(Kind):
    """A vector of on/off switches: what a library might add."""

    name = "binary"
    integer = True

    def spec_error(self, spec):
        return None if spec.shape else "a binary ActionSpec needs a shape"

    def sized(self, size):
        return {"shape": (size,)}

    def sample_shape(self, spec):
        return spec.shape

    def flat_size(self, spec):
        return spec.shape[0]

    def flatten(self, spec, tensor):
        return tensor.float()

    def check_range(self, where, spec, value, min_max):
        low, high = min_max(value)
        if low < 0 or high > 1:
            raise ContractError(f"{where} holds values other than 0 and 1")

    def space(self, spec) -> Any:
        from gymnasium import spaces

        return spaces.MultiBinary(spec.shape[0])


def test_a_new_kind_is_one_registration(monkeypatch):
    monkeypatch.setitem(KINDS, "binary", Binary())
    spec = ActionSpec.sized("binary", 3)
    assert spec == ActionSpec(kind="binary", shape=(3,))
    assert (spec.dtype, spec.sample_shape, spec.flat_size) == (torch.int64, (3,), 3)
    assert IOContract(observation={"o": TensorSpec(shape=("B", 1))}, action=spec).fingerprint
    payload = ActionPayload(kind="binary", tensor=torch.tensor([[0, 1, 1]])).validate()
    validation.check_action(spec, payload, {})
    with pytest.raises(ContractError, match=re.escape("action holds values other than 0 and 1")):
        validation.check_action(spec, torch.tensor([[0, 2, 1]]), {})
    with pytest.raises(ContractError, match=re.escape("a binary action holds integers")):
        validation.check_action(spec, torch.zeros(1, 3), {})
    with pytest.raises(ValidationError, match="a binary ActionSpec needs a shape"):
        ActionSpec(kind="binary")
    assert flatten_action(spec, payload).tolist() == [[0.0, 1.0, 1.0]]
    assert spec.behaviour.space(spec).n == 3
    joint = ActionSpec(kind="joint", agents={"a": spec, "b": ActionSpec.sized("discrete", 2)})
    assert joint.flat_size == 5


def test_unknown_kinds_are_refused_with_the_known_ones():
    known = "('continuous', 'discrete', 'multi_discrete', 'joint')"
    with pytest.raises(
        ValidationError, match=re.escape(f"unknown action kind 'binary'; expected one of {known}")
    ):
        ActionSpec(kind="binary", shape=(3,))
    with pytest.raises(
        ContractError, match=re.escape(f"ActionPayload.kind is 'binary'; expected one of {known}")
    ):
        ActionPayload(kind="binary", tensor=torch.zeros(1, 3)).validate()


@pytest.mark.parametrize(
    ("kind", "size", "fields"),
    [
        ("continuous", 4, {"shape": (4,)}),
        ("discrete", 4, {"num_actions": 4}),
        ("multi_discrete", 4, {"nvec": (4,)}),
    ],
)
def test_sized_specs(kind, size, fields):
    assert ActionSpec.sized(kind, size) == ActionSpec(kind=kind, **fields)


@pytest.mark.parametrize("module", [contract, validation, payload_action, world_model_env])
def test_modules_ask_the_kind_instead_of_switching_on_its_name(module):
    source = inspect.getsource(module)
    assert not re.search(r"(?<!dtype\.)kind\s*(==|!=|in)\s*[(\"']", source)
