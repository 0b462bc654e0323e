"""Per-step and per-episode conditions."""

import re

import pytest
import torch
from pydantic import ValidationError

from worldmodel_sdk import (
    ActionPayload,
    ConditionPayload,
    ConditionSpec,
    ContractError,
    IOContract,
    TensorSpec,
    WorldModelInput,
)

from .goal_models import EpisodeGoal, GoalRSSM


def _batch(goal: torch.Tensor, steps: int = 5) -> WorldModelInput:
    return WorldModelInput(
        obs=torch.zeros(2, steps, 3),
        actions=torch.zeros(2, steps, dtype=torch.long),
        conditions=ConditionPayload(tensors={"goal": goal}),
        sequence=True,
    )


def test_per_episode_condition_is_given_once_and_repeated_over_time_for_loss():
    model = EpisodeGoal()
    model.seen = []
    goal = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    model.validate_batch_contract(_batch(goal))
    model.loss(_batch(goal))
    model.loss(_batch(goal.unsqueeze(1).expand(2, 5, 2)))  # already repeated: accepted
    assert model.seen == [(2, 5, 2), (2, 5, 2)]


def test_per_episode_condition_still_binds_the_batch_size():
    with pytest.raises(
        ContractError,
        match=re.escape(
            "conditions['goal'] has shape (3, 2); contract expects (B, 2) with B=2 "
            "[EpisodeGoal.validate_batch_contract]"
        ),
    ):
        EpisodeGoal().validate_batch_contract(_batch(torch.zeros(3, 2)))


def test_per_step_condition_needs_its_time_axis_in_a_sequence_batch():
    with pytest.raises(
        ContractError,
        match=re.escape(
            "conditions['goal'] has shape (2, 2); contract expects (B, T, 2) "
            "[GoalRSSM.validate_batch_contract]"
        ),
    ):
        GoalRSSM().validate_batch_contract(_batch(torch.zeros(2, 2)))
    GoalRSSM().validate_batch_contract(_batch(torch.zeros(2, 5, 2)))


def test_rollout_takes_a_per_episode_condition_without_time():
    model = EpisodeGoal()
    state = model.encode(torch.zeros(2, 3))
    actions = ActionPayload(kind="discrete", tensor=torch.zeros(4, 2, dtype=torch.long))
    goal = ConditionPayload(tensors={"goal": torch.ones(2, 2)})
    assert model.rollout(state, actions, goal, deterministic=True).horizon == 4


def test_per_episode_names_a_condition_tensor():
    with pytest.raises(
        ValidationError, match=re.escape("ConditionSpec.per_episode names ['gaol']")
    ):
        ConditionSpec(tensors={"goal": TensorSpec(shape=("B", 2))}, per_episode=("gaol",))


def test_per_episode_enters_the_fingerprint_only_when_set():
    goal = {"goal": TensorSpec(shape=("B", 2))}
    plain = IOContract(condition=ConditionSpec(tensors=goal))
    explicit = IOContract(condition=ConditionSpec(tensors=goal, per_episode=()))
    episode = IOContract(condition=ConditionSpec(tensors=goal, per_episode=("goal",)))
    assert explicit.fingerprint == plain.fingerprint
    assert episode.fingerprint != plain.fingerprint
    assert '"per_episode":["goal"]' in episode.canonical_json()
