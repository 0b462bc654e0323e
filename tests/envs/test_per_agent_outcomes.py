"""Per-agent rewards and terminations from a model's heads, in the envs and the bridges."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from worldmodel_sdk import ContractError
from worldmodel_sdk.adapters._common import step_outcome
from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.envs import BatchedWorldModelEnv, ComponentFunctions, WorldModelEnv
from worldmodel_sdk.models import JOPMWithHeads, JOPMWithHeadsConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pettingzoo.test's classic envs
    from pettingzoo.test import parallel_api_test

SPEC = DatasetSpec.from_agents(
    [
        AgentSpec(name="agent_10", obs_size=3, action_kind="continuous", action_size=2),
        AgentSpec(name="agent_2", obs_size=5, action_kind="discrete", action_size=4),
        AgentSpec(name="scout", obs_size=2, action_kind="discrete", action_size=3),
    ]
)
AGENTS = ["agent_2", "agent_10", "scout"]  # the contract's (natural) order


def sampler(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"agent_2": rng.normal(size=5), "agent_10": rng.normal(size=3), "scout": [0.0, 1.0]}


def heads(rewards: list[float], continues: list[float], *, per_agent: bool = True) -> JOPMWithHeads:
    """A per-agent model whose heads output fixed values: ``rewards``, ``continues`` logits."""
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig.from_spec(
        SPEC, latent_dim=4, vae_width=8, rnn_hidden=8, per_agent=per_agent
    )
    model = JOPMWithHeads(config).eval()
    with torch.no_grad():
        for head, values in ((model.reward_head, rewards), (model.continue_head, continues)):
            last = head[-1]
            last.weight.zero_()
            last.bias.copy_(torch.tensor(values))
    return model


def actions() -> dict[str, object]:
    return {"agent_2": 1, "agent_10": [0.5, -0.5], "scout": 2}


def test_world_model_env_pays_and_ends_each_agent_on_its_own() -> None:
    model = heads([1.0, -2.0, 0.5], [5.0, -5.0, 5.0])  # agent_10 is predicted to terminate
    env = WorldModelEnv(model, ComponentFunctions(), sampler, max_cycles=3)
    env.reset(seed=0)
    _, rewards, terms, truncs, _ = env.step(actions())
    assert rewards == {"agent_2": 1.0, "agent_10": -2.0, "scout": 0.5}
    assert terms == {"agent_2": False, "agent_10": True, "scout": False}
    assert not any(truncs.values())
    assert env.agents == ["agent_2", "scout"]
    _, rewards, terms, _, _ = env.step({"agent_2": 0, "scout": 0})
    assert rewards == {"agent_2": 1.0, "scout": 0.5} and terms == {"agent_2": False, "scout": False}


def test_per_agent_env_passes_the_parallel_api_test() -> None:
    model = heads([1.0, -2.0, 0.5], [5.0, -5.0, 5.0])
    parallel_api_test(WorldModelEnv(model, ComponentFunctions(), sampler), num_cycles=20)


def test_team_heads_keep_the_team_behaviour() -> None:
    model = heads([1.5], [-5.0], per_agent=False)
    env = WorldModelEnv(model, ComponentFunctions(), sampler)
    env.reset(seed=0)
    _, rewards, terms, _, _ = env.step(actions())
    assert rewards == dict.fromkeys(AGENTS, 1.5) and terms == dict.fromkeys(AGENTS, True)


def test_batched_env_gives_each_agent_its_column() -> None:
    model = heads([1.0, -2.0, 0.5], [5.0, -5.0, 5.0])
    envs = BatchedWorldModelEnv(model, ComponentFunctions(), sampler, 2)
    envs.reset(seed=0)
    step = {"agent_2": np.array([1, 2]), "agent_10": np.zeros((2, 2)), "scout": np.array([0, 1])}
    _, rewards, terms, _, _ = envs.step(step)
    assert {n: v.tolist() for n, v in rewards.items()} == {
        "agent_2": [1.0, 1.0],
        "agent_10": [-2.0, -2.0],
        "scout": [0.5, 0.5],
    }
    assert {n: v.tolist() for n, v in terms.items()} == {
        "agent_2": [False, False],
        "agent_10": [True, True],
        "scout": [False, False],
    }


def _with_prediction(model: JOPMWithHeads, key: str, value: torch.Tensor) -> JOPMWithHeads:
    original = model._head_predictions

    def patched(state):
        return original(state) | {key: value}

    model._head_predictions = patched  # type: ignore[method-assign]
    return model


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "reward",
            torch.zeros(1, 2),
            "the model predicted 'reward' of shape (1, 2); expected (1, 3) = (B, A) for the "
            "agents ['agent_2', 'agent_10', 'scout'] [WorldModelEnv.step]",
        ),
        (
            "continue",
            torch.zeros(3),
            "the model predicted 'continue' of shape (3,); expected (1, 3) = (B, A) for the "
            "agents ['agent_2', 'agent_10', 'scout'] [WorldModelEnv.step]",
        ),
        (
            "reward",
            torch.zeros(1, 3, dtype=torch.int64),
            "the model predicted 'reward' of dtype torch.int64; expected a floating-point tensor "
            "[WorldModelEnv.step]",
        ),
        (
            "reward",
            torch.tensor([[0.0, float("nan"), 0.0]]),
            "the model predicted reward nan for agent 'agent_10' [WorldModelEnv.step]",
        ),
        (
            "continue",
            torch.tensor([[1.0, 1.0, float("nan")]]),
            "the model predicted continue nan for agent 'scout' [WorldModelEnv.step]",
        ),
    ],
)
def test_bad_per_agent_predictions_are_named_and_change_nothing(
    key: str, value: torch.Tensor, message: str
) -> None:
    model = _with_prediction(heads([1.0, -2.0, 0.5], [5.0, -5.0, 5.0]), key, value)
    env = WorldModelEnv(model, ComponentFunctions(), sampler)
    obs, _ = env.reset(seed=0)
    with pytest.raises(ContractError, match="^" + re.escape(message) + "$"):
        env.step(actions())
    assert env.agents == AGENTS and env._steps == 0
    assert all(np.array_equal(env._obs[n], obs[n]) for n in AGENTS)


def test_team_prediction_of_the_wrong_size_is_named() -> None:
    model = _with_prediction(heads([1.5], [5.0], per_agent=False), "reward", torch.zeros(1, 3))
    env = WorldModelEnv(model, ComponentFunctions(), sampler)
    env.reset(seed=0)
    with pytest.raises(
        ContractError,
        match="^"
        + re.escape(
            "the model predicted 'reward' of shape (1, 3); expected (1,) = (B,), one team value "
            "per sample [WorldModelEnv.step]"
        )
        + "$",
    ):
        env.step(actions())


def test_a_nan_team_continue_is_refused_not_read_as_playing_on() -> None:
    nan = torch.tensor([float("nan")])
    model = _with_prediction(heads([1.5], [5.0], per_agent=False), "continue", nan)
    envs = BatchedWorldModelEnv(model, ComponentFunctions(), sampler, num_envs=1)
    envs.reset(seed=0)
    batched = {"agent_2": [1], "agent_10": [[0.5, -0.5]], "scout": [2]}
    with pytest.raises(
        ContractError,
        match="^" + re.escape("the model predicted continue nan [BatchedWorldModelEnv.step]") + "$",
    ):
        envs.step(batched)


def test_bridges_share_the_per_agent_outcome() -> None:
    model = heads([1.0, -2.0, 0.5], [5.0, -5.0, 5.0])
    obs = {n: np.zeros(3) for n in AGENTS}
    decoded = model.decode(model.encode({n: torch.zeros(1, s) for n, s in
                                         zip(AGENTS, (5, 3, 2), strict=True)})).predictions  # fmt: skip
    step = (obs, actions(), obs)
    rewards, done = step_outcome(
        model.contract(), decoded, step, reward_fn=None, done_fn=None,
        continue_threshold=0.5, where="bridge",
    )  # fmt: skip
    assert rewards == {"agent_2": 1.0, "agent_10": -2.0, "scout": 0.5} and done
    with pytest.raises(
        ContractError,
        match="^" + re.escape("reward_fn returned no reward for ['scout'] [bridge]") + "$",
    ):
        step_outcome(
            model.contract(), decoded, step, reward_fn=lambda o, a, n: {"agent_2": 0, "agent_10": 0},
            done_fn=None, continue_threshold=0.5, where="bridge",
        )  # fmt: skip
