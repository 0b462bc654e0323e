from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from worldmodel_sdk import ContractError
from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.envs import (
    BatchedWorldModelEnv,
    ComponentFunctions,
    WorldModelEnv,
    WorldModelVectorEnv,
)
from worldmodel_sdk.models import JOPM, JOPMConfig


def jopm() -> JOPM:
    torch.manual_seed(0)
    spec = DatasetSpec.from_agents(
        [
            AgentSpec(name="agent_10", obs_size=3, action_kind="continuous", action_size=2),
            AgentSpec(name="agent_2", obs_size=5, action_kind="discrete", action_size=4),
        ]
    )
    return JOPM(JOPMConfig.from_spec(spec, latent_dim=4, vae_width=16, rnn_hidden=8)).eval()


def sampler(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"agent_2": rng.normal(size=5), "agent_10": rng.normal(size=3)}


def rewards(obs, actions, next_obs):
    return {name: -np.abs(value).sum(-1) for name, value in next_obs.items()}


def agent_2_leaves_far(obs, actions, next_obs):
    return {"agent_2": np.abs(next_obs["agent_2"]).max(-1) > 1.0, "agent_10": False}


COMPONENTS = ComponentFunctions(reward_fn=rewards, done_fn=agent_2_leaves_far)


def test_rows_step_like_single_world_model_envs():
    model = jopm()
    envs = BatchedWorldModelEnv(model, COMPONENTS, sampler, 3, max_cycles=4)
    obs, infos = envs.reset(seed=0)
    assert {k: v.shape for k, v in obs.items()} == {"agent_2": (3, 5), "agent_10": (3, 3)}
    actions = {"agent_2": np.array([0, 1, 3]), "agent_10": np.full((3, 2), 0.5, np.float32)}
    nxt, rew, terms, truncs, _ = envs.step(actions)
    for row in range(3):
        start = {k: v[row] for k, v in obs.items()}
        single = WorldModelEnv(
            model,
            ComponentFunctions(
                reward_fn=lambda o, a, n: {k: -float(np.abs(v).sum()) for k, v in n.items()},
                done_fn=lambda o, a, n: {"agent_2": False, "agent_10": False},
            ),
            lambda rng, start=start: start,
        )
        single.reset(seed=0)
        one, one_rewards, *_ = single.step({k: v[row] for k, v in actions.items()})
        for name in one:
            np.testing.assert_allclose(nxt[name][row], one[name], rtol=1e-5, atol=1e-6)
            assert rew[name][row] == pytest.approx(one_rewards[name], rel=1e-5)
    assert terms["agent_2"].dtype == np.bool_ and not terms["agent_10"].any()


def test_agents_end_per_row_and_rows_restart_when_all_have_ended():
    envs = BatchedWorldModelEnv(jopm(), COMPONENTS, sampler, 8, max_cycles=3)
    envs.reset(seed=1)
    ended_rows = np.zeros(8, bool)
    saw_partial = False
    for _ in range(10):
        live = envs.live()
        _, rew, terms, truncs, _ = envs.step(envs.sample_actions())
        for i, name in enumerate(envs.possible_agents):
            # Finished agents (not in a restarting row) get no reward and no flags.
            gone = ~live[name] & ~ended_rows
            assert not terms[name][gone].any() and (rew[name][gone] == 0).all(), i
        assert not any(terms[n][ended_rows].any() or truncs[n][ended_rows].any() for n in terms)
        now = envs.live()
        saw_partial |= bool((now["agent_10"] & ~now["agent_2"]).any())
        ended_rows = ~(now["agent_10"] | now["agent_2"])
    assert saw_partial


def test_missing_agents_and_bad_shapes_are_contract_errors():
    envs = BatchedWorldModelEnv(jopm(), COMPONENTS, sampler, 2)
    envs.reset(seed=0)
    with pytest.raises(ContractError, match=re.escape("actions is missing agent 'agent_10'")):
        envs.step({"agent_2": np.zeros(2, int)})
    with pytest.raises(
        ContractError, match=re.escape("actions['agent_2'] has shape (3,); expected (2,)")
    ):
        envs.step({"agent_2": np.zeros(3, int), "agent_10": np.zeros((2, 2))})
    with pytest.raises(ContractError, match=re.escape("single-agent models; JOPM is multi-agent")):
        WorldModelVectorEnv(jopm(), 2, lambda rng, n: np.zeros((n, 3)), done_fn=lambda *a: 0)
    with pytest.raises(ContractError, match=re.escape("num_envs must be an int >= 1; got 0")):
        BatchedWorldModelEnv(jopm(), COMPONENTS, sampler, 0)
    with pytest.raises(
        ContractError,
        match=re.escape("max_cycles must be an int >= 1; got 0 [BatchedWorldModelEnv]"),
    ):
        BatchedWorldModelEnv(jopm(), COMPONENTS, sampler, 2, max_cycles=0)
    with pytest.raises(
        ContractError, match=re.escape("max_cycles must be an int >= 1; got -1 [WorldModelEnv]")
    ):
        WorldModelEnv(jopm(), COMPONENTS, sampler, max_cycles=-1)


def test_component_functions_that_return_bad_values_are_refused_before_the_step():
    def with_rewards(value):
        return ComponentFunctions(
            reward_fn=lambda o, a, n: {"agent_2": value, "agent_10": 0.0},
            done_fn=agent_2_leaves_far,
        )

    actions = {"agent_2": np.zeros(3, int), "agent_10": np.zeros((3, 2))}
    source = "ComponentFunctions.reward_fn for agent 'agent_2'"
    for value, message in (
        (
            np.zeros(2),
            f"{source} returned shape (2,); expected (3,), one value per row, or a scalar",
        ),
        (np.array([0.0, np.nan, 0.0]), f"{source} returned NaN or inf"),
        ("high", f"{source} returned str 'high'; expected numbers, one per row (3,) or a scalar"),
    ):
        envs = BatchedWorldModelEnv(jopm(), with_rewards(value), sampler, 3)
        envs.reset(seed=0)
        state = envs._state
        with pytest.raises(
            ContractError, match=re.escape(f"{message} [BatchedWorldModelEnv.step]")
        ):
            envs.step(actions)
        assert envs._state is state and envs._steps.tolist() == [0, 0, 0]
    envs = BatchedWorldModelEnv(jopm(), with_rewards(1.5), sampler, 3)  # a scalar is every row's
    envs.reset(seed=0)
    assert envs.step(actions)[1]["agent_2"].tolist() == [1.5, 1.5, 1.5]

    single = WorldModelEnv(jopm(), with_rewards(np.zeros(2)), sampler)
    single.reset(seed=0)
    message = f"{source} returned shape (2,); expected (1,), one value per row, or a scalar"
    with pytest.raises(ContractError, match=re.escape(f"{message} [WorldModelEnv.step]")):
        single.step({"agent_2": 0, "agent_10": np.zeros(2)})
    assert single._steps == 0
