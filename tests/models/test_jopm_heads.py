from __future__ import annotations

import functools
import re

import pydantic
import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    Capability,
    CapabilityError,
    ContractError,
    load_pretrained,
)
from worldmodel_sdk.data import AgentSpec, DatasetSpec, Episode, EpisodeDataset
from worldmodel_sdk.envs import ComponentFunctions, EpisodeStartSampler, WorldModelEnv
from worldmodel_sdk.models import JOPM, JOPMConfig, JOPMWithHeads, JOPMWithHeadsConfig
from worldmodel_sdk.training import FitResult, episodes_to_input, fit

from .helpers import spread_data

SMALL = {"latent_dim": 8, "vae_width": 32, "rnn_hidden": 32, "head_width": 32}


@functools.cache
def trained_on_spread(per_agent: bool, epochs: int) -> tuple[JOPMWithHeads, FitResult]:
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig.from_spec(spread_data().spec, per_agent=per_agent, **SMALL)
    model = JOPMWithHeads(config)
    result = fit(
        model,
        spread_data(),
        window=8,
        window_stride=4,
        epochs=epochs,
        batch_size=32,
        lr=3e-3,
        seed=0,
        progress=False,
        threads=1,
    )
    return model, result


def trained() -> tuple[JOPMWithHeads, FitResult]:
    return trained_on_spread(per_agent=False, epochs=6)


def trained_heads() -> JOPMWithHeads:
    return trained()[0]


def test_declares_and_predicts_the_heads() -> None:
    model = JOPMWithHeads(JOPMWithHeadsConfig(**SMALL))
    assert model.supports(Capability.REWARD_PRED) and model.supports(Capability.CONTINUE_PRED)
    assert not JOPM(JOPMConfig(**SMALL)).supports(Capability.REWARD_PRED)
    contract = model.contract()
    assert contract.prediction["reward"].shape == ("B",)
    assert contract.prediction["continue"].shape == ("B",)
    obs = {f"agent_{i}": torch.randn(2, 18) for i in range(3)}
    action = ActionPayload(
        kind="joint", agents={f"agent_{i}": torch.tensor([0, 4]) for i in range(3)}
    )
    out = model.decode(model.transition(model.encode(obs), action))
    assert out["reward"].shape == (2,) and out["continue"].shape == (2,)
    assert ((out["continue"] > 0) & (out["continue"] < 1)).all()
    trajectory = model.rollout(model.encode(obs), [action, action], deterministic=True)
    assert trajectory.rewards is not None and trajectory.rewards.shape == (2, 2)
    assert trajectory.continues is not None and trajectory.continues.shape == (2, 2)


def test_heads_train_from_recorded_rewards_and_flags() -> None:
    _, result = trained()
    first, last = result.history[0], result.history[-1]
    assert last["val_reward"] < first["val_reward"]
    assert last["val_continue"] < 0.1 < first["val_continue"]  # simple_spread never terminates


def test_loss_without_rewards_names_what_is_missing() -> None:
    model = JOPMWithHeads(JOPMWithHeadsConfig(**SMALL))
    batch = episodes_to_input(model, spread_data().subset([0]), window=4)
    batch.rewards = None
    with pytest.raises(
        ContractError,
        match="^"
        + re.escape(
            "batch.rewards missing: the reward and continue heads train on recorded rewards and "
            "termination flags (a dataset without them, such as one read from trace files "
            "without them, trains a JOPM) [JOPMWithHeads.loss]"
        ),
    ):
        model.loss(batch)
    batch.continues = None
    with pytest.raises(ContractError, match=re.escape("batch.rewards and batch.continues missing")):
        model.prepare_for_training(batch)


def test_agent_names_may_not_clash_with_head_keys() -> None:
    agents = (AgentSpec(name="reward", obs_size=2, action_kind="discrete", action_size=2),)
    with pytest.raises(pydantic.ValidationError, match=re.escape("clash with the prediction keys")):
        JOPMWithHeadsConfig(agents=agents)


def test_save_and_load_keep_the_heads(tmp_path) -> None:
    model = trained_heads()
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert isinstance(loaded, JOPMWithHeads)
    state = model.encode({f"agent_{i}": torch.randn(3, 18) for i in range(3)}, deterministic=True)
    for key in ("reward", "continue"):
        assert torch.equal(loaded.decode(state)[key], model.decode(state)[key])
    assert torch.equal(loaded.reward_std, model.reward_std)


def test_env_takes_rewards_and_terminations_from_the_heads() -> None:
    model = trained_heads()
    env = WorldModelEnv(model, ComponentFunctions(), EpisodeStartSampler(spread_data()))
    env.reset(seed=0)
    _, rewards, terms, _, _ = env.step({a: 0 for a in env.agents})
    assert len(set(rewards.values())) == 1 and not any(terms.values())
    # a user reward_fn wins over the head
    mine = ComponentFunctions(reward_fn=lambda o, a, n: {k: 7.0 for k in n})
    env = WorldModelEnv(model, mine, EpisodeStartSampler(spread_data()))
    env.reset(seed=0)
    assert set(env.step({a: 0 for a in env.agents})[1].values()) == {7.0}


def test_env_without_functions_needs_the_heads() -> None:
    with pytest.raises(
        CapabilityError,
        match=re.escape(
            "WorldModelEnv without a reward_fn: JOPM does not declare capability 'reward_pred'"
        ),
    ):
        WorldModelEnv(JOPM(JOPMConfig(**SMALL)), ComponentFunctions(), lambda rng: {})


# -- per-agent heads ------------------------------------------------------------------------

AGENTS = ("agent_0", "agent_1", "agent_2")


def trained_per_agent() -> tuple[JOPMWithHeads, FitResult]:
    return trained_on_spread(per_agent=True, epochs=4)


def per_agent_model() -> JOPMWithHeads:
    torch.manual_seed(0)
    return JOPMWithHeads(JOPMWithHeadsConfig(per_agent=True, **SMALL))


def test_per_agent_heads_predict_one_value_per_agent() -> None:
    model = per_agent_model()
    contract = model.contract()
    assert contract.prediction["reward"].shape == ("B", "A")
    assert contract.prediction["continue"].shape == ("B", "A")
    assert contract.agents == AGENTS
    obs = {name: torch.randn(2, 18) for name in AGENTS}
    action = ActionPayload(kind="joint", agents={name: torch.tensor([0, 4]) for name in AGENTS})
    out = model.decode(model.transition(model.encode(obs), action))
    assert out["reward"].shape == (2, 3) and out["continue"].shape == (2, 3)
    trajectory = model.rollout(model.encode(obs), [action, action], deterministic=True)
    assert trajectory.rewards is not None and trajectory.rewards.shape == (2, 2, 3)
    assert trajectory.continues is not None and trajectory.continues.shape == (2, 2, 3)
    assert trajectory.discount_weights().shape == (3, 2, 3)


def test_per_agent_batches_keep_each_agents_reward_and_termination() -> None:
    data = spread_data().subset([0, 2])  # episode 2 has a collision
    batch = episodes_to_input(per_agent_model(), data, window=4)
    team = episodes_to_input(JOPMWithHeads(JOPMWithHeadsConfig(**SMALL)), data, window=4)
    windows = data.windows(4)
    assert batch.rewards is not None and batch.continues is not None
    assert batch.rewards.shape == (windows.size, 5, 3)
    for column, name in enumerate(AGENTS):
        assert torch.equal(batch.rewards[:, :-1, column], windows.rewards[name])
        assert torch.equal(batch.continues[:, :-1, column], (~windows.terminated[name]).float())
    assert team.rewards is not None and team.rewards.shape == (windows.size, 5)
    assert torch.allclose(team.rewards, batch.rewards.mean(dim=-1))
    # simple_spread's agents are paid differently (collisions are each agent's own)
    assert not torch.equal(batch.rewards[..., 0], batch.rewards[..., 1])


def test_per_agent_heads_train_on_real_simple_spread() -> None:
    model, result = trained_per_agent()
    first, last = result.history[0], result.history[-1]
    assert last["train"] < first["train"]
    assert last["val_continue"] < first["val_continue"]
    # Four epochs on a few episodes fit the heads to the recorded data; how far the
    # reward head generalises to held-out episodes at this scale is noise, not a property.
    torch.manual_seed(0)
    untrained = JOPMWithHeads(model.config).eval()
    batch = episodes_to_input(model, spread_data(), window=8)
    with torch.no_grad():
        before = untrained.loss(batch).components
        after = model.eval().loss(batch).components
    assert after["reward"] < 0.8 * before["reward"]
    assert after["continue"] < 0.5 * before["continue"]


def test_per_agent_heads_survive_save_and_load(tmp_path) -> None:
    model = trained_per_agent()[0]
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert isinstance(loaded, JOPMWithHeads) and loaded.config.per_agent
    state = model.encode({name: torch.randn(3, 18) for name in AGENTS}, deterministic=True)
    for key in ("reward", "continue"):
        assert torch.equal(loaded.decode(state)[key], model.decode(state)[key])


def test_per_agent_targets_of_the_wrong_layout_are_named() -> None:
    model = per_agent_model()
    batch = episodes_to_input(model, spread_data().subset([0]), window=4)
    assert batch.rewards is not None
    wrong = {
        "team": batch.rewards.mean(dim=-1),
        "two agents": batch.rewards[..., :2],
        "integers": batch.rewards.long(),
    }
    expected = {
        "team": f"batch.rewards has shape {tuple(wrong['team'].shape)}; expected (B, T, A) with "
        "A = 3 agents (agent_0, agent_1, agent_2) [JOPMWithHeads.loss]",
        "two agents": f"batch.rewards has shape {tuple(wrong['two agents'].shape)}; expected "
        "(B, T, A) with A = 3 agents (agent_0, agent_1, agent_2) [JOPMWithHeads.loss]",
        "integers": "batch.rewards has dtype torch.int64; expected a floating-point tensor "
        "[JOPMWithHeads.loss]",
    }
    for case, rewards in wrong.items():
        batch.rewards = rewards
        with pytest.raises(ContractError, match="^" + re.escape(expected[case]) + "$"):
            model.loss(batch)
    batch.rewards = wrong["two agents"]
    steps = wrong["two agents"].shape
    with pytest.raises(
        ContractError,
        match=re.escape(
            f"batch.rewards has shape {tuple(steps)}; contract expects (B, T, 3) "
            "[JOPMWithHeads.validate_batch_contract]"
        ),
    ):
        model.validate_batch_contract(batch)


def test_team_heads_refuse_per_agent_targets() -> None:
    model = JOPMWithHeads(JOPMWithHeadsConfig(**SMALL))
    batch = episodes_to_input(per_agent_model(), spread_data().subset([0]), window=4)
    assert batch.rewards is not None
    with pytest.raises(
        ContractError,
        match="^"
        + re.escape(
            f"batch.rewards has shape {tuple(batch.rewards.shape)}; expected (B, T), one team "
            "value per sample [JOPMWithHeads.loss]"
        )
        + "$",
    ):
        model.loss(batch)


def test_per_agent_heads_pass_the_conformance_suite() -> None:
    from worldmodel_sdk.conformance import Status, run_checks

    def make() -> JOPMWithHeads:
        torch.manual_seed(0)
        return JOPMWithHeads(
            JOPMWithHeadsConfig(per_agent=True, latent_dim=4, vae_width=8, rnn_hidden=8)
        )

    report = run_checks(make)
    failed = [r for r in report.results if r.status not in (Status.PASSED, Status.NOT_APPLICABLE)]
    assert report.ok and not failed, [(r.check, r.message) for r in failed]
    # the loss checks changed the per-agent targets and saw the loss move
    assert report.result("loss.uses_targets").status is Status.PASSED


@pytest.mark.parametrize("per_agent", [False, True])
def test_data_of_other_agents_is_named_not_a_key_error(per_agent: bool) -> None:
    data, kept = spread_data().subset([0, 1]), ("agent_0", "agent_1")

    def only_kept(episode: Episode) -> Episode:
        fields = ("obs", "actions", "rewards", "terminated", "truncated")
        return Episode(**{f: {n: getattr(episode, f)[n] for n in kept} for f in fields})

    spec = DatasetSpec.from_agents([data.spec.agent(name) for name in kept])
    two = EpisodeDataset(spec, [only_kept(episode) for episode in data])
    model = JOPMWithHeads(JOPMWithHeadsConfig(per_agent=per_agent, **SMALL))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "obs agent keys do not match the contract: missing ['agent_2']; expected "
            "['agent_0', 'agent_1', 'agent_2'], got ['agent_0', 'agent_1'] "
            "[JOPMWithHeads.validate_batch_contract]"
        ),
    ):
        fit(model, two, window=4, epochs=1, progress=False)
