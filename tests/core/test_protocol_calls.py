"""Which protocol calls take conditions, and how their errors name the call."""

import re

import pytest
import torch

from worldmodel_sdk import ActionPayload, ConditionPayload, ContractError, State, WorldModelInput
from worldmodel_sdk.models.jopm import JOPMWithHeads

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


def _state(model: GoalRSSM, batch: int = 2):
    return model.encode(torch.zeros(batch, 3), deterministic=True)


def test_update_errors_name_update():
    model = GoalRSSM()
    state = _state(model)
    cases = [
        ((state, torch.tensor([0, 9]), torch.zeros(2, 3), _goal()), "action is out of range"),
        ((state, torch.tensor([0, 1]), torch.zeros(2, 4), _goal()), "obs['obs'] has shape (2, 4)"),
        ((state, torch.tensor([0, 1]), torch.zeros(2, 3), ConditionPayload()), "missing ['goal']"),
    ]
    for args, message in cases:
        with pytest.raises(ContractError, match=re.escape(message) + r".* \[GoalRSSM\.update\]$"):
            model.update(*args)


def test_loss_batch_requires_conditions_and_names_the_call():
    model = GoalRSSM()
    batch = WorldModelInput(obs=torch.zeros(2, 3))
    message = "conditions ['goal'] are required; got None"
    with pytest.raises(ContractError, match=re.escape(f"{message} [GoalRSSM.loss]")):
        model.loss(batch)
    with pytest.raises(
        ContractError, match=re.escape(f"{message} [GoalRSSM.validate_batch_contract]")
    ):
        model.validate_batch_contract(batch)
    model.loss(WorldModelInput(obs=torch.zeros(2, 3), conditions=_goal()))


def test_validate_methods_called_directly_name_themselves():
    model = GoalRSSM()
    with pytest.raises(ContractError, match=re.escape("[GoalRSSM.validate_action]")):
        model.validate_action(torch.tensor([7]))
    with pytest.raises(ContractError, match=re.escape("[GoalRSSM.validate_observation]")):
        model.validate_observation(torch.zeros(1, 2))
    with pytest.raises(ContractError, match=re.escape("[GoalRSSM.validate_state_contract]")):
        model.validate_state_contract(State({"z": torch.zeros(1, 3)}))


def test_errors_of_an_implementation_name_the_call_once():
    class Strict(GoalRSSM):
        def decode(self, state, conditions=None):
            self.validate_observation(torch.zeros(1, 9))  # joins the open call
            return super().decode(state, conditions)

    model = Strict()
    with pytest.raises(
        ContractError,
        match=re.escape("obs['obs'] has shape (1, 9); contract expects (B, 3) [Strict.decode]")
        + "$",
    ):
        model.decode(_state(model), _goal())


def test_jopm_with_heads_errors_name_jopm_with_heads():
    model = JOPMWithHeads()
    obs = {f"agent_{i}": torch.zeros(2, 4, 18) for i in range(3)}
    actions = ActionPayload(
        kind="joint", agents={f"agent_{i}": torch.zeros(2, 4, dtype=torch.long) for i in range(3)}
    )
    with pytest.raises(
        ContractError,
        match=re.escape("needs a sequence batch (sequence=True) with actions [JOPMWithHeads.loss]"),
    ):
        model.loss(WorldModelInput(obs={k: v[:, 0] for k, v in obs.items()}))
    with pytest.raises(ContractError, match=re.escape("JOPM) [JOPMWithHeads.loss]")):
        model.loss(WorldModelInput(obs=obs, actions=actions, sequence=True))
    with pytest.raises(ContractError, match=re.escape("[JOPMWithHeads.predict_sequences]")):
        model.predict_sequences(WorldModelInput(obs=obs, actions=actions, sequence=True), horizon=9)


def test_checks_made_later_in_a_call_bind_their_own_axes():
    class Flattening(GoalRSSM):
        def loss(self, batch):
            self.validate_batch_contract(batch)  # B=2, T=3
            flat = {"obs": batch.obs.reshape(6, 3)}
            state = self.encode(flat)  # B=6 within the same call
            self.validate_state_contract(state)
            self.validate_observation(flat)
            return super().loss(WorldModelInput(obs=flat["obs"], conditions=_goal(6)))

    batch = WorldModelInput(
        obs=torch.zeros(2, 3, 3),
        conditions=ConditionPayload(tensors={"goal": torch.zeros(2, 3, 2)}),
        sequence=True,
    )
    Flattening().loss(batch)
