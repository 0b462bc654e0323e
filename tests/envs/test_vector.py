from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from worldmodel_sdk import ContractError
from worldmodel_sdk.envs import WorldModelVectorEnv
from worldmodel_sdk.models import ExampleConfig, ExampleModel


def model() -> ExampleModel:
    torch.manual_seed(0)
    return ExampleModel(ExampleConfig(hidden_dim=16, latent_dim=8)).eval()


def starts(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.normal(size=(count, 8)).astype(np.float32)


def far(obs, actions, next_obs) -> np.ndarray:
    return np.abs(next_obs).max(-1) > 0.6


def make(num_envs: int = 4, **kwargs) -> WorldModelVectorEnv:
    kwargs.setdefault("done_fn", far)
    return WorldModelVectorEnv(model(), num_envs, starts, **kwargs)


def test_is_a_gymnasium_vector_env_with_batched_spaces_and_arrays():
    envs = make(max_episode_steps=3)
    assert (
        isinstance(envs, VectorEnv) and envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    )
    assert envs.observation_space.shape == (4, 8) and envs.action_space.shape == (4, 2)
    obs, infos = envs.reset(seed=1)
    assert obs.dtype == np.float32 and envs.observation_space.contains(obs) and infos == {}
    # Unbounded actions: gymnasium's unbounded Box, whose sample() draws moderate values.
    assert np.isinf(envs.single_action_space.low).all()
    assert np.isinf(envs.single_action_space.high).all()
    sampled = envs.action_space.sample()
    assert np.abs(sampled).max() < 100
    obs, rewards, terms, truncs, infos = envs.step(sampled)
    assert envs.observation_space.contains(obs)
    assert rewards.shape == (4,) and rewards.dtype == np.float64
    assert terms.dtype == np.bool_ and truncs.dtype == np.bool_


def test_rows_step_like_the_model_and_seeds_repeat():
    envs = make()
    obs, _ = envs.reset(seed=3)
    again, _ = make().reset(seed=3)
    np.testing.assert_array_equal(obs, again)
    actions = np.random.default_rng(0).uniform(-1, 1, (4, 2)).astype(np.float32)
    nxt, rewards, *_ = envs.step(actions)
    m = envs.model
    with torch.no_grad():
        for row in range(4):
            state = m.encode(torch.from_numpy(obs[row : row + 1]), deterministic=True)
            out = m.decode(
                m.transition(state, torch.from_numpy(actions[row : row + 1]), deterministic=True)
            )
            np.testing.assert_allclose(nxt[row], out["obs"][0].numpy(), rtol=1e-5, atol=1e-6)
            assert rewards[row] == pytest.approx(float(out["reward"][0, 0]), rel=1e-5)


def test_next_step_autoreset_restarts_only_the_rows_that_ended():
    drawn: list[int] = []

    def counting(rng, count):
        drawn.append(count)
        return starts(rng, count)

    def every_third(obs, actions, next_obs):
        return np.arange(len(next_obs)) % 3 == 0

    envs = WorldModelVectorEnv(model(), 6, counting, done_fn=every_third, max_episode_steps=5)
    envs.reset(seed=0)
    actions = np.zeros((6, 2), np.float32)
    ended = np.zeros(6, bool)
    for _ in range(12):
        before = list(drawn)
        obs, rewards, terms, truncs, _ = envs.step(actions)
        if ended.any():
            assert drawn == [*before, int(ended.sum())]
            assert not terms[ended].any() and not truncs[ended].any()
            assert (rewards[ended] == 0).all()
        else:
            assert drawn == before
        ended = terms | truncs
    assert drawn[0] == 6 and drawn.count(2) >= 4


def test_same_step_autoreset_reports_final_observations():
    envs = make(6, autoreset_mode="same_step", max_episode_steps=2)
    envs.reset(seed=0)
    envs.step(np.zeros((6, 2), np.float32))
    obs, _, terms, truncs, infos = envs.step(np.zeros((6, 2), np.float32))
    ended = terms | truncs
    assert ended.all() and infos["_final_obs"].all()
    assert all(final.shape == (8,) for final in infos["final_obs"])
    assert not any(
        np.array_equal(final, o) for final, o in zip(infos["final_obs"], obs, strict=True)
    )


def test_reset_mask_resets_the_given_rows():
    envs = make()
    obs, _ = envs.reset(seed=0)
    mask = np.array([True, False, False, True])
    again, _ = envs.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(again[~mask], obs[~mask])
    assert not np.array_equal(again[mask], obs[mask])


def test_gymnasium_vector_wrappers_record_episodes():
    envs = RecordEpisodeStatistics(make(max_episode_steps=5))
    envs.reset(seed=0)
    episodes = 0
    for _ in range(12):
        *_, infos = envs.step(envs.action_space.sample())
        episodes += int(infos.get("_episode", np.zeros(4, bool)).sum())
    assert episodes >= 4


def test_bad_actions_and_models_are_contract_errors():
    envs = make()
    envs.reset(seed=0)
    with pytest.raises(
        ContractError,
        match=re.escape(
            "actions has shape (3, 2); expected (4, 2) (num_envs first) [WorldModelVectorEnv.step]"
        ),
    ):
        envs.step(np.zeros((3, 2), np.float32))
    with pytest.raises(ContractError, match=re.escape("num_envs must be an int >= 1; got 0")):
        make(0)
    with pytest.raises(
        ContractError, match=re.escape("autoreset_mode must be 'next_step' or 'same_step'")
    ):
        make(autoreset_mode="Disabled")


def test_stable_baselines3_ppo_trains_on_the_vector_env():
    from stable_baselines3 import PPO

    from worldmodel_sdk.envs.sb3 import SB3VecEnv

    envs = make(8, autoreset_mode="same_step", max_episode_steps=10)
    agent = PPO(
        "MlpPolicy", SB3VecEnv(envs), n_steps=16, batch_size=64, n_epochs=1, seed=0, device="cpu"
    )
    agent.learn(256)
    assert agent.num_timesteps == 256
    # Stable-Baselines3 needs finite bounds: the unbounded Box gets the float32 limits.
    limit = np.finfo(np.float32).max
    assert (agent.action_space.low == -limit).all() and (agent.action_space.high == limit).all()
    with pytest.raises(
        ContractError,
        match=re.escape("needs a WorldModelVectorEnv with autoreset_mode='same_step'"),
    ):
        SB3VecEnv(make())


def test_reward_and_done_functions_must_give_one_finite_value_per_row():
    for kwargs, message in (
        (
            {"reward_fn": lambda o, a, n: np.zeros(8)},
            "reward_fn returned shape (8,); expected (4,)",
        ),
        (
            {"done_fn": lambda o, a, n: np.zeros(3, bool)},
            "done_fn returned shape (3,); expected (4,)",
        ),
        ({"reward_fn": lambda o, a, n: np.full(4, np.nan)}, "reward_fn returned NaN or inf"),
    ):
        envs = make(**kwargs)
        envs.reset(seed=0)
        state = envs._state
        with pytest.raises(ContractError, match=re.escape(message)) as caught:
            envs.step(np.zeros((4, 2), np.float32))
        assert str(caught.value).endswith("[WorldModelVectorEnv.step]")
        assert envs._state is state
    envs = make(done_fn=lambda o, a, n: False)  # a scalar stands for every row
    envs.reset(seed=0)
    _, _, terms, _, _ = envs.step(np.zeros((4, 2), np.float32))
    assert terms.shape == (4,) and not terms.any()


def test_seeded_resets_repeat_a_stochastic_model_and_leave_torch_alone():
    def episode(envs, seed):
        obs, _ = envs.reset(seed=seed)
        seen = [obs]
        for _ in range(3):
            seen.append(envs.step(np.full((4, 2), 0.5, np.float32))[0])
        return np.stack(seen)

    first, second = make(deterministic=False), make(deterministic=False)
    torch.manual_seed(123)
    outer = torch.get_rng_state()
    run = episode(first, 1)
    assert torch.equal(torch.get_rng_state(), outer)  # the global generator is untouched
    torch.manual_seed(7)  # other code drawing in between changes nothing
    np.testing.assert_array_equal(episode(second, 1), run)
    assert not np.array_equal(episode(second, 2), run)
    np.testing.assert_array_equal(episode(first, 1), run)


class Bounded(ExampleModel):
    """`ExampleModel` whose actions must lie in [0.5, 2]; it refuses others itself."""

    def io_contract(self):
        contract = super().io_contract()
        action = contract.action.model_copy(update={"low": 0.5, "high": 2.0})
        return contract.model_copy(update={"action": action})

    def transition(self, state, action, conditions=None, deterministic=False):
        if bool((action < 0.5).any()):
            raise ValueError(f"simulator got action {float(action.min())} < low")
        return super().transition(state, action, conditions, deterministic)


def bounded() -> Bounded:
    torch.manual_seed(0)
    return Bounded(ExampleConfig(hidden_dim=16, latent_dim=8)).eval()


def test_a_row_restarting_on_the_next_step_ignores_any_action():
    first_row_ends = {
        "done_fn": lambda o, a, n: np.array([True, False]),
        "reward_fn": lambda o, a, n: -np.abs(a).sum(-1),  # sees the stand-in, not the NaN
    }
    for envs in (
        make(2, **first_row_ends),
        WorldModelVectorEnv(bounded(), 2, starts, **first_row_ends),
    ):
        envs.reset(seed=0)
        envs.step(np.ones((2, 2), np.float32))  # row 0 ends; it restarts on the next step
        wild = np.array([[np.nan, 1e30], [1.0, 1.0]], np.float32)
        obs, rewards, terms, _, _ = envs.step(wild)
        assert rewards.tolist() == [0.0, -2.0] and not terms[0] and np.isfinite(obs).all()
        with pytest.raises(ContractError, match=re.escape("action contains NaN or inf")):
            envs.step(np.array([[1.0, 1.0], [np.nan, 1.0]], np.float32))  # a live row's is
    envs = WorldModelVectorEnv(bounded(), 2, starts, **first_row_ends)
    envs.reset(seed=0)
    envs.step(np.ones((2, 2), np.int64))
    _, rewards, _, _, _ = envs.step(np.ones((2, 2), np.int64))  # the stand-in 0.5 is no int
    assert rewards.tolist() == [0.0, -2.0]


def test_a_refused_step_leaves_the_seeded_stream_where_it_was():
    calls = []

    def refuses_once(obs, actions, next_obs):
        calls.append(1)
        return np.full(4, np.nan) if len(calls) == 2 else np.zeros(4)

    steady = make(deterministic=False, reward_fn=lambda o, a, n: np.zeros(4))
    flaky = make(deterministic=False, reward_fn=refuses_once)
    actions = np.zeros((4, 2), np.float32)
    for envs in (steady, flaky):
        envs.reset(seed=2**70)  # any non-negative int, as NumPy takes
        envs.step(actions)
    with pytest.raises(ContractError, match=re.escape("reward_fn returned NaN or inf")):
        flaky.step(actions)
    np.testing.assert_array_equal(flaky.step(actions)[0], steady.step(actions)[0])


def test_episode_limits_must_be_positive_ints():
    for bad in (0, -5, None, 2.5, True):
        message = f"max_episode_steps must be an int >= 1; got {bad!r} [WorldModelVectorEnv]"
        with pytest.raises(ContractError, match=re.escape(message)):
            make(max_episode_steps=bad)
