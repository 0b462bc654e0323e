"""Shared, cached real data and a briefly trained JOPM for the model, env and training tests."""

from __future__ import annotations

import functools

import torch

from worldmodel_sdk.data import EpisodeDataset, collect_parallel
from worldmodel_sdk.models import JOPM, JOPMConfig
from worldmodel_sdk.training import FitResult, fit


def simple_spread(max_cycles: int = 25):
    from mpe2 import simple_spread_v3

    return simple_spread_v3.parallel_env(N=3, max_cycles=max_cycles, continuous_actions=False)


@functools.cache
def spread_data(episodes: int = 40, seed: int = 0) -> EpisodeDataset:
    """Random-policy simple_spread episodes (25 steps each)."""
    return collect_parallel(simple_spread(), episodes=episodes, seed=seed)


@functools.cache
def trained_jopm() -> tuple[JOPM, FitResult]:
    """A JOPM trained for a few epochs on 40 real episodes (a few seconds)."""
    torch.manual_seed(0)
    model = JOPM(JOPMConfig.from_spec(spread_data().spec))
    result = fit(
        model,
        spread_data(),
        window=8,
        window_stride=2,
        epochs=6,
        batch_size=32,
        lr=3e-3,
        patience=6,
        seed=0,
        progress=False,
        threads=1,
    )
    return model, result
