from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    Capability,
    ContractError,
    WorldModelInput,
    load_pretrained,
)
from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.evaluation import evaluate
from worldmodel_sdk.models import JOPM, JOPMConfig
from worldmodel_sdk.training import episodes_to_input

from .helpers import spread_data, trained_jopm


def mixed_model() -> JOPM:
    """Agents with different observation sizes and action kinds, named to test natural order."""
    spec = DatasetSpec.from_agents(
        [
            AgentSpec(name="agent_10", obs_size=3, action_kind="continuous", action_size=2),
            AgentSpec(name="agent_2", obs_size=5, action_kind="discrete", action_size=4),
        ]
    )
    return JOPM(JOPMConfig.from_spec(spec, latent_dim=4, vae_width=16, rnn_hidden=8, head_width=8))


def mixed_inputs(batch: int = 2) -> tuple[dict[str, torch.Tensor], ActionPayload]:
    obs = {"agent_2": torch.randn(batch, 5), "agent_10": torch.randn(batch, 3)}
    actions = {"agent_2": torch.randint(4, (batch,)), "agent_10": torch.rand(batch, 2)}
    return obs, ActionPayload(kind="joint", agents=actions)


def test_contract_is_per_agent_in_natural_order() -> None:
    model = mixed_model()
    contract = model.contract()
    assert contract.agents == ("agent_2", "agent_10")
    assert contract.observation["agent_2"].shape == ("B", 5)
    assert contract.prediction["agent_10"].shape == ("B", 3)
    assert contract.action is not None and contract.action.flat_size == 6
    assert JOPM.capabilities == {
        Capability.REPRESENTATION,
        Capability.LATENT_DYNAMICS,
        Capability.OBS_DECODER,
        Capability.MULTI_AGENT,
        Capability.RECURRENT,
        Capability.POSTERIOR_UPDATE,
    }
    with pytest.raises(ValueError, match="agents must be in natural order"):
        JOPMConfig(agents=tuple(reversed(JOPMConfig().agents)))


def test_protocol_round_and_rollout_with_differing_sizes() -> None:
    model = mixed_model().eval()
    obs, action = mixed_inputs()
    state = model.encode(obs, deterministic=True)
    model.validate_state_contract(state)
    nxt = model.transition(state, action)
    assert {k: tuple(v.shape) for k, v in model.decode(nxt).predictions.items()} == {
        "agent_2": (2, 5),
        "agent_10": (2, 3),
    }
    actions = ActionPayload(
        kind="joint",
        agents={"agent_2": torch.randint(4, (4, 2)), "agent_10": torch.rand(4, 2, 2)},
    )
    trajectory = model.rollout(state, actions, deterministic=True)
    assert trajectory.predictions is not None and trajectory.predictions["agent_2"].shape == (
        4,
        2,
        5,
    )
    again = model.rollout(state, actions, deterministic=True)
    assert torch.equal(again.predictions["agent_10"], trajectory.predictions["agent_10"])  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda o: o.pop("agent_10"),
            "obs agent keys do not match the contract: missing ['agent_10']",
        ),
        (lambda o: o.update(agent_3=torch.zeros(2, 5)), "unexpected ['agent_3']"),
        (
            lambda o: o.update(agent_2=torch.zeros(2, 6)),
            "obs['agent_2'] has shape (2, 6); contract expects (B, 5)",
        ),
        (
            lambda o: o["agent_10"].__setitem__((0, 1), float("nan")),
            "obs['agent_10'] contains NaN or inf",
        ),
    ],
)
def test_bad_observations_name_the_agent(change, message: str) -> None:
    obs, _ = mixed_inputs()
    change(obs)
    with pytest.raises(ContractError, match=re.escape(message)):
        mixed_model().encode(obs)


def test_bad_actions_name_the_agent() -> None:
    model = mixed_model()
    obs, action = mixed_inputs()
    state = model.encode(obs)
    assert action.agents is not None
    action.agents["agent_2"] = torch.tensor([1, 4])
    with pytest.raises(
        ContractError,
        match=re.escape("action['agent_2'] is out of range: expected 0 <= action < 4"),
    ):
        model.transition(state, action)
    del action.agents["agent_2"]
    with pytest.raises(
        ContractError,
        match=re.escape("action agent keys do not match the contract: missing ['agent_2']"),
    ):
        model.transition(state, action)


def test_predict_next_joint_observation_carries_memory() -> None:
    model, _ = trained_jopm()
    episode = spread_data()[0]
    names = list(model.contract().agents)
    model.reset_memory()
    calls = [
        model.predict_next_joint_observation(
            {n: episode.obs[n][t].numpy() for n in names},
            {n: int(episode.actions[n][t]) for n in names},
        )
        for t in range(6)
    ]
    batch = episodes_to_input(model, spread_data().subset([0]), window=25, stride=25)
    one_step, _, _ = model.predict_sequences(batch, horizon=1)
    stepwise = torch.stack([torch.cat([c[n] for n in names]) for c in calls])
    torch.testing.assert_close(stepwise, one_step[0, :6], rtol=1e-4, atol=1e-5)
    # resetting the memory before every call gives different predictions after the first step
    fresh = []
    for t in range(6):
        model.reset_memory()
        out = model.predict_next_joint_observation(
            {n: episode.obs[n][t] for n in names}, {n: episode.actions[n][t] for n in names}
        )
        fresh.append(torch.cat([out[n] for n in names]))
    assert not torch.allclose(torch.stack(fresh)[1:], one_step[0, 1:6], atol=1e-5)
    model.reset_memory()


def test_predict_next_joint_observation_rejects_unknown_agent() -> None:
    model, _ = trained_jopm()
    obs = {f"agent_{i}": np.zeros(18, np.float32) for i in range(3)}
    with pytest.raises(ContractError, match=re.escape("unexpected ['agent_9']")):
        model.predict_next_joint_observation(obs, {"agent_0": 0, "agent_1": 0, "agent_9": 0})
    model.reset_memory()


def test_training_beats_copy_last_on_held_out_episodes() -> None:
    model, result = trained_jopm()
    assert result.best_epoch >= 1 and result.history[0]["val"] > result.best_val_loss
    ratio = evaluate(spread_data(8, seed=5_000), {"JOPM": model}).ratio("JOPM", "copy-last")
    assert ratio[0] < 0.8
    assert ratio[-1] < 1.0


def test_trained_weights_are_saved_and_reloaded(tmp_path) -> None:
    model, _ = trained_jopm()
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert isinstance(loaded, JOPM)
    batch = episodes_to_input(model, spread_data().subset([1]), window=25, stride=25)
    expected = model.predict_sequences(batch, horizon=5)
    got = loaded.predict_sequences(batch, horizon=5)
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(a, b)
    fresh = JOPM(model.config)
    assert not torch.equal(fresh.predict_sequences(batch, horizon=5)[0], expected[0])


def one_agent_model() -> JOPM:
    spec = DatasetSpec.from_agents(
        [AgentSpec(name="solo", obs_size=3, action_kind="discrete", action_size=2)]
    )
    return JOPM(JOPMConfig.from_spec(spec, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8))


def test_one_agent_jopm_takes_a_bare_tensor() -> None:
    model = one_agent_model()
    obs = torch.randn(2, 3)
    state = model.encode(obs, deterministic=True)
    torch.testing.assert_close(state["z"], model.encode({"solo": obs}, deterministic=True)["z"])
    actions = ActionPayload(kind="joint", agents={"solo": torch.zeros(2, 4, dtype=torch.long)})
    sequence = WorldModelInput(obs=torch.randn(2, 4, 3), actions=actions, sequence=True)
    model.validate_batch_contract(sequence)
    assert torch.isfinite(model.loss(sequence).total)
    with pytest.raises(
        ContractError,
        match=re.escape("needs a sequence batch (sequence=True) with actions [JOPM.loss]"),
    ):
        model.loss(WorldModelInput(obs=torch.randn(2, 4, 3), actions=actions))
    with pytest.raises(
        ContractError, match=re.escape("batch.obs must be a mapping with keys 'solo'; got list")
    ):
        model.loss(WorldModelInput(obs=[1.0], actions=actions, sequence=True))


@pytest.mark.parametrize(
    ("obs_value", "action_value", "message"),
    [
        (np.zeros(5), "up", "action['agent_2'] is 'up'; expected an integer index or a vector"),
        (np.zeros(5), None, "action['agent_2'] is None; expected an integer index or a vector"),
        ("up", 1, "obs['agent_2'] is 'up'; expected numbers"),
        ([[1.0, 2.0], [1.0]], 1, "obs['agent_2'] is [[1.0, 2.0], [1.0]]; expected numbers"),
        (np.zeros(5), [[1], [1, 2]], "action['agent_2'] is [[1], [1, 2]]; expected an integer"),
    ],
)
def test_predict_next_joint_observation_rejects_non_numeric_values(
    obs_value, action_value, message: str
) -> None:
    model = mixed_model()
    obs = {"agent_2": obs_value, "agent_10": np.zeros(3)}
    action = {"agent_2": action_value, "agent_10": np.zeros(2)}
    with pytest.raises(ContractError, match=f"^{re.escape(message)}"):
        model.predict_next_joint_observation(obs, action)


@pytest.mark.parametrize("horizon", [0, -1, 4, 9, 2.0, True])
def test_predict_sequences_needs_a_horizon_below_the_length(horizon) -> None:
    model = mixed_model()
    obs, _ = mixed_inputs(2)
    seq = {k: v.unsqueeze(1).repeat(1, 4, 1) for k, v in obs.items()}
    actions = ActionPayload(
        kind="joint",
        agents={"agent_2": torch.zeros(2, 4, dtype=torch.long), "agent_10": torch.zeros(2, 4, 2)},
    )
    batch = WorldModelInput(obs=seq, actions=actions, sequence=True)
    assert model.predict_sequences(batch, horizon=3)[1].shape == (2, 3, 8)
    with pytest.raises(
        ContractError,
        match=re.escape(
            f"horizon must be an integer with 1 <= horizon < T = 4; got {horizon!r} "
            "[JOPM.predict_sequences]"
        ),
    ):
        model.predict_sequences(batch, horizon=horizon)


def test_two_predictors_do_not_share_memory() -> None:
    from concurrent.futures import ThreadPoolExecutor

    model, _ = trained_jopm()
    names = list(model.contract().agents)
    expected = []
    for index in (0, 1):
        batch = episodes_to_input(model, spread_data().subset([index]), window=25, stride=25)
        expected.append(model.predict_sequences(batch, horizon=1)[0][0, :8])

    def run(predictor, index: int) -> torch.Tensor:
        episode = spread_data()[index]
        outs = []
        for t in range(8):
            obs = {n: episode.obs[n][t] for n in names}
            out = predictor.predict(obs, {n: episode.actions[n][t] for n in names})
            outs.append(torch.cat([out[n] for n in names]))
        return torch.stack(outs)

    first, second = model.predictor(), model.predictor()
    with ThreadPoolExecutor(2) as pool:  # two episodes stepped at the same time
        results = list(pool.map(run, [first, second], [0, 1]))
    for got, want in zip(results, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert not torch.equal(first.memory["h"], second.memory["h"])
    first.reset()
    assert first.memory is None and second.memory is not None


def test_update_carries_the_last_change_and_action_that_transition_reads() -> None:
    model = mixed_model().eval()
    obs, action = mixed_inputs()
    state = model.encode(obs, deterministic=True)
    assert not state["dx"].any() and not state["a"].any()
    later = {k: v + 0.5 for k, v in obs.items()}
    updated = model.update(state, action, later)
    torch.testing.assert_close(updated["dx"], updated["x"] - state["x"])
    flat = torch.cat(
        [torch.nn.functional.one_hot(action.agents["agent_2"], 4), action.agents["agent_10"]], -1
    )  # type: ignore[index]
    torch.testing.assert_close(updated["a"], flat.float())  # natural order: agent_2 first
    # Untrained, the change decoder predicts small changes, which depend on the history.
    change = model.transition(updated, action)["x"] - updated["x"]
    assert 0 < change.abs().max() < 0.1
    fresh = model.encode(later, deterministic=True)
    assert not torch.equal(
        model.transition(updated, action)["x"], model.transition(fresh, action)["x"]
    )


def test_prepare_for_training_fits_a_linear_system() -> None:
    """Data whose change is linear in the last change and action is predicted before training."""
    spec = DatasetSpec.from_agents(
        [AgentSpec(name="agent_0", obs_size=2, action_kind="discrete", action_size=3)]
    )
    model = JOPM(
        JOPMConfig.from_spec(spec, latent_dim=4, vae_width=8, rnn_hidden=8, change_width=8)
    )
    generator = torch.Generator().manual_seed(0)
    actions = torch.randint(3, (64, 11), generator=generator)  # the last one is unused
    push = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, -0.1]])
    obs = torch.zeros(64, 11, 2)
    velocity = torch.zeros(64, 2)
    for t in range(10):
        velocity = 0.75 * velocity + push[actions[:, t - 1]] * (t > 0)
        obs[:, t + 1] = obs[:, t] + velocity
    batch = WorldModelInput(
        obs={"agent_0": obs},
        actions=ActionPayload(kind="joint", agents={"agent_0": actions}),
        sequence=True,
    )
    model.prepare_for_training(batch)
    model.eval()
    one_step, _, _ = model.predict_sequences(batch, horizon=1)
    error = (one_step[:, 1:] - obs[:, 2:]).pow(2).mean() / (obs[:, 2:] - obs[:, 1:-1]).pow(2).mean()
    assert error < 1e-4  # copying scores 1; what is left is the untrained MLP's small output
