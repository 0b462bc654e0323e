"""A rollout worker loads an ensemble from its saved bytes and serves its disagreement."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from worldmodel_sdk import create_model
from worldmodel_sdk.distributed._codec import decode_trajectory, encode_request
from worldmodel_sdk.distributed._worker import RolloutWorker


def test_a_worker_serves_an_ensembles_rollout_with_its_disagreement(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("ensemble[example]", members=2, member={"obs_dim": 4}).eval()
    model.save_pretrained(tmp_path)
    weights = np.fromfile(tmp_path / "model.safetensors", dtype=np.uint8)
    worker = RolloutWorker((tmp_path / "config.json").read_bytes(), weights, [], 1, False)
    assert type(worker.model) is type(model)
    state = model.encode(torch.randn(3, 4), deterministic=True)
    actions = torch.rand(2, 3, 2) * 2 - 1
    request = encode_request(state, actions, None)
    # A worker owns the thread that runs its loop (as in a Ray actor): give it one.
    with ThreadPoolExecutor(1) as pool:
        status, body = pool.submit(
            asyncio.run, worker.rollout(request, True, "autoregressive")
        ).result()
    assert status == "ok"
    got = decode_trajectory(body)
    with torch.no_grad():
        want = model.rollout(state, actions, deterministic=True)
    assert got.predictions is not None and want.predictions is not None
    for key in ("obs", "obs.disagreement", "reward.disagreement"):
        assert torch.equal(got.predictions[key], want.predictions[key])
