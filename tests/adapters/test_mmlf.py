from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

from worldmodel_sdk import ActionPayload, CapabilityError, ContractError
from worldmodel_sdk.adapters.mmlf import ContinuousDimension, MMLFEnvironment, MMLFModel
from worldmodel_sdk.data import AgentSpec
from worldmodel_sdk.envs import ComponentFunctions, SingleAgentEnv, WorldModelEnv
from worldmodel_sdk.models import JOPM, JOPMConfig, JOPMWithHeads, JOPMWithHeadsConfig
from worldmodel_sdk.training import fit

from . import mmlf_reference as ref

DIMS = [ContinuousDimension("position", -1.2, 0.6), ContinuousDimension("velocity", -0.07, 0.07)]
AGENT = AgentSpec(name="car", obs_size=2, action_kind="discrete", action_size=3)


def heads_model() -> JOPMWithHeads:
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig(
        agents=(AGENT,), latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8, task_head_width=8
    )
    return JOPMWithHeads(config).eval()


def starts(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"car": np.array([rng.uniform(-0.6, -0.4), 0.0], dtype=np.float32)}


def shim(**kwargs) -> MMLFModel:
    return MMLFModel(heads_model(), DIMS, starts, **kwargs)


def reference_step(model, latent, action: int):
    payload = ActionPayload(kind="joint", agents={"car": torch.tensor([action])})
    with torch.no_grad():
        latent = model.transition(latent, payload, deterministic=True)
        return latent, model.decode(latent).predictions


def encode(model, raw) -> object:
    with torch.no_grad():
        return model.encode(
            {"car": torch.tensor(np.asarray(raw, dtype=np.float32)[None])}, deterministic=True
        )


def test_methods_have_the_documented_names_and_parameters() -> None:
    for cls, protocol in (
        (MMLFModel, ref.MODEL_PROTOCOL),
        (MMLFEnvironment, ref.ENVIRONMENT_PROTOCOL),
    ):
        for name, params in protocol.items():
            signature = inspect.signature(getattr(cls, name))
            assert tuple(signature.parameters)[1:] == params, name


def test_successors_are_the_models_predictions_with_memory_carried() -> None:
    mmlf = shim(scaled=False)
    model = mmlf.model
    raw = [-0.5, 0.01]
    first = mmlf.sampleSuccessorState(raw, {"action": 2})
    latent, predicted = reference_step(model, encode(model, raw), 2)
    # Unscaled: the model's float32 prediction comes back exactly, as float64 values.
    assert first.dtype == np.float64
    assert first.tolist() == predicted["car"][0].tolist()
    second = mmlf.sampleSuccessorState(first, 0)
    _, carried = reference_step(model, latent, 0)
    _, fresh = reference_step(model, encode(model, first), 0)
    assert second.tolist() == carried["car"][0].tolist()
    assert second.tolist() != fresh["car"][0].tolist()  # the memory matters


def test_scaled_states_map_each_range_to_unit_interval() -> None:
    mmlf = shim()
    raw = np.array([-0.5, 0.01])
    scaled = ref.State(
        raw, [ref.Dimension(d.name, "continuous", [(d.low, d.high)]) for d in DIMS]
    ).scale()
    successor = mmlf.sampleSuccessorState(scaled, {"action": 1})
    _, predicted = reference_step(mmlf.model, encode(mmlf.model, raw), 1)
    expected = (predicted["car"][0].double().numpy() - [-1.2, -0.07]) / [1.8, 0.14]
    np.testing.assert_allclose(successor, expected, rtol=0, atol=1e-12)
    # Named dimensions are accepted too, in any order.
    by_name = {"velocity": float(scaled[1]), "position": float(scaled[0])}
    assert mmlf.sampleSuccessorState(by_name, 1).tolist() == successor.tolist()


def test_rewards_terminals_and_starts_come_from_the_model_heads() -> None:
    mmlf = shim(scaled=False)
    model = mmlf.model
    raw = [-0.5, 0.01]
    _, predicted = reference_step(model, encode(model, raw), 1)
    assert mmlf.getExpectedReward(raw, 1) == float(predicted["reward"][0])
    with torch.no_grad():
        keep = float(model.decode(encode(model, raw)).predictions["continue"][0])
    assert mmlf.isTerminalState(raw) is (keep < 0.5)
    start = mmlf.drawStartState()
    assert start.tolist() == starts(np.random.default_rng(0))["car"].astype(np.float64).tolist()
    assert mmlf.getSuccessorDistribution(raw, 1) == [
        (pytest.approx(predicted["car"][0].double().numpy()), 1.0)
    ]
    assert 0.0 < mmlf.getConfidence(raw, 1) <= 1.0


def test_given_functions_win_over_the_heads() -> None:
    mmlf = MMLFModel(
        heads_model(),
        DIMS,
        starts,
        reward_fn=lambda o, a, n: float(a) - 10.0,
        terminal_fn=lambda o: bool(o[0] >= 0.5),
        scaled=False,
    )
    assert mmlf.getExpectedReward([0.0, 0.0], 2) == -8.0
    assert mmlf.isTerminalState([0.55, 0.0]) is True
    assert mmlf.isTerminalState([0.45, 0.0]) is False


def test_experience_becomes_episodes_that_train_a_model() -> None:
    mmlf = shim()
    rng = np.random.default_rng(0)
    for _ in range(3):
        state = mmlf.drawStartState()
        for _ in range(12):
            action = {"action": int(rng.integers(3))}
            succ = np.clip(state + rng.normal(0, 0.02, 2), 0, 1)
            mmlf.addExperience(state, action, succ, -1.0)
            state = succ
    assert (
        mmlf.getExplorationValue(state, 0)
        + mmlf.getExplorationValue(state, 1)
        + mmlf.getExplorationValue(state, 2)
        >= 1
    )
    data = mmlf.dataset()
    assert data.lengths == [12, 12, 12]
    assert data[0].obs["car"].dtype == torch.float32
    assert data[0].actions["car"].dtype == torch.int64
    assert data[0].rewards["car"].tolist() == [-1.0] * 12
    model = JOPM(
        JOPMConfig.from_spec(data.spec, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8)
    )
    result = fit(model, data, window=4, epochs=2, batch_size=8, progress=False, threads=1)
    assert np.isfinite(result.best_val_loss)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(
        ContractError,
        match=re.escape("MMLFModel: 1 dimensions given; the observation has 2 values"),
    ):
        MMLFModel(heads_model(), DIMS[:1], starts)
    with pytest.raises(
        ContractError,
        match=re.escape("dimension 'x' has range (1.0, 1.0); expected finite low < high"),
    ):
        ContinuousDimension("x", 1.0, 1.0)
    with pytest.raises(CapabilityError, match=re.escape("continue_pred")):
        MMLFModel(
            JOPM(JOPMConfig(agents=(AGENT,), latent_dim=4)),
            DIMS,
            starts,
            reward_fn=lambda o, a, n: 0.0,
        )
    mmlf = shim()
    with pytest.raises(
        ContractError,
        match=re.escape(
            "MMLFModel.sampleSuccessorState: state has dimensions ['position']; expected ['position', 'velocity']"
        ),
    ):
        mmlf.sampleSuccessorState({"position": 0.5}, 0)
    with pytest.raises(
        ContractError,
        match=re.escape("MMLFModel: action has dimensions ['steer']; expected ['action']"),
    ):
        mmlf.sampleSuccessorState([0.5, 0.5], {"steer": 1})


def simulated_env(max_cycles: int) -> SingleAgentEnv:
    components = ComponentFunctions(
        reward_fn=lambda o, a, n: {k: float(-abs(v[0])) for k, v in n.items()},
        done_fn=lambda o, a, n: {k: bool(v[0] > 5.0) for k, v in n.items()},
    )
    return SingleAgentEnv(WorldModelEnv(heads_model(), components, starts, max_cycles=max_cycles))


def test_environment_reports_the_envs_values_exactly_under_named_dimensions() -> None:
    env = MMLFEnvironment(simulated_env(max_cycles=3), DIMS, seed=7)
    twin = simulated_env(max_cycles=3)
    obs, _ = twin.reset(seed=7)
    assert env.getStateSpace() == {
        "position": ("continuous", [(-1.2, 0.6)]),
        "velocity": ("continuous", [(-0.07, 0.07)]),
    }
    assert env.getActionSpace() == {"action": ("discrete", [0, 1, 2])}
    initial = MMLFEnvironment(simulated_env(max_cycles=3), DIMS, seed=7).getInitialState()
    assert list(initial) == ["position", "velocity"]
    assert [initial["position"], initial["velocity"]] == obs.tolist()
    chosen = []

    def choose(scaled, actions):
        assert isinstance(scaled, ref.State) and scaled.shape == (2,)
        action = actions.getActionList()[len(chosen) % 3]
        chosen.append(action["action"])
        return action

    results = ref.run_interaction(env, choose, steps=4)
    for step, result in enumerate(results[:2]):
        obs, reward, *_ = twin.step(chosen[step])
        assert list(result["nextState"].values()) == obs.tolist()
        assert result["reward"] == reward and result["terminalState"] is None
        assert result["startNewEpisode"] is False
    # The third step truncates (max_cycles=3): no terminal state, a new episode begins.
    assert results[2]["startNewEpisode"] is True and results[2]["terminalState"] is None
    assert results[3]["startNewEpisode"] is False


def test_environment_rejects_mismatched_dimensions_and_early_actions() -> None:
    with pytest.raises(
        ContractError,
        match=re.escape("MMLFEnvironment: 3 dimensions given; the observation has 2 values"),
    ):
        MMLFEnvironment(simulated_env(3), [*DIMS, ContinuousDimension("z", 0, 1)])
    env = MMLFEnvironment(simulated_env(3), DIMS)
    with pytest.raises(
        ContractError,
        match=re.escape("MMLFEnvironment.evaluateAction called before getInitialState()"),
    ):
        env.evaluateAction({"action": 0})
