from __future__ import annotations

import functools
import re
from xml.etree.ElementTree import fromstring, tostring

import numpy as np
import pytest
import torch

from worldmodel_sdk import ActionPayload, CapabilityError, ContractError, SerializationError
from worldmodel_sdk.adapters.pymasep import (
    WorldModelGame,
    collect_episodes,
    latent_state,
    make_action,
    observation,
)
from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.envs import EpisodeStartSampler
from worldmodel_sdk.models import JOPM, JOPMConfig, JOPMWithHeads, JOPMWithHeadsConfig
from worldmodel_sdk.training import fit

from .pymasep_games import DriftGame, environment, position

SPEC = DatasetSpec.from_agents(
    AgentSpec(name=n, obs_size=2, action_kind="discrete", action_size=3)
    for n in ("agent_10", "agent_2")
)
NAMES = ["agent_2", "agent_10"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pymasep's Environment writes its log files under ./logs


def random_policy(obs, rng):
    return {name: int(rng.integers(3)) for name in obs}


@functools.cache
def drift_data():
    env = environment(DriftGame(seed=0))
    return collect_episodes(
        env, SPEC, episodes=8, policy=random_policy, observe=position, max_steps=10, seed=0
    )


@functools.cache
def trained() -> JOPMWithHeads:
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig(
        agents=SPEC.agents, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8, task_head_width=8
    )
    model = JOPMWithHeads(config)
    fit(model, drift_data(), window=4, epochs=2, batch_size=16, progress=False, threads=1, seed=0)
    return model.eval()


def test_collects_a_real_pymasep_game_exactly() -> None:
    data = drift_data()
    assert data.spec.agent_names == ("agent_2", "agent_10")
    episode = data[0]
    assert (
        episode.obs["agent_2"].dtype == torch.float32
        and episode.actions["agent_2"].dtype == torch.int64
    )
    # Rewards are the game's own, per agent: minus the distance of the next position to 0.
    assert episode.rewards["agent_10"].tolist() == pytest.approx(
        [-abs(x) for x in episode.obs["agent_10"][1:, 0].tolist()]
    )
    for ep in data:
        assert bool(ep.terminated["agent_2"][-1]) != bool(ep.truncated["agent_2"][-1])
        assert ep.length == 10 or bool(ep.terminated["agent_2"][-1])


def game_env(**kwargs):
    data = drift_data()
    game = WorldModelGame(trained(), EpisodeStartSampler(data), seed=3, **kwargs)
    return game, environment(game)


def by_hand(model, latent, action_values):
    payload = ActionPayload(
        kind="joint", agents={n: torch.tensor([action_values[n]]) for n in NAMES}
    )
    with torch.no_grad():
        latent = model.transition(latent, payload, deterministic=True)
        return latent, model.decode(latent).predictions


def step(env, values):
    env.next_action = {f"State.{n}": make_action(env, values[n]) for n in NAMES}
    env.calculate_next_state()
    env.calculate_reward()
    env.calculate_end_episode()


def test_next_state_carries_memory_and_keeps_values_exact() -> None:
    game, env = game_env()
    env.current_state = game.initialize_state(env)
    model = game.model
    start = {n: observation(env.current_state, n) for n in NAMES}
    with torch.no_grad():
        latent = model.encode(
            {n: torch.from_numpy(start[n])[None] for n in NAMES}, deterministic=True
        )
    for values in [{"agent_2": 0, "agent_10": 2}, {"agent_2": 1, "agent_10": 1}]:
        step(env, values)
        latent, predicted = by_hand(model, latent, values)
        for n in NAMES:
            exact = predicted[n][0]
            assert torch.equal(torch.from_numpy(observation(env.current_state, n)), exact)
            listed = (
                env.current_state.objects[f"State.{n}"]
                .object_state.characteristics["Observation"]
                .value
            )
            assert listed == exact.tolist() and all(type(v) is float for v in listed)
        assert torch.equal(latent_state(env.current_state)["h"], latent["h"])  # memory carried
        reward = float(predicted["reward"][0])
        agent = next(a for a in env.current_state.agents if a.name == "agent_10")
        assert env.get_reward_for_agent(agent) == reward
        assert env.end_episode is (float(predicted["continue"][0]) < 0.5)
    assert list(env.current_state.objects)[1:3] == [
        "State.agent_2",
        "State.agent_10",
    ]  # natural order


def test_xml_round_trip_keeps_the_latent_and_the_exact_observations() -> None:
    game, env = game_env()
    env.current_state = game.initialize_state(env)
    step(env, {"agent_2": 2, "agent_10": 0})
    xml = tostring(env.current_state.to_xml())
    reloaded = env.create_object(name=None, xml_node=fromstring(xml), parent=None)
    actions = {f"State.{n}": make_action(env, 1) for n in NAMES}
    original, _ = game.next_state(env.current_state, actions)
    again, _ = game.next_state(reloaded, actions)
    for n in NAMES:
        assert observation(again, n).tolist() == observation(original, n).tolist()
    assert torch.equal(latent_state(again)["h"], latent_state(original)["h"])


def test_observe_state_shows_an_agent_only_its_own_observation() -> None:
    game, env = game_env()
    env.current_state = game.initialize_state(env)
    seen = game.observe_state(env.current_state, "State.agent_2")
    assert "State.WorldModel" not in seen.objects
    chars = lambda n: seen.objects[f"State.{n}"].object_state.characteristics["Observation"].value  # noqa: E731
    assert chars("agent_2") == observation(env.current_state, "agent_2").tolist()
    assert chars("agent_10") == []


def test_episodes_of_the_learned_game_train_a_model() -> None:
    game, env = game_env(
        reward_fn=lambda o, a, n: {k: -abs(float(v[0])) for k, v in n.items()},
        done_fn=lambda o, a, n: {k: False for k in n},
    )
    data = collect_episodes(
        env, SPEC, episodes=3, policy=random_policy, observe=observation, max_steps=6, seed=1
    )
    assert data.lengths == [6, 6, 6]
    first = data[0]
    assert first.rewards["agent_2"].tolist() == [
        -abs(x) for x in first.obs["agent_2"][1:, 0].tolist()
    ]
    model = JOPM(
        JOPMConfig(agents=SPEC.agents, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8)
    )
    result = fit(model, data, window=3, epochs=1, batch_size=8, progress=False, threads=1)
    assert np.isfinite(result.best_val_loss)


def test_bad_input_is_a_clear_error() -> None:
    game, env = game_env()
    env.current_state = game.initialize_state(env)
    with pytest.raises(
        ContractError,
        match=re.escape(
            "WorldModelGame.next_state: no action with a 'value' parameter for agent 'State.agent_10'; got actions for ['State.agent_2']"
        ),
    ):
        game.next_state(env.current_state, {"State.agent_2": make_action(env, 0)})
    with pytest.raises(
        ContractError,
        match=re.escape(
            "observation: unknown agent 'agent_3'; expected one of ['agent_2', 'agent_10']"
        ),
    ):
        observation(env.current_state, "agent_3")
    env.current_state.objects["State.WorldModel"].object_state.characteristics[
        "Envelope"
    ].value = "not base64!"
    with pytest.raises(
        SerializationError,
        match=re.escape("latent_state: the Envelope characteristic is not base64"),
    ):
        latent_state(env.current_state)
    with pytest.raises(CapabilityError, match=re.escape("reward_pred")):
        WorldModelGame(
            JOPM(JOPMConfig(agents=SPEC.agents, latent_dim=4)), EpisodeStartSampler(drift_data())
        )
    with pytest.raises(
        ContractError, match=re.escape("collect_episodes: max_steps must be at least 1; got 0")
    ):
        collect_episodes(
            env, SPEC, episodes=1, policy=random_policy, observe=observation, max_steps=0
        )
