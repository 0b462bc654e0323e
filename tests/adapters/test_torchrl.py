from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs, step_mdp

from worldmodel_sdk import (
    ActionPayload,
    ActionSpec,
    Capability,
    CapabilityError,
    ContractError,
    IOContract,
    State,
    TensorSpec,
    WorldModel,
)
from worldmodel_sdk.adapters.torchrl import WorldModelTorchRLEnv
from worldmodel_sdk.data import AgentSpec
from worldmodel_sdk.models import JOPM, JOPMConfig, JOPMWithHeads, JOPMWithHeadsConfig

AGENTS = (
    AgentSpec(name="agent_2", obs_size=2, action_kind="discrete", action_size=3),
    AgentSpec(name="agent_10", obs_size=3, action_kind="continuous", action_size=2),
)


def model() -> JOPMWithHeads:
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig(
        agents=AGENTS, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8, task_head_width=8
    )
    return JOPMWithHeads(config).eval()


def starts(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {a.name: rng.uniform(-0.5, 0.5, a.obs_size).astype(np.float32) for a in AGENTS}


def make_env(**kwargs) -> WorldModelTorchRLEnv:
    return WorldModelTorchRLEnv(model(), starts, **{"batch_size": 4, "max_steps": 5, **kwargs})


def test_passes_torchrls_own_check_env_specs() -> None:
    check_env_specs(make_env(), seed=0, break_when_any_done="both")


def test_specs_follow_the_contract_in_natural_agent_order() -> None:
    env = make_env()
    assert env.agents == ["agent_2", "agent_10"]
    assert env.observation_spec["observation", "agent_10"].shape == (4, 3)
    assert env.observation_spec["state", "h"].shape == (4, 1, 8)
    assert env.full_action_spec["action", "agent_2"].space.n == 3
    assert env.full_action_spec["action", "agent_10"].dtype == torch.float32


def by_hand(net, td, actions):
    state = {k: td["state", k] for k in net.contract().state}
    payload = ActionPayload(kind="joint", agents=actions)
    with torch.no_grad():
        latent = net.transition(State(state), payload, deterministic=True)
        return latent, net.decode(latent).predictions


def test_steps_are_the_models_predictions_with_memory_carried() -> None:
    env = make_env()
    env.set_seed(0)
    td = env.reset()
    actions = {
        "agent_2": torch.tensor([0, 1, 2, 1]),
        "agent_10": torch.linspace(-1, 1, 8).reshape(4, 2),
    }
    for _ in range(2):
        td.set(("action", "agent_2"), actions["agent_2"])
        td.set(("action", "agent_10"), actions["agent_10"])
        latent, predicted = by_hand(env.model, td, actions)
        out = env.step(td)
        for name in env.agents:
            got = out["next", "observation", name]
            assert got.dtype == torch.float32 and torch.equal(got, predicted[name])
        assert torch.equal(out["next", "state", "h"], latent["h"])  # memory written back
        assert torch.equal(out["next", "reward"], predicted["reward"].reshape(4, 1))
        assert torch.equal(out["next", "terminated"], (predicted["continue"] < 0.5).reshape(4, 1))
        td = step_mdp(out)  # the next step continues from the stored state
    assert td["step_count"].flatten().tolist() == [2, 2, 2, 2]


def test_partial_reset_keeps_the_other_rows_exactly() -> None:
    env = make_env(
        done_fn=lambda o, a, n: torch.zeros(4, dtype=torch.bool),
        reward_fn=lambda o, a, n: -n["agent_2"].abs().sum(-1),
    )
    env.set_seed(1)
    td = step_mdp(env.rand_step(env.reset()))
    td.set("_reset", torch.tensor([[True], [False], [False], [True]]))
    before = td.clone()
    after = env.reset(td)
    for key in [("observation", "agent_10"), ("state", "h"), ("state", "z")]:
        assert torch.equal(after[key][1:3], before[key][1:3])
        assert not torch.equal(after[key][0], before[key][0])
    assert after["step_count"].flatten().tolist() == [0, 1, 1, 0]


def test_given_functions_win_over_the_heads_and_rows_truncate() -> None:
    env = make_env(
        reward_fn=lambda o, a, n: n["agent_10"].sum(-1),
        done_fn=lambda o, a, n: n["agent_2"][:, 0] > 1e9,
        max_steps=3,
    )
    rollout = env.rollout(3, break_when_any_done=False)
    nxt = rollout["next"]
    assert torch.equal(nxt["reward"], nxt["observation", "agent_10"].sum(-1, keepdim=True))
    assert nxt["terminated"].sum() == 0
    assert nxt["truncated"][:, -1].all() and not nxt["truncated"][:, :-1].any()


class OpenEnded(WorldModel):
    """A model whose observation has a symbolic width: no fixed TorchRL spec exists for it."""

    capabilities = frozenset(
        {Capability.REPRESENTATION, Capability.LATENT_DYNAMICS, Capability.OBS_DECODER}
    )

    def io_contract(self) -> IOContract:
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", "N"))},
            action=ActionSpec(kind="discrete", num_actions=2),
            state={"z": TensorSpec(shape=("B", 2))},
        )

    def encode(self, obs, deterministic=False):
        raise NotImplementedError

    def transition(self, state, action, conditions=None, deterministic=False):
        raise NotImplementedError

    def decode(self, state, conditions=None):
        raise NotImplementedError

    def loss(self, batch):
        raise NotImplementedError


def test_bad_models_are_clear_errors() -> None:
    with pytest.raises(CapabilityError, match=re.escape("reward_pred")):
        WorldModelTorchRLEnv(JOPM(JOPMConfig(agents=AGENTS, latent_dim=4)), starts)
    zero = lambda o, a, n: torch.zeros(1)  # noqa: E731
    with pytest.raises(
        ContractError,
        match=re.escape(
            "observation['obs'] has contract shape (B, N); expected (B, <fixed sizes>) [WorldModelTorchRLEnv]"
        ),
    ):
        WorldModelTorchRLEnv(OpenEnded(), starts, reward_fn=zero, done_fn=zero)


def test_per_agent_predictions_need_a_function_that_combines_them() -> None:
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig(agents=AGENTS, latent_dim=4, vae_width=8, per_agent=True)
    per_agent = JOPMWithHeads(config).eval()
    with pytest.raises(
        ContractError,
        match="^"
        + re.escape(
            "WorldModelTorchRLEnv keeps one reward per batch row; the model predicts 'reward' per "
            "agent (B, A): pass a reward_fn that combines the agents'"
        )
        + "$",
    ):
        WorldModelTorchRLEnv(per_agent, starts)

    def team_reward(obs, action, nxt) -> torch.Tensor:
        return torch.zeros(1)

    with pytest.raises(ContractError, match=re.escape("pass a done_fn that combines")):
        WorldModelTorchRLEnv(per_agent, starts, reward_fn=team_reward)
