"""The guide 'Writing a model' runs as written: every block, every shown output."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    CapabilityError,
    ContractError,
    SerializationError,
    State,
    WorldModel,
    load_pretrained,
)
from worldmodel_sdk.registry import unregister_model

from .markdown_blocks import DOCS, python_blocks, run_blocks

PAGE = DOCS / "guide" / "writing-a-model.md"


@pytest.fixture(scope="module")
def guide() -> Iterator[dict[str, Any]]:
    namespace: dict[str, Any] = {"__name__": "writing_a_model"}
    try:
        run_blocks(PAGE, namespace)
        yield namespace
    finally:
        unregister_model("pair-model")


def test_page_has_checked_blocks() -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 15
    assert sum(b.expected is not None for b in blocks) >= 12


def test_guide_runs_and_prints_what_it_shows(guide: dict[str, Any]) -> None:
    model = guide["model"]
    assert isinstance(model, WorldModel)
    assert type(model).__name__ == "PairModel"


def test_validation_errors(guide: dict[str, Any]) -> None:
    model = guide["model"]
    with pytest.raises(ContractError, match=re.escape("contract expects (B, 6)")):
        model.validate_observation({"agent_0": torch.zeros(2, 4), "agent_1": torch.zeros(2, 7)})
    bad = ActionPayload(
        kind="joint", agents={"agent_0": torch.tensor([9]), "agent_1": torch.zeros(1, 2)}
    )
    with pytest.raises(ContractError, match=re.escape("expected 0 <= action < 5")):
        model.validate_action(bad)
    with pytest.raises(
        ContractError,
        match=re.escape("action_sequence[0]['agent_0']") + r".*\[PairModel\.rollout\]$",
    ):
        model.rollout(State({"z": torch.zeros(2, 8)}), [bad])
    with pytest.raises(CapabilityError, match="does not declare capability 'value'"):
        model.require("value")


def test_rollout_sync_equals_async(guide: dict[str, Any]) -> None:
    import asyncio

    model, state, plan = guide["model"], guide["state"], guide["plan"]
    sync = model.rollout(state, plan, deterministic=True)
    later = asyncio.run(model.async_rollout(state, plan, deterministic=True))
    assert torch.equal(sync.stacked("z"), later.stacked("z"))
    assert torch.equal(sync.rewards, later.rewards)
    for key, value in sync.predictions.items():
        assert torch.equal(value, later.predictions[key])
    assert torch.equal(sync.actions, later.actions)


def test_save_load_round_trip(guide: dict[str, Any], tmp_path: Path) -> None:
    model, state, plan = guide["model"], guide["state"], guide["plan"]
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert loaded.contract_fingerprint() == model.contract_fingerprint()
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    want = model.rollout(state, plan, deterministic=True)
    got = loaded.rollout(state, plan, deterministic=True)
    assert torch.equal(want.stacked("z"), got.stacked("z"))


def test_load_refuses_a_corrupt_directory(guide: dict[str, Any], tmp_path: Path) -> None:
    guide["model"].save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(
        SerializationError, match="does not match the SHA-256 recorded in config.json"
    ):
        load_pretrained(tmp_path)
