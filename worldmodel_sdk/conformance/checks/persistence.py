"""Persistence checks: ``save_pretrained`` / ``from_pretrained`` round trips exactly."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from ...capabilities import DECODE_CAPABILITIES, Capability
from ...model import WorldModel
from ...payloads.outputs import ModelOutput
from ...persistence import CONFIG_NAME
from ..asserts import compare_outputs, compare_states, compare_tensors, describe, expect_call
from ..context import CheckContext
from ..registry import check
from ..results import CheckFailure

__all__ = ["config", "round_trip"]


def _outputs(ctx: CheckContext, model: WorldModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with torch.no_grad():
        if ctx.has(Capability.REPRESENTATION):
            out["encode(obs, deterministic=True)"] = model.encode(ctx.obs, True)
        if ctx.has(Capability.LATENT_DYNAMICS):
            action = ctx.actions(1)[0]
            out["transition(state, action, deterministic=True)"] = model.transition(
                ctx.state, action, ctx.conditions, True
            )
        if ctx.has(Capability.POSTERIOR_UPDATE):
            action = ctx.actions(1)[0]
            out["update(state, action, obs, deterministic=True)"] = model.update(
                ctx.state, action, ctx.obs, ctx.conditions, True
            )
        if ctx.capabilities & DECODE_CAPABILITIES:
            out["decode(state)"] = model.decode(ctx.state, ctx.conditions)
    return out


def _round_trip(ctx: CheckContext, directory: Path) -> WorldModel:
    cls = type(ctx.model)
    expect_call(f"{ctx.name}.save_pretrained(dir)", ctx.model.save_pretrained, directory)
    loaded = expect_call(f"{cls.__name__}.from_pretrained(dir)", cls.from_pretrained, directory)
    if type(loaded) is not cls:
        raise CheckFailure(f"{cls.__name__}.from_pretrained(dir)", cls.__name__, describe(loaded))
    loaded.eval()
    return loaded


@check("persistence.round_trip")
def round_trip(ctx: CheckContext) -> None:
    """A model loaded back gives identical weights, buffers and outputs."""
    with tempfile.TemporaryDirectory(prefix="wmsdk-check-") as tmp:
        loaded = _round_trip(ctx, Path(tmp))
    call = f"{ctx.name}.from_pretrained(save_pretrained(dir))"
    want, got = ctx.model.state_dict(), loaded.state_dict()
    if sorted(want) != sorted(got):
        raise CheckFailure(call, f"state_dict keys {sorted(want)}", repr(sorted(got)))
    for key in want:
        compare_tensors(call, f"state_dict[{key!r}]", got[key], want[key])
    before, after = _outputs(ctx, ctx.model), _outputs(ctx, loaded)
    for label, value in before.items():
        where = f"{call}.{label} vs the original"
        if isinstance(value, torch.Tensor):
            compare_tensors(where, "output", after[label], value)
        elif isinstance(value, ModelOutput):
            compare_outputs(where, after[label], value)
        else:
            compare_states(where, after[label], value)


@check("persistence.config")
def config(ctx: CheckContext) -> None:
    """``config.json`` records the model type, the fingerprint and the capabilities."""
    cls = type(ctx.model)
    with tempfile.TemporaryDirectory(prefix="wmsdk-check-") as tmp:
        expect_call(f"{ctx.name}.save_pretrained(dir)", ctx.model.save_pretrained, tmp)
        record = json.loads((Path(tmp) / CONFIG_NAME).read_text("utf-8"))
    call = f"{ctx.name}.save_pretrained(dir) -> {CONFIG_NAME}"
    expected = {
        "model_type": cls.model_type,
        "contract_fingerprint": ctx.model.contract_fingerprint(),
        "capabilities": sorted(c.value for c in cls.capabilities),
    }
    for key, want in expected.items():
        if record.get(key) != want:
            raise CheckFailure(call, f"{key} = {want!r}", repr(record.get(key)))
