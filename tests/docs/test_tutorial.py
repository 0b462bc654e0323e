"""The tutorial 'Train a policy inside your world model' runs as written, at a tiny scale."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodel_sdk.envs import save_env
from worldmodel_sdk.models import JOPM, JOPMConfig

from .markdown_blocks import DOCS, python_blocks

pytest.importorskip("stable_baselines3", reason="needs the rl extra")

PAGE = DOCS / "tutorials" / "train-a-policy.md"
TINY = {"TIMESTEPS": "128", "N_STEPS": "64", "EVAL_EPISODES": "1"}


def saved_model(directory: Path) -> Path:
    """A small, untrained JOPM saved as the quickstart saves its model."""
    torch.manual_seed(0)
    model = JOPM(JOPMConfig(latent_dim=8, vae_width=16, rnn_hidden=16, head_width=16)).eval()
    rng = np.random.default_rng(0)
    starts = {f"agent_{i}": rng.normal(0, 0.5, size=(8, 18)).astype(np.float32) for i in range(3)}
    return save_env(directory, model, starts, components="mpe2.simple_spread_v3", max_cycles=10)


def test_tutorial_trains_ppo_in_the_model_and_evaluates_in_the_real_env(tmp_path: Path) -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) == 4
    settings = {"MODEL_DIR": repr(str(saved_model(tmp_path / "jopm"))), **TINY}
    code = blocks[0].code
    for name, value in settings.items():
        code, count = re.subn(rf"^{name} = .*$", f"{name} = {value}", code, flags=re.M)
        assert count == 1, name
    namespace: dict[str, object] = {"__name__": "tutorial"}
    for source in [code, *(b.code for b in blocks[1:])]:
        exec(compile(source, str(PAGE), "exec"), namespace)
    policy = namespace["policy"]
    assert policy.num_timesteps >= 128  # type: ignore[attr-defined]
    for name in ("ppo_return", "random_return"):
        value = namespace[name]
        assert isinstance(value, float) and math.isfinite(value) and value < 0
