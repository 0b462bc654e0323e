from __future__ import annotations

import re

import pytest
import torch

from worldmodel_sdk import ActionPayload, CapabilityError, ContractError
from worldmodel_sdk.data import Episode, EpisodeDataset, concat_joint_obs
from worldmodel_sdk.evaluation import CopyLast, ModelPredictor, Predictor, evaluate
from worldmodel_sdk.models import RDLM, RDLMConfig

from .models.helpers import spread_data, trained_jopm


def ragged() -> EpisodeDataset:
    """Three held-out episodes of 25, 7 and 3 steps."""
    data = spread_data()
    cut = []
    for episode, length in zip(list(data)[-3:], (25, 7, 3), strict=True):
        cut.append(
            Episode(
                obs={k: v[: length + 1] for k, v in episode.obs.items()},
                actions={k: v[:length] for k, v in episode.actions.items()},
            )
        )
    return EpisodeDataset(data.spec, cut)


def by_hand(model, data: EpisodeDataset, horizon: int) -> tuple[list[float], list[float]]:
    """Per-horizon joint MSE of the model (through predict_sequences, one episode at a
    time, so every episode keeps its own length and memory) and of copy-last."""
    from worldmodel_sdk.training import episodes_to_input

    sums, copies, counts = [0.0] * horizon, [0.0] * horizon, [0] * horizon
    for index, episode in enumerate(data):
        steps = episode.length
        one = data.subset([index])
        batch = episodes_to_input(model, one, window=steps, stride=steps)
        true = concat_joint_obs(episode.obs, data.spec)
        for h in range(1, min(horizon, steps) + 1):
            if h < steps:
                _, rolled, starts = model.predict_sequences(batch, horizon=h)
                pred = rolled[:, -1]
            else:  # one start only: the whole episode open loop, step by step
                starts = torch.tensor([0])
                state = model.encode({k: v[:1] for k, v in episode.obs.items()}, True)
                for t in range(h):
                    action = {k: v[t : t + 1] for k, v in episode.actions.items()}
                    state = model.transition(state, ActionPayload(kind="joint", agents=action))
                pred = concat_joint_obs(model.decode(state).predictions, data.spec)
            target = true[starts + h]
            sums[h - 1] += float((pred.detach() - target).pow(2).sum())
            copies[h - 1] += float((true[starts] - target).pow(2).sum())
            counts[h - 1] += len(starts)
    size = true.shape[-1]
    return (
        [s / c / size for s, c in zip(sums, counts, strict=True)],
        [s / c / size for s, c in zip(copies, counts, strict=True)],
    )


def test_variable_length_episodes_are_scored_whole_with_memory_from_their_start() -> None:
    model, _ = trained_jopm()
    data = ragged()
    errors = evaluate(data, {"JOPM": model}, horizon=4)
    # starts with s + h <= T in episodes of 25, 7 and 3 steps: nothing cut to 3 steps
    assert errors.counts == [25 + 7 + 3, 24 + 6 + 2, 23 + 5 + 1, 22 + 4 + 0]
    jopm, copy = by_hand(model, data, 3)
    assert errors.mse["JOPM"]["joint"][:3] == pytest.approx(jopm, rel=1e-4)
    assert errors.mse["copy-last"]["joint"][:3] == pytest.approx(copy, rel=1e-6)
    sizes = data.spec.obs_sizes
    per_agent = [errors.mse["JOPM"][a][0] for a in data.spec.agent_names]
    joint = sum(m * s for m, s in zip(per_agent, sizes, strict=True)) / sum(sizes)
    assert errors.mse["JOPM"]["joint"][0] == pytest.approx(joint, rel=1e-6)
    assert errors.ratio("JOPM", "copy-last")[0] < 1


def test_user_baselines_are_scored_alongside() -> None:
    class Zero(Predictor):
        def rollouts(self, episode, spec, horizon):
            return torch.zeros(episode.length, horizon, spec.joint_obs_size)

    data = ragged()
    errors = evaluate(data, {"zero": Zero(), "copy": CopyLast()}, horizon=2)
    assert errors.mse["copy"] == errors.mse["copy-last"]
    first = concat_joint_obs(data[2].obs, data.spec)  # the 3-step episode alone
    alone = evaluate(data.subset([2]), {"zero": Zero()}, horizon=1)
    assert alone.mse["zero"]["joint"][0] == pytest.approx(float(first[1:].pow(2).mean()))


def test_bad_horizon_and_memoryless_recurrent_models_are_refused() -> None:
    with pytest.raises(
        ContractError,
        match=re.escape("evaluate: horizon 26 exceeds the longest episode (25 steps)"),
    ):
        evaluate(ragged(), {}, horizon=26)
    with pytest.raises(
        ContractError, match=re.escape("evaluate: horizon must be an integer >= 1; got 0")
    ):
        evaluate(ragged(), {}, horizon=0)
    with pytest.raises(
        CapabilityError,
        match=re.escape("RDLM is recurrent but lacks posterior_update: its memory cannot be"),
    ):
        ModelPredictor(RDLM(RDLMConfig(latent_dim=2, action_size=2)))
