from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import env_render_passive_checker

from worldmodel_sdk import (
    ActionSpec,
    Capability,
    CapabilityError,
    ContractError,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
)
from worldmodel_sdk.envs import (
    BatchedWorldModelEnv,
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


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ([1, 2], "action['agent_0'] has shape (2,) (2 values); expected shape () (1 value)"),
        ([], "action['agent_0'] has shape (0,) (0 values); expected shape () (1 value)"),
        ("up", "action['agent_0'] is 'up'; expected an integer index"),
        (None, "action['agent_0'] is None; expected an integer index"),
        ([[1], [1, 2]], "action['agent_0'] is [[1], [1, 2]]; expected an integer index"),
        (float("inf"), "action['agent_0'] is inf; expected an integer index"),
    ],
)
def test_malformed_discrete_actions_name_the_agent(action, message: str) -> None:
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(ContractError, match=f"^{re.escape(message)}$"):
        env.step({"agent_0": action, "agent_1": 0, "agent_2": 0})


class GridAgents(WorldModel):
    """Two agents with [2, 3] observations and 2-vector continuous actions (identity dynamics)."""

    capabilities = frozenset(
        {
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
            Capability.MULTI_AGENT,
        }
    )

    def io_contract(self) -> IOContract:
        obs = {name: TensorSpec(shape=("B", 2, 3)) for name in ("a", "b")}
        action = ActionSpec(kind="continuous", shape=(2,))
        return IOContract(
            observation=obs,
            action=ActionSpec(kind="joint", agents={"a": action, "b": action}),
            state={name: TensorSpec(shape=("B", 2, 3)) for name in ("a", "b")},
            prediction=dict(obs),
            agents=("a", "b"),
        )

    def encode(self, obs, deterministic: bool = False) -> State:
        return State(dict(obs))

    def transition(self, state, action, conditions=None, deterministic: bool = False) -> State:
        return State({k: v + 1 for k, v in state.tensors.items()})

    def decode(self, state, conditions=None) -> ModelOutput:
        return ModelOutput(dict(state.tensors), state)

    def loss(self, batch) -> LossOutput:
        raise NotImplementedError


def grid_env() -> WorldModelEnv:
    zero = ComponentFunctions(
        lambda o, a, n: {k: 0.0 for k in n}, lambda o, a, n: {k: False for k in n}
    )
    start = {name: np.zeros((2, 3), np.float32) for name in ("a", "b")}
    return WorldModelEnv(GridAgents(), zero, lambda rng: start)


def test_multi_dimensional_observations_get_their_full_shape() -> None:
    env = grid_env()
    assert env.observation_space("a").shape == (2, 3)
    obs, _ = env.reset(seed=0)
    assert obs["b"].shape == (2, 3) and env.observation_space("b").contains(obs["b"])
    obs, *_ = env.step({"a": [0.0, 1.0], "b": np.ones(2)})
    np.testing.assert_array_equal(obs["a"], np.ones((2, 3)))
    parallel_api_test(grid_env(), num_cycles=10)


def test_continuous_action_of_the_wrong_size_names_agent_expected_and_got() -> None:
    env = grid_env()
    env.reset(seed=0)
    with pytest.raises(
        ContractError,
        match=re.escape("action['b'] has shape (3,) (3 values); expected shape (2,) (2 values)"),
    ):
        env.step({"a": [0.0, 1.0], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(ContractError, match=re.escape("action['a'] is 'up'; expected numbers")):
        env.step({"a": "up", "b": [1.0, 2.0]})


def test_observation_specs_with_symbolic_sample_axes_are_refused() -> None:
    class Ragged(GridAgents):
        def io_contract(self) -> IOContract:
            base = super().io_contract()
            obs = {"a": TensorSpec(shape=("B", "N", 3)), "b": base.observation["b"]}
            return base.model_copy(update={"observation": obs})

    with pytest.raises(
        ContractError,
        match=re.escape(
            "WorldModelEnv: observation of agent 'a' has contract shape (B, N, 3); "
            "expected (B, <fixed sizes>) to build its observation space"
        ),
    ):
        WorldModelEnv(Ragged(), components(), lambda rng: {})


def _snapshot(env: WorldModelEnv):
    state = {k: v.clone() for k, v in env._state.tensors.items()}
    return state, {k: v.copy() for k, v in env._obs.items()}, env._steps, list(env.agents)


def _unchanged(env: WorldModelEnv, before) -> bool:
    state, obs, steps, agents = before
    now_state, now_obs, now_steps, now_agents = _snapshot(env)
    return (
        all(torch.equal(state[k], now_state[k]) for k in state)
        and state.keys() == now_state.keys()
        and all(np.array_equal(obs[k], now_obs[k]) for k in obs)
        and (steps, agents) == (now_steps, now_agents)
    )


def test_a_rejected_step_changes_nothing() -> None:
    env = make_env()
    env.reset(seed=0)
    env.step({a: 0 for a in AGENTS})
    before = _snapshot(env)
    original = env.model.decode

    def poisoned(state, conditions=None):
        out = original(state, conditions)
        out.predictions["agent_1"] = torch.full_like(out.predictions["agent_1"], float("nan"))
        return out

    env.model.decode = poisoned
    with pytest.raises(
        ContractError, match=re.escape("the model predicted NaN or inf in obs['agent_1']")
    ):
        env.step({a: 0 for a in AGENTS})
    assert _unchanged(env, before)
    env.model.decode = original

    def failing_reward(prev, chosen, nxt):
        raise RuntimeError("reward service down")

    env.components = ComponentFunctions(failing_reward, env.components.done_fn, None)
    with pytest.raises(RuntimeError, match="reward service down"):
        env.step({a: 0 for a in AGENTS})
    assert _unchanged(env, before)
    env.components = components()
    _, _, _, _, _ = env.step({a: 0 for a in AGENTS})
    assert env._steps == before[2] + 1  # the env still steps normally afterwards


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (2**70, "action['agent_1'] is out of range: expected 0 <= action < 5; got min 1180591620717411303424, max 1180591620717411303424"),
        (2**64 - 1, "got min 18446744073709551615, max 18446744073709551615"),
        (1e30, "got min 1000000000000000019884624838656, max 1000000000000000019884624838656"),
        (np.uint64(2**63), "got min 9223372036854775808, max 9223372036854775808"),
        (-(2**63) - 1, "got min -9223372036854775809"),
    ],
)  # fmt: skip
def test_huge_discrete_actions_are_reported_as_they_are(action, message: str) -> None:
    env = make_env()
    env.reset(seed=0)
    before = _snapshot(env)
    with pytest.raises(ContractError, match=re.escape(message)):
        env.step({"agent_0": 0, "agent_1": action, "agent_2": 0})
    assert _unchanged(env, before)


def test_step_none_and_bad_seeds_are_contract_errors() -> None:
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(
        ContractError,
        match=re.escape("WorldModelEnv.step expects a dict of agent name to action; got NoneType"),
    ):
        env.step(None)  # type: ignore[arg-type]
    for seed in ([1, 2], "7", 1.5, True, -1):
        message = f"WorldModelEnv.reset: seed must be a non-negative int or None; got {seed!r}"
        with pytest.raises(ContractError, match=re.escape(message)):
            env.reset(seed=seed)  # type: ignore[arg-type]
    obs, _ = env.reset(seed=np.int64(3))
    assert set(obs) == set(AGENTS)


def test_quickstart_components_score_an_episode_and_a_batch_alike() -> None:
    base = simple_spread_components(AGENTS)
    rng = np.random.default_rng(0)
    batch = {a: rng.normal(size=(5, 18)) for a in AGENTS}
    rewards = base.reward_fn(batch, {}, batch)
    dones = base.done_fn(batch, {}, batch)
    for row in range(5):
        one = {a: batch[a][row] for a in AGENTS}
        alone = base.reward_fn(one, {}, one)
        assert isinstance(alone["agent_0"], float)
        assert all(rewards[a][row] == pytest.approx(alone[a]) for a in AGENTS)
        assert base.done_fn(one, {}, one) == dict.fromkeys(AGENTS, False)
    assert all(dones[a].shape == (5,) and not dones[a].any() for a in AGENTS)
    torch.manual_seed(0)
    model = JOPM(JOPMConfig(latent_dim=8, vae_width=16, rnn_hidden=16, head_width=16)).eval()
    envs = BatchedWorldModelEnv(model, base, EpisodeStartSampler(spread_data()), num_envs=4)
    envs.reset(seed=0)
    _, rewards, terms, _, _ = envs.step(envs.sample_actions())
    assert rewards["agent_0"].shape == (4,) and not terms["agent_0"].any()
