from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from worldmodel_sdk.data import (
    DatasetSpec,
    Episode,
    EpisodeDataset,
    check_episode,
    check_step_observations,
)
from worldmodel_sdk.errors import ContractError

EpisodeFactory = Callable[..., Episode]


def raises(message: str) -> Any:
    return pytest.raises(ContractError, match=f"^{re.escape(message)}$")


def test_valid_episode_passes(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    check_episode(make_episode(4), mixed_spec)
    check_episode(make_episode(4, extras=False), mixed_spec)
    check_episode(make_episode(0), mixed_spec)


def test_unknown_agent(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    episode = make_episode(3)
    episode.obs["agent_3"] = episode.obs.pop("agent_2")
    with raises("episode 0: obs has unknown agent 'agent_3'; expected agents: agent_2, agent_10"):
        check_episode(episode, mixed_spec, where="episode 0")


def test_missing_agent(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    episode = make_episode(3)
    del episode.actions["agent_10"]
    with raises("episode: actions is missing agent 'agent_10'; expected agents: agent_2, agent_10"):
        check_episode(episode, mixed_spec)


def test_wrong_observation_size(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    episode = make_episode(3)
    episode.obs["agent_10"] = torch.zeros(4, 5)
    with raises("ep 7: obs['agent_10'] has shape (4, 5); expected (4, 2) = (T+1, obs_size)"):
        check_episode(episode, mixed_spec, where="ep 7")


def test_nan_observation_names_agent_and_step(
    mixed_spec: DatasetSpec, make_episode: EpisodeFactory
) -> None:
    episode = make_episode(5)
    episode.obs["agent_2"][3, 1] = float("nan")
    with raises("episode: obs['agent_2'] contains nan at step 3; expected finite values"):
        check_episode(episode, mixed_spec)
    episode.obs["agent_2"][3, 1] = float("inf")
    with raises("episode: obs['agent_2'] contains inf at step 3; expected finite values"):
        check_episode(episode, mixed_spec)


def test_wrong_dtype(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    episode = make_episode(2)
    episode.obs["agent_2"] = episode.obs["agent_2"].double()
    with raises("episode: obs['agent_2'] has dtype torch.float64; expected torch.float32"):
        check_episode(episode, mixed_spec)


def test_discrete_action_out_of_range(
    mixed_spec: DatasetSpec, make_episode: EpisodeFactory
) -> None:
    episode = make_episode(4)
    episode.actions["agent_2"][2] = 4
    with raises("episode: actions['agent_2'] has value 4 at step 2; expected an integer in [0, 4)"):
        check_episode(episode, mixed_spec)


def test_continuous_action_shape(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    episode = make_episode(4)
    episode.actions["agent_10"] = torch.zeros(4, 3)
    with raises(
        "episode: actions['agent_10'] has shape (4, 3); expected (4, 2) = (T, action_size)"
    ):
        check_episode(episode, mixed_spec)


def test_rewards_and_dones(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    episode = make_episode(4)
    assert episode.rewards is not None and episode.terminated is not None
    episode.rewards["agent_2"] = torch.zeros(5)
    with raises("episode: rewards['agent_2'] has shape (5,); expected (4,) = (T,)"):
        check_episode(episode, mixed_spec)
    episode.rewards["agent_2"] = torch.zeros(4)
    episode.terminated["agent_10"] = torch.zeros(4)
    with raises("episode: terminated['agent_10'] has dtype torch.float32; expected torch.bool"):
        check_episode(episode, mixed_spec)


def test_dataset_names_the_episode(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> None:
    bad = make_episode(2)
    bad.obs["agent_10"][0, 0] = float("nan")
    with raises("episode 1: obs['agent_10'] contains nan at step 0; expected finite values"):
        EpisodeDataset(mixed_spec, [make_episode(3), bad])


def test_step_observations(mixed_spec: DatasetSpec) -> None:
    good = {"agent_2": np.zeros(3, np.float32), "agent_10": np.zeros(2, np.float32)}
    check_step_observations(good, mixed_spec, where="step 0")
    with raises("step 0: observation['agent_10'] has shape (3,); expected (2,)"):
        check_step_observations(good | {"agent_10": np.zeros(3)}, mixed_spec, where="step 0")
    with raises("step 0: observation['agent_2'] contains nan; expected finite values"):
        check_step_observations(
            good | {"agent_2": np.array([0, np.nan, 0])}, mixed_spec, where="step 0"
        )
    with raises(
        "step 0: observation is missing agent 'agent_10'; expected agents: agent_2, agent_10"
    ):
        check_step_observations({"agent_2": good["agent_2"]}, mixed_spec, where="step 0")


def test_observations_must_be_tensors(
    mixed_spec: DatasetSpec, make_episode: EpisodeFactory
) -> None:
    episode = make_episode(2)
    episode.obs["agent_2"] = [[0.0] * 3] * 3  # type: ignore[assignment]
    with raises(
        "episode: obs['agent_2'] is a list; "
        "expected a [T+1, obs_size] tensor with at least one observation"
    ):
        check_episode(episode, mixed_spec)
    episode.obs["agent_2"] = torch.zeros(0, 3)
    with raises(
        "episode: obs['agent_2'] is a tensor of shape (0, 3); "
        "expected a [T+1, obs_size] tensor with at least one observation"
    ):
        check_episode(episode, mixed_spec)
    episode.obs["agent_2"] = torch.zeros(3, 3)
    episode.obs["agent_10"] = "oops"  # type: ignore[assignment]
    with raises("episode: obs['agent_10'] is a str; expected a tensor"):
        check_episode(episode, mixed_spec)
