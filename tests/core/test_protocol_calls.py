"""Which protocol calls take conditions, and how their errors name the call."""

import re

import pytest
import torch

from worldmodel_sdk import ActionPayload, ConditionPayload, ContractError

from .goal_models import GoalRSSM


def _goal(batch: int = 2) -> ConditionPayload:
    return ConditionPayload(tensors={"goal": torch.zeros(batch, 2)})


def test_encode_takes_no_conditions_so_required_ones_are_not_demanded():
    state = GoalRSSM().encode(torch.zeros(2, 3), deterministic=True)
    assert state["z"].shape == (2, 4)


@pytest.mark.parametrize("method", ["transition", "update", "decode"])
def test_calls_that_take_conditions_require_them(method):
    model = GoalRSSM()
    state = model.encode(torch.zeros(2, 3))
    action = torch.tensor([0, 3])
    args = {
        "transition": (state, action),
        "update": (state, action, torch.zeros(2, 3)),
        "decode": (state,),
    }[method]
    with pytest.raises(
        ContractError,
        match=re.escape(f"conditions ['goal'] are required; got None [GoalRSSM.{method}]"),
    ):
        getattr(model, method)(*args)
    getattr(model, method)(*args, _goal())


def test_rollout_requires_the_conditions():
    model = GoalRSSM()
    state = model.encode(torch.zeros(2, 3))
    actions = ActionPayload(kind="discrete", tensor=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(
        ContractError,
        match=re.escape("conditions ['goal'] are required; got None [GoalRSSM.rollout]"),
    ):
        model.rollout(state, actions)
    assert len(model.rollout(state, actions, _goal()).states) == 4
