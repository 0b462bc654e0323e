from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from worldmodel_sdk.data import AgentSpec, DatasetSpec, Episode, EpisodeDataset

EpisodeFactory = Callable[..., Episode]


@pytest.fixture
def mixed_spec() -> DatasetSpec:
    """Two agents with different observation sizes and action kinds."""
    return DatasetSpec.from_agents(
        [
            AgentSpec(name="agent_10", obs_size=2, action_kind="continuous", action_size=2),
            AgentSpec(name="agent_2", obs_size=3, action_kind="discrete", action_size=4),
        ]
    )


@pytest.fixture
def make_episode(mixed_spec: DatasetSpec) -> EpisodeFactory:
    def make(
        steps: int, seed: int = 0, *, spec: DatasetSpec | None = None, extras: bool = True
    ) -> Episode:
        spec = spec or mixed_spec
        gen = torch.Generator().manual_seed(seed)
        obs, actions = {}, {}
        for agent in spec.agents:
            obs[agent.name] = torch.randn(steps + 1, agent.obs_size, generator=gen)
            if agent.action_kind == "discrete":
                actions[agent.name] = torch.randint(agent.action_size, (steps,), generator=gen)
            else:
                actions[agent.name] = torch.rand(steps, agent.action_size, generator=gen)
        if not extras:
            return Episode(obs=obs, actions=actions)
        names = spec.agent_names
        done = torch.zeros(steps, dtype=torch.bool)
        if steps:
            done[-1] = True
        return Episode(
            obs=obs,
            actions=actions,
            rewards={n: torch.randn(steps, generator=gen) for n in names},
            terminated={n: done.clone() for n in names},
            truncated={n: torch.zeros(steps, dtype=torch.bool) for n in names},
        )

    return make


@pytest.fixture
def ragged_dataset(mixed_spec: DatasetSpec, make_episode: EpisodeFactory) -> EpisodeDataset:
    episodes = [make_episode(steps, seed) for seed, steps in enumerate([5, 1, 8, 3, 6])]
    return EpisodeDataset(mixed_spec, episodes, meta={"origin": "test"})


def assert_episodes_equal(left: Episode, right: Episode) -> None:
    assert left.fields().keys() == right.fields().keys()
    for field, by_agent in left.fields().items():
        other = right.fields()[field]
        assert by_agent.keys() == other.keys(), field
        for agent, value in by_agent.items():
            assert value.dtype == other[agent].dtype, (field, agent)
            assert torch.equal(value, other[agent]), (field, agent)


@pytest.fixture
def episodes_equal() -> Callable[[Episode, Episode], None]:
    return assert_episodes_equal
