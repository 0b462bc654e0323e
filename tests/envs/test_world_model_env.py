from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import env_render_passive_checker

from worldmodel_sdk import CapabilityError, ContractError
from worldmodel_sdk.envs import (
    ComponentFunctions,
    EpisodeStartSampler,
    SingleAgentEnv,
    WorldModelEnv,
)
from worldmodel_sdk.models import JOPM, VAE, JOPMConfig, VAEConfig
from worldmodel_sdk.quickstart import simple_spread_components

from ..models.helpers import spread_data

with warnings.catch_warnings():
    # Importing pettingzoo.test imports its classic envs, which warn that their old creation
    # API is deprecated; that warning is PettingZoo's own and unrelated to this env.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pettingzoo.test import parallel_api_test

AGENTS = ["agent_0", "agent_1", "agent_2"]


def frame(obs, action, next_obs) -> np.ndarray:
    return np.zeros((8, 8, 3), dtype=np.uint8)


def components(render: bool = False) -> ComponentFunctions:
    base = simple_spread_components(AGENTS)
    return ComponentFunctions(base.reward_fn, base.done_fn, frame if render else None)


def make_env(**kwargs) -> WorldModelEnv:
    torch.manual_seed(0)
    model = JOPM(JOPMConfig(latent_dim=8, vae_width=16, rnn_hidden=16, head_width=16)).eval()
    return WorldModelEnv(
        model, components(kwargs.pop("render", False)), EpisodeStartSampler(spread_data()), **kwargs
    )


def test_passes_pettingzoo_parallel_api_test() -> None:
    parallel_api_test(make_env(), num_cycles=60)


def test_single_agent_wrapper_passes_gymnasium_check_env() -> None:
    # check_env can only test other render modes of envs made through gymnasium.make (it
    # warns otherwise); the rgb_array mode is checked directly below.
    check_env(SingleAgentEnv(make_env()), skip_render_check=True)
    env = SingleAgentEnv(make_env(render=True, render_mode="rgb_array"), agent="agent_1")
    env.reset(seed=0)
    env_render_passive_checker(env)
    assert env.render().shape == (8, 8, 3)


def test_episode_runs_with_memory_carried_and_truncates() -> None:
    env = make_env(max_cycles=4)
    obs, infos = env.reset(seed=1)
    assert list(obs) == AGENTS and infos == {a: {} for a in AGENTS}
    model = env.model
    state = model.encode({a: torch.as_tensor(obs[a])[None] for a in AGENTS}, deterministic=True)
    for step in range(4):
        actions = {a: step % 5 for a in env.agents}
        obs, rewards, terms, truncs, _ = env.step(actions)
        from worldmodel_sdk import ActionPayload

        state = model.transition(
            state,
            ActionPayload(kind="joint", agents={a: torch.tensor([v]) for a, v in actions.items()}),
        )
        expected = model.decode(state).predictions
        for a in AGENTS:
            np.testing.assert_allclose(
                obs[a], expected[a][0].detach().numpy(), rtol=1e-5, atol=1e-6
            )
        assert rewards["agent_0"] == rewards["agent_2"] and not any(terms.values())
    assert all(truncs.values()) and env.agents == []
    with pytest.raises(
        ContractError,
        match=re.escape("WorldModelEnv.step called before reset() or after the episode ended"),
    ):
        env.step({})


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (
            {"agent_0": 0, "agent_1": 0},
            "actions is missing agent 'agent_2'; expected agents: agent_0, agent_1, agent_2",
        ),
        (
            {"agent_0": 0, "agent_1": 0, "agent_2": 0, "bob": 1},
            "actions has unknown or finished agent 'bob'",
        ),
        (
            {"agent_0": 0, "agent_1": 5, "agent_2": 0},
            "action['agent_1'] is out of range: expected 0 <= action < 5; got min 5, max 5",
        ),
        (
            {"agent_0": 0, "agent_1": 0.5, "agent_2": 0},
            "action['agent_1'] is 0.5; expected an integer index",
        ),
    ],
)
def test_bad_actions_are_contract_errors(actions, message: str) -> None:
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(ContractError, match=re.escape(message)):
        env.step(actions)


def test_bad_initial_observations_are_contract_errors() -> None:
    env = make_env()
    env.initial_obs = lambda rng: {
        "agent_0": np.zeros(18),
        "agent_1": np.zeros(17),
        "agent_2": np.zeros(18),
    }
    with pytest.raises(
        ContractError, match=re.escape("obs['agent_1'] has shape (1, 17); contract expects (B, 18)")
    ):
        env.reset(seed=0)
    env.initial_obs = lambda rng: {
        "agent_0": np.full(18, np.nan),
        "agent_1": np.zeros(18),
        "agent_2": np.zeros(18),
    }
    with pytest.raises(ContractError, match=re.escape("obs['agent_0'] contains NaN or inf")):
        env.reset(seed=0)


def test_needs_a_multi_agent_dynamics_model() -> None:
    with pytest.raises(
        CapabilityError, match="WorldModelEnv: VAE does not declare capability 'latent_dynamics'"
    ):
        WorldModelEnv(VAE(VAEConfig()), components(), lambda rng: {})
    with pytest.raises(ContractError, match=re.escape("SingleAgentEnv: unknown agent 'agent_7'")):
        SingleAgentEnv(make_env(), agent="agent_7")
