"""Capability checks, both directions: declared ⇒ the method works; undeclared ⇒ error."""

from __future__ import annotations

from typing import Any

import torch

from ...capabilities import DECODE_CAPABILITIES, Capability
from ...payloads.outputs import ModelOutput
from ...payloads.state import State
from ...payloads.trajectory import Trajectory
from ..asserts import describe, expect_call, expect_capability_error
from ..context import CheckContext, run_sync
from ..inputs import stack_actions
from ..registry import check
from ..results import CheckFailure

__all__ = [
    "HEADS",
    "decode",
    "encode",
    "multi_agent",
    "prediction_heads",
    "rollout",
    "transition",
    "update",
]

# Prediction keys whose presence in the contract must match a declared capability.
HEADS = {
    "reward": Capability.REWARD_PRED,
    "continue": Capability.CONTINUE_PRED,
    "value": Capability.VALUE,
}


def _declared(ctx: CheckContext, needs: frozenset[Capability]) -> bool:
    return bool(ctx.capabilities & needs)


def _action(ctx: CheckContext) -> Any:
    return ctx.actions(1)[0] if ctx.contract.action is not None else None


def _expect_type(call: str, value: object, kind: type) -> None:
    if not isinstance(value, kind):
        raise CheckFailure(call, kind.__name__, describe(value))


def _undeclared(ctx: CheckContext, method: str, *args: Any) -> None:
    call = f"{ctx.name}.{method}(...) without declaring its capability"
    expect_capability_error(call, getattr(ctx.model, method), *args)
    twin = getattr(ctx.model, f"async_{method}", None)
    if twin is not None:
        expect_capability_error(
            f"await {ctx.name}.async_{method}(...) without declaring its capability",
            lambda: run_sync(lambda: twin(*args)),
        )


@check("capabilities.encode")
def encode(ctx: CheckContext) -> None:
    """``encode`` works iff ``representation`` is declared."""
    if not ctx.has(Capability.REPRESENTATION):
        _undeclared(ctx, "encode", ctx.obs)
        return
    call = f"{ctx.name}.encode(obs)"
    _expect_type(call, expect_call(call, ctx.model.encode, ctx.obs), State)


@check("capabilities.transition")
def transition(ctx: CheckContext) -> None:
    """``transition`` works iff ``latent_dynamics`` is declared."""
    action = _action(ctx)
    if not ctx.has(Capability.LATENT_DYNAMICS):
        _undeclared(ctx, "transition", ctx.state, action)
        return
    call = f"{ctx.name}.transition(state, action)"
    result = expect_call(call, ctx.model.transition, ctx.state, action, ctx.conditions)
    _expect_type(call, result, State)


@check("capabilities.update")
def update(ctx: CheckContext) -> None:
    """``update`` works iff ``posterior_update`` is declared."""
    action = _action(ctx)
    if not ctx.has(Capability.POSTERIOR_UPDATE):
        _undeclared(ctx, "update", ctx.state, action, ctx.obs)
        return
    call = f"{ctx.name}.update(state, action, obs)"
    result = expect_call(call, ctx.model.update, ctx.state, action, ctx.obs, ctx.conditions)
    _expect_type(call, result, State)


@check("capabilities.decode")
def decode(ctx: CheckContext) -> None:
    """``decode`` works iff a decoder capability is declared."""
    if not _declared(ctx, DECODE_CAPABILITIES):
        _undeclared(ctx, "decode", ctx.state)
        return
    call = f"{ctx.name}.decode(state)"
    result = expect_call(call, ctx.model.decode, ctx.state, ctx.conditions)
    _expect_type(call, result, ModelOutput)


@check("capabilities.rollout")
def rollout(ctx: CheckContext) -> None:
    """``rollout`` works iff ``latent_dynamics`` is declared."""
    if ctx.contract.action is not None:
        actions: Any = stack_actions(ctx.actions(1))
    else:
        actions = torch.zeros(1, ctx.batch, 1)
    call = f"{ctx.name}.rollout(state, actions[T=1])"
    if not ctx.has(Capability.LATENT_DYNAMICS):
        expect_capability_error(call, ctx.model.rollout, ctx.state, actions)
        return
    kwargs = {"conditions": ctx.conditions, "deterministic": True}
    result = expect_call(call, ctx.model.rollout, ctx.state, actions, **kwargs)
    _expect_type(call, result, Trajectory)


@check("capabilities.prediction_heads")
def prediction_heads(ctx: CheckContext) -> None:
    """Declared reward/continue/value heads appear in the prediction spec, and only then."""
    declared = {k for k, cap in HEADS.items() if cap in ctx.capabilities}
    predicted = {k for k in HEADS if k in ctx.contract.prediction}
    if declared != predicted:
        raise CheckFailure(
            f"{ctx.name}.io_contract().prediction",
            f"heads {sorted(declared)} (from the declared capabilities)",
            f"heads {sorted(predicted)}",
        )
    if _declared(ctx, DECODE_CAPABILITIES) and not ctx.contract.prediction:
        raise CheckFailure(
            f"{ctx.name}.io_contract().prediction", "a non-empty spec for a decoder", "{}"
        )


@check("capabilities.multi_agent")
def multi_agent(ctx: CheckContext) -> None:
    """``multi_agent`` is declared iff the contract names agents."""
    declared = ctx.has(Capability.MULTI_AGENT)
    if declared != bool(ctx.contract.agents):
        raise CheckFailure(
            f"{ctx.name}.io_contract().agents",
            "named agents" if declared else "no agents (multi_agent is not declared)",
            repr(ctx.contract.agents),
        )
