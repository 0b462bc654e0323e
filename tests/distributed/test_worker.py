"""The worker without Ray: loads a model from its saved bytes and serves requests."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from worldmodel_sdk import create_model
from worldmodel_sdk.distributed._codec import decode_trajectory, encode_request
from worldmodel_sdk.distributed._worker import RolloutWorker


def _worker(tmp_path: Path, batching: bool) -> tuple[RolloutWorker, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model("example").eval()
    model.save_pretrained(tmp_path)
    weights = np.fromfile(tmp_path / "model.safetensors", dtype=np.uint8)
    config = (tmp_path / "config.json").read_bytes()
    return RolloutWorker(config, weights, [], 1, batching), model


def test_a_worker_without_batching_serves_each_request_alone(tmp_path: Path) -> None:
    worker, model = _worker(tmp_path, batching=False)
    assert worker.model.batching.max_batch_size == 1
    state = model.encode(torch.randn(3, 8), deterministic=True)
    actions = torch.rand(4, 3, 2) * 2 - 1

    async def serve() -> list[tuple[str, object]]:
        request = encode_request(state, actions, None)
        return list(
            await asyncio.gather(*(worker.rollout(request, True, "latent") for _ in range(3)))
        )

    with torch.no_grad():
        want = model.rollout(state, actions, deterministic=True, mode="latent")
    # A worker owns the thread that runs its loop (as in a Ray actor): give it one.
    with ThreadPoolExecutor(1) as pool:
        served = pool.submit(asyncio.run, serve()).result()
    assert torch.is_grad_enabled()
    for status, body in served:
        assert status == "ok"
        got = decode_trajectory(body)
        for a, b in zip(want.states, got.states, strict=True):
            assert torch.equal(a["h"], b["h"]) and torch.equal(a["z"], b["z"])


def test_a_batching_worker_keeps_the_model_default(tmp_path: Path) -> None:
    worker, _ = _worker(tmp_path, batching=True)
    assert worker.model.batching == type(worker.model).batching
