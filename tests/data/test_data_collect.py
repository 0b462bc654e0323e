from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Discrete, MultiDiscrete
from mpe2 import simple_spread_v3

from worldmodel_sdk.data import (
    AgentSpec,
    Episode,
    EpisodeDataset,
    RandomJointPolicy,
    agent_spec_from_spaces,
    collect_gym,
    collect_parallel,
    concat_joint_obs,
    load_dataset,
)
from worldmodel_sdk.errors import ContractError

Equal = Callable[[Episode, Episode], None]
AGENTS = ("agent_0", "agent_1", "agent_2")


@pytest.fixture
def spread() -> Iterator[Any]:
    env = simple_spread_v3.parallel_env(N=3, max_cycles=6, continuous_actions=False)
    yield env
    env.close()


def contract_error(message: str) -> Any:
    return pytest.raises(ContractError, match=f"^{re.escape(message)}$")


def test_simple_spread_collection(spread: Any) -> None:
    data = collect_parallel(spread, episodes=3, seed=7)
    assert data.spec.agent_names == AGENTS
    assert data.spec.agents[0] == AgentSpec(
        name="agent_0", obs_size=18, action_kind="discrete", action_size=5
    )
    assert data.lengths == [6, 6, 6]
    assert data.meta == {
        "source": "pettingzoo",
        "env": "simple_spread_v3",
        "seed": 7,
        "max_steps": None,
    }
    episode = data[0]
    assert episode.obs["agent_2"].shape == (7, 18)
    assert episode.actions["agent_1"].dtype == torch.int64
    assert episode.rewards is not None and episode.truncated is not None
    assert bool(torch.isfinite(episode.rewards["agent_0"]).all())
    assert episode.truncated["agent_0"].tolist() == [False] * 5 + [True]
    assert concat_joint_obs({n: episode.obs[n] for n in AGENTS}, data.spec).shape == (7, 54)


def test_collection_is_reproducible(spread: Any, episodes_equal: Equal) -> None:
    first = collect_parallel(spread, episodes=2, seed=3)
    second = collect_parallel(spread, episodes=2, seed=3)
    for left, right in zip(first, second, strict=True):
        episodes_equal(left, right)
    other = collect_parallel(spread, episodes=1, seed=4)
    assert not torch.equal(other[0].obs["agent_0"], first[0].obs["agent_0"])


def test_max_steps_truncates_and_round_trips(
    spread: Any, tmp_path: Path, episodes_equal: Equal
) -> None:
    data = collect_parallel(spread, episodes=2, seed=0, max_steps=4)
    assert data.lengths == [4, 4]
    assert data[1].dones("agent_1") is not None
    assert data[1].truncated is not None and bool(data[1].truncated["agent_1"][-1])
    loaded = load_dataset(data.save(tmp_path).parent)
    assert loaded.meta["max_steps"] == 4
    for left, right in zip(data, loaded, strict=True):
        episodes_equal(left, right)
    batch = loaded.windows(3)
    assert batch.size == 4 and batch.obs["agent_0"].shape == (4, 3, 18)


def test_continuous_simple_spread() -> None:
    env = simple_spread_v3.parallel_env(N=3, max_cycles=3, continuous_actions=True)
    data = collect_parallel(env, episodes=1, seed=0)
    env.close()
    agent = data.spec.agent("agent_1")
    assert (agent.action_kind, agent.action_size) == ("continuous", 5)
    actions = data[0].actions["agent_1"]
    assert actions.shape == (3, 5) and actions.dtype == torch.float32
    assert bool(((actions >= 0) & (actions <= 1)).all())


def test_custom_policy(spread: Any) -> None:
    def always_one(obs: Mapping[str, np.ndarray]) -> dict[str, int]:
        assert all(value.shape == (18,) and value.dtype == np.float32 for value in obs.values())
        return {name: 1 for name in obs}

    data = collect_parallel(spread, episodes=1, seed=0, policy=always_one)
    assert data[0].actions["agent_2"].tolist() == [1] * 6


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (
            {"agent_0": 0, "agent_1": 0, "agent_9": 0},
            "episode 0, step 0: policy actions has unknown agent 'agent_9'; "
            "expected agents: agent_0, agent_1, agent_2",
        ),
        (
            {"agent_0": 0, "agent_1": 0},
            "episode 0, step 0: policy actions is missing agent 'agent_2'; "
            "expected agents: agent_0, agent_1, agent_2",
        ),
        (
            {"agent_0": 0, "agent_1": 9, "agent_2": 0},
            "episode 0, step 0: action['agent_1'] is 9; expected an integer in [0, 5)",
        ),
        (
            {"agent_0": 0, "agent_1": 0.5, "agent_2": 0},
            "episode 0, step 0: action['agent_1'] is 0.5; expected one integer of Discrete(5)",
        ),
    ],
)
def test_bad_policy_actions(spread: Any, actions: dict[str, Any], message: str) -> None:
    with contract_error(message):
        collect_parallel(spread, episodes=1, seed=0, policy=lambda obs: actions)


class CorruptObservations:
    """Delegates to a parallel env but damages one agent's observation at one step."""

    def __init__(self, env: Any, at_step: int, damage: Callable[[dict[str, Any]], None]) -> None:
        self.env, self.at_step, self.damage, self.steps = env, at_step, damage, 0
        self.possible_agents = env.possible_agents
        self.metadata = env.metadata

    def observation_space(self, agent: str) -> Any:
        return self.env.observation_space(agent)

    def action_space(self, agent: str) -> Any:
        return self.env.action_space(agent)

    def reset(self, seed: int) -> Any:
        self.steps = 0
        return self.env.reset(seed=seed)

    def step(self, actions: dict[str, Any]) -> Any:
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        obs = dict(obs)
        if self.steps == self.at_step:
            self.damage(obs)
        self.steps += 1
        return obs, rewards, terms, truncs, infos


def _nan(obs: dict[str, Any]) -> None:
    obs["agent_1"] = np.full(18, np.nan, dtype=np.float32)


def _short(obs: dict[str, Any]) -> None:
    obs["agent_2"] = np.zeros(17, dtype=np.float32)


def _missing(obs: dict[str, Any]) -> None:
    del obs["agent_0"]


def _renamed(obs: dict[str, Any]) -> None:
    obs["agent_3"] = obs.pop("agent_2")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_nan, "episode 0, step 2: observation['agent_1'] contains nan; expected finite values"),
        (_short, "episode 0, step 2: observation['agent_2'] has shape (17,); expected (18,)"),
        (
            _missing,
            "episode 0, step 2: observation is missing agent 'agent_0'; "
            "expected agents: agent_0, agent_1, agent_2",
        ),
        (
            _renamed,
            "episode 0, step 2: observation has unknown agent 'agent_3'; "
            "expected agents: agent_0, agent_1, agent_2",
        ),
    ],
)
def test_bad_env_observations(
    spread: Any, damage: Callable[[dict[str, Any]], None], message: str
) -> None:
    with contract_error(message):
        collect_parallel(CorruptObservations(spread, 2, damage), episodes=1, seed=0)


def test_gymnasium_discrete(episodes_equal: Equal) -> None:
    env = gymnasium.make("CartPole-v1")
    data = collect_gym(env, episodes=3, seed=11)
    again = collect_gym(env, episodes=3, seed=11)
    env.close()
    assert data.spec.agents == (
        AgentSpec(name="agent", obs_size=4, action_kind="discrete", action_size=2),
    )
    assert data.meta["env"] == "CartPole-v1"
    assert len(set(data.lengths)) > 1  # random CartPole episodes differ in length
    for episode, other in zip(data, again, strict=True):
        episodes_equal(episode, other)
        assert episode.terminated is not None and bool(episode.terminated["agent"][-1])
        assert episode.rewards is not None and bool((episode.rewards["agent"] == 1.0).all())


def test_gymnasium_continuous() -> None:
    env = gymnasium.make("Pendulum-v1")
    data = collect_gym(env, episodes=2, seed=0, max_steps=5, agent="pendulum")
    env.close()
    assert data.spec.agent("pendulum").action_kind == "continuous"
    assert data.lengths == [5, 5]
    actions = data[0].actions["pendulum"]
    assert actions.shape == (5, 1) and bool((actions.abs() <= 2.0).all())
    assert isinstance(data, EpisodeDataset)


def test_random_policy_is_seeded() -> None:
    spaces = {"a": Discrete(3, start=2), "b": Box(-1.0, 1.0, (2,)), "c": Box(-np.inf, np.inf, (1,))}
    obs = {name: np.zeros(1, np.float32) for name in spaces}
    first = [RandomJointPolicy(spaces, seed=5)(obs) for _ in range(2)]
    assert first[0]["a"] == first[1]["a"]
    assert np.array_equal(first[0]["b"], first[1]["b"])
    draws = RandomJointPolicy(spaces, seed=5)
    values = [draws(obs) for _ in range(50)]
    assert {v["a"] for v in values} == {2, 3, 4}
    assert all(v["b"].dtype == np.float32 and np.all(np.abs(v["b"]) <= 1) for v in values)


def test_unsupported_action_space() -> None:
    with contract_error(
        "agent 'x': action space MultiDiscrete([2 3]) is not supported; expected Discrete or Box"
    ):
        agent_spec_from_spaces("x", Box(0.0, 1.0, (2,)), MultiDiscrete([2, 3]))
    with pytest.raises(ContractError, match="agent 'x' has action space MultiDiscrete"):
        RandomJointPolicy({"x": MultiDiscrete([2, 3])}, seed=0)


def test_bad_counts(spread: Any) -> None:
    with contract_error("collect: episodes must be >= 1; got 0"):
        collect_parallel(spread, episodes=0, seed=0)
    with contract_error("collect: max_steps must be >= 1 or None; got 0"):
        collect_parallel(spread, episodes=1, seed=0, max_steps=0)
