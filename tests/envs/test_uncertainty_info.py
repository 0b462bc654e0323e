"""Simulated envs report a model's epistemic uncertainty in ``infos`` when it declares one."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch

from worldmodel_sdk.envs import (
    BatchedWorldModelEnv,
    ComponentFunctions,
    WorldModelEnv,
    WorldModelVectorEnv,
)
from worldmodel_sdk.errors import ContractError
from worldmodel_sdk.models import ExampleModel
from worldmodel_sdk.payloads.outputs import ModelOutput

from ..conformance.broken_uncertainty import example_ensemble, jopm_ensemble


def starts(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.normal(size=(count, 4)).astype(np.float32)


def ends_after_one_step(obs, actions, next_obs) -> np.ndarray:
    return np.array([True, False, False])


def test_vector_env_reports_each_rows_disagreement_except_rows_restarted() -> None:
    model = example_ensemble().eval()
    envs = WorldModelVectorEnv(model, 3, starts, done_fn=ends_after_one_step)
    envs.reset(seed=0)
    actions = np.zeros((3, 2), np.float32)
    _, _, terms, _, infos = envs.step(actions)
    spread, valid = infos["disagreement"], infos["_disagreement"]
    assert terms.tolist() == [True, False, False] and valid.tolist() == [True, True, True]
    assert spread.shape == (3,) and spread.dtype == np.float64 and bool((spread > 0).all())
    state = envs._state
    with torch.no_grad():
        want = model.decode(state)["obs.disagreement"].mean(-1).double().numpy()
    np.testing.assert_allclose(spread, want)
    _, _, _, _, infos = envs.step(actions)  # row 0 restarts (next_step autoreset)
    assert infos["_disagreement"].tolist() == [False, True, True]
    assert infos["disagreement"][0] == 0.0 and bool((infos["disagreement"][1:] > 0).all())


def test_vector_env_of_a_plain_model_adds_no_disagreement() -> None:
    torch.manual_seed(0)
    plain = ExampleModel({"obs_dim": 4, "hidden_dim": 8, "latent_dim": 4}).eval()
    envs = WorldModelVectorEnv(plain, 3, starts, done_fn=ends_after_one_step)
    envs.reset(seed=0)
    *_, infos = envs.step(np.zeros((3, 2), np.float32))
    assert "disagreement" not in infos


def test_world_model_env_reports_each_agents_disagreement() -> None:
    model = jopm_ensemble().eval()
    components = ComponentFunctions(
        reward_fn=lambda o, a, n: {k: 0.0 for k in n},
        done_fn=lambda o, a, n: {k: False for k in n},
    )

    def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"a_0": rng.normal(size=3), "a_1": rng.normal(size=2)}

    env = WorldModelEnv(model, components, sample, max_cycles=3)
    _, infos = env.reset(seed=0)
    assert infos == {"a_0": {}, "a_1": {}}
    _, _, _, _, infos = env.step({"a_0": 1, "a_1": np.zeros(2, np.float32)})
    assert sorted(infos) == ["a_0", "a_1"]
    for agent, info in infos.items():
        assert sorted(info) == ["disagreement"]
        assert isinstance(info["disagreement"], float) and info["disagreement"] > 0, agent


def test_batched_env_reports_each_agents_disagreement_per_row() -> None:
    model = jopm_ensemble().eval()
    first_row_ends = np.array([True, False, False])
    components = ComponentFunctions(
        reward_fn=lambda o, a, n: {k: np.zeros(3) for k in n},
        done_fn=lambda o, a, n: {k: first_row_ends for k in n},
    )

    def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"a_0": rng.normal(size=3), "a_1": rng.normal(size=2)}

    envs = BatchedWorldModelEnv(model, components, sample, num_envs=3)
    envs.reset(seed=0)
    actions = {"a_0": np.ones(3, np.int64), "a_1": np.zeros((3, 2), np.float32)}
    *_, infos = envs.step(actions)
    for agent in ("a_0", "a_1"):
        assert infos[agent]["_disagreement"].tolist() == [True, True, True]
        assert bool((infos[agent]["disagreement"] > 0).all())
    *_, infos = envs.step(actions)  # row 0 ended: it restarts on this step
    assert infos["a_1"]["_disagreement"].tolist() == [False, True, True]
    assert infos["a_1"]["disagreement"][0] == 0.0


def test_batched_env_masks_the_disagreement_of_agents_that_had_finished() -> None:
    model = jopm_ensemble().eval()
    a_0_ends_in_row_0 = {"a_0": np.array([True, False, False]), "a_1": np.zeros(3, np.bool_)}
    components = ComponentFunctions(
        reward_fn=lambda o, a, n: {k: np.zeros(3) for k in n},
        done_fn=lambda o, a, n: a_0_ends_in_row_0,
    )

    def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"a_0": rng.normal(size=3), "a_1": rng.normal(size=2)}

    envs = BatchedWorldModelEnv(model, components, sample, num_envs=3)
    envs.reset(seed=0)
    actions = {"a_0": np.ones(3, np.int64), "a_1": np.zeros((3, 2), np.float32)}
    *_, infos = envs.step(actions)
    assert envs.live()["a_0"].tolist() == [False, True, True]
    *_, infos = envs.step(actions)  # a_0 of row 0 is gone; a_1 plays on
    assert infos["a_0"]["_disagreement"].tolist() == [False, True, True]
    assert infos["a_0"]["disagreement"][0] == 0.0
    assert infos["a_1"]["_disagreement"].tolist() == [True, True, True]


def _drop_disagreement(model: torch.nn.Module, key: str) -> None:
    """Make ``model.decode`` break its declaration: the prediction ``key`` goes missing."""
    decode = model.decode

    def without(state: object, *args: object, **kwargs: object) -> ModelOutput:
        out = decode(state, *args, **kwargs)
        return ModelOutput({k: v for k, v in out.predictions.items() if k != key}, out.state)

    model.decode = without  # type: ignore[method-assign]


def test_a_missing_disagreement_is_refused_before_the_vector_env_commits() -> None:
    model = example_ensemble().eval()
    envs = WorldModelVectorEnv(model, 3, starts, done_fn=ends_after_one_step)
    envs.reset(seed=0)
    _drop_disagreement(model, "obs.disagreement")
    state, obs = envs._state, envs._obs.copy()
    message = "the model declares epistemic_uncertainty but decode returned no 'obs.disagreement'"
    with pytest.raises(ContractError, match=re.escape(message)) as caught:
        envs.step(np.zeros((3, 2), np.float32))
    assert str(caught.value).endswith("[WorldModelVectorEnv.step]")
    assert envs._state is state and np.array_equal(envs._obs, obs)


def test_a_missing_disagreement_is_refused_before_the_agent_envs_commit() -> None:
    components = ComponentFunctions(
        reward_fn=lambda o, a, n: {k: np.zeros(np.shape(n[k])[:-1]) for k in n},
        done_fn=lambda o, a, n: {k: np.zeros(np.shape(n[k])[:-1], np.bool_) for k in n},
    )

    def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"a_0": rng.normal(size=3), "a_1": rng.normal(size=2)}

    message = "the model declares epistemic_uncertainty but decode returned no 'a_1.disagreement'"
    model = jopm_ensemble().eval()
    env = WorldModelEnv(model, components, sample, max_cycles=3)
    env.reset(seed=0)
    _drop_disagreement(model, "a_1.disagreement")
    state, agents = env._state, list(env.agents)
    with pytest.raises(ContractError, match=re.escape(message)) as caught:
        env.step({"a_0": 1, "a_1": np.zeros(2, np.float32)})
    assert str(caught.value).endswith("[WorldModelEnv.step]")
    assert env._state is state and env.agents == agents and env._steps == 0

    model = jopm_ensemble().eval()
    envs = BatchedWorldModelEnv(model, components, sample, num_envs=3)
    envs.reset(seed=0)
    _drop_disagreement(model, "a_1.disagreement")
    state = envs._state
    with pytest.raises(ContractError, match=re.escape(message)):
        envs.step({"a_0": np.ones(3, np.int64), "a_1": np.zeros((3, 2), np.float32)})
    assert envs._state is state and envs._steps.tolist() == [0, 0, 0]


def test_seeded_resets_repeat_a_stochastic_model_in_the_agent_envs() -> None:
    components = ComponentFunctions(
        reward_fn=lambda o, a, n: {k: np.zeros(np.shape(n[k])[:-1]) for k in n},
        done_fn=lambda o, a, n: {k: np.zeros(np.shape(n[k])[:-1], np.bool_) for k in n},
    )
    elsewhere = itertools.count()  # other code's global draws, different every time

    def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"a_0": rng.normal(size=3), "a_1": rng.normal(size=2)}

    def batched(seed: int) -> np.ndarray:
        envs = BatchedWorldModelEnv(jopm_ensemble().eval(), components, sample, 4)
        envs.deterministic = False  # members drawn per row from torch's generator
        torch.manual_seed(next(elsewhere))
        envs.reset(seed=seed)
        torch.manual_seed(next(elsewhere))
        actions = {"a_0": np.ones(4, np.int64), "a_1": np.zeros((4, 2), np.float32)}
        return np.stack([envs.step(actions)[0]["a_1"] for _ in range(3)])

    def single(seed: int) -> np.ndarray:
        env = WorldModelEnv(jopm_ensemble().eval(), components, sample, deterministic=False)
        torch.manual_seed(next(elsewhere))
        env.reset(seed=seed)
        torch.manual_seed(next(elsewhere))
        actions = {"a_0": 1, "a_1": np.zeros(2, np.float32)}
        return np.stack([env.step(actions)[0]["a_1"] for _ in range(3)])

    for run in (batched, single):
        np.testing.assert_array_equal(run(3), run(3))
        assert not np.array_equal(run(3), run(4))
