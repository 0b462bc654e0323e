"""Output checks: what encode/transition/update/decode return matches the contract."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from ...capabilities import DECODE_CAPABILITIES, Capability
from ...errors import ContractError
from ...payloads.action import ActionPayload
from ...payloads.condition import ConditionPayload
from ...payloads.outputs import ModelOutput
from ...payloads.state import State
from ...validation import check_state
from ..asserts import compare_outputs, compare_states, compare_tensors, describe, expect_call
from ..context import CheckContext, run_sync
from ..registry import check
from ..results import CheckFailure

__all__ = [
    "action_forms",
    "async_twins",
    "check_output_state",
    "decode",
    "encode",
    "expect_unchanged",
    "inputs_unchanged",
    "snapshot",
    "transition",
    "update",
]


def _decoder(ctx: CheckContext) -> str | None:
    return None if ctx.capabilities & DECODE_CAPABILITIES else "needs a decoder capability"


def _single_action(ctx: CheckContext) -> str | None:
    action = ctx.contract.action
    if action is None or action.kind == "joint":
        return "needs a single-agent action spec"
    return None


def check_output_state(ctx: CheckContext, call: str, state: object) -> State:
    """Fail unless ``state`` is a State fitting the contract with the input's batch size."""
    if not isinstance(state, State):
        raise CheckFailure(call, "a State", describe(state))
    try:
        check_state(ctx.contract, state)
    except ContractError as exc:
        raise CheckFailure(call, "a State fitting the contract's state spec", str(exc)) from None
    if state.batch_size != ctx.batch:
        raise CheckFailure(call, f"batch size {ctx.batch}", str(state.batch_size))
    return state


def _action(ctx: CheckContext) -> Any:
    return ctx.actions(1)[0]


@check("outputs.encode", requires=(Capability.REPRESENTATION,))
def encode(ctx: CheckContext) -> None:
    """``encode(obs)`` returns a State fitting the state spec, batch size kept."""
    for det in (True, False):
        call = f"{ctx.name}.encode(obs, deterministic={det})"
        check_output_state(ctx, call, expect_call(call, ctx.model.encode, ctx.obs, det))


@check("outputs.transition", requires=(Capability.LATENT_DYNAMICS,))
def transition(ctx: CheckContext) -> None:
    """``transition(state, action)`` returns a State fitting the state spec."""
    for det in (True, False):
        call = f"{ctx.name}.transition(state, action, deterministic={det})"
        out = expect_call(call, ctx.model.transition, ctx.state, _action(ctx), ctx.conditions, det)
        check_output_state(ctx, call, out)


@check("outputs.update", requires=(Capability.POSTERIOR_UPDATE,))
def update(ctx: CheckContext) -> None:
    """``update(state, action, obs)`` returns a State fitting the state spec."""
    call = f"{ctx.name}.update(state, action, obs)"
    out = expect_call(call, ctx.model.update, ctx.state, _action(ctx), ctx.obs, ctx.conditions)
    check_output_state(ctx, call, out)


@check("outputs.decode", applies=_decoder)
def decode(ctx: CheckContext) -> None:
    """``decode(state)`` returns exactly the declared predictions, each fitting its spec."""
    call = f"{ctx.name}.decode(state)"
    out = expect_call(call, ctx.model.decode, ctx.state, ctx.conditions)
    if not isinstance(out, ModelOutput):
        raise CheckFailure(call, "a ModelOutput", describe(out))
    want = sorted(ctx.contract.prediction)
    if sorted(out.predictions) != want:
        raise CheckFailure(call, f"predictions {want}", repr(sorted(out.predictions)))
    bindings = {"B": ctx.batch}
    for key, spec in ctx.contract.prediction.items():
        try:
            spec.check(f"predictions[{key!r}]", out.predictions[key], bindings)
        except ContractError as exc:
            raise CheckFailure(
                call, f"predictions[{key!r}] {spec.show()} {spec.dtype}", str(exc)
            ) from None


def snapshot(value: Any) -> Any:
    """A deep copy of tensors, states, action payloads and mappings of them."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, State):
        return State(
            {k: v.detach().clone() for k, v in value.tensors.items()}, copy.deepcopy(value.meta)
        )
    if isinstance(value, ActionPayload):
        return ActionPayload(value.kind, snapshot(value.tensor), snapshot(value.agents))
    if isinstance(value, ConditionPayload):
        return ConditionPayload(snapshot(value.tensors), copy.deepcopy(value.extras))
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    return value


def expect_unchanged(call: str, what: str, before: Any, after: Any) -> None:
    """Fail unless ``after`` still equals the `snapshot` ``before``."""
    if isinstance(before, torch.Tensor):
        compare_tensors(call, f"{what} left unchanged", after, before)
    elif isinstance(before, State):
        compare_states(call, after, before)
        if before.meta != after.meta:
            raise CheckFailure(call, f"{what}.meta left unchanged", repr(after.meta))
    elif isinstance(before, ActionPayload):
        expect_unchanged(call, what, before.tensor, after.tensor)
        expect_unchanged(call, what, before.agents, after.agents)
    elif isinstance(before, ConditionPayload):
        expect_unchanged(call, f"{what}.tensors", before.tensors, after.tensors)
    elif isinstance(before, dict):
        if sorted(before) != sorted(after):
            raise CheckFailure(call, f"{what} keys left unchanged", repr(sorted(after)))
        for key in before:
            expect_unchanged(call, f"{what}[{key!r}]", before[key], after[key])


@check("outputs.inputs_unchanged")
def inputs_unchanged(ctx: CheckContext) -> None:
    """No protocol method changes its input state, action, observation or conditions in place."""
    calls: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []
    action = _action(ctx) if ctx.contract.action is not None else None
    if ctx.has(Capability.REPRESENTATION):
        calls.append(("encode(obs)", ctx.model.encode, {"obs": ctx.obs}))
    if ctx.has(Capability.LATENT_DYNAMICS):
        calls.append(
            (
                "transition(state, action)",
                ctx.model.transition,
                {"state": ctx.state, "action": action, "conditions": ctx.conditions},
            )
        )
    if ctx.has(Capability.POSTERIOR_UPDATE):
        calls.append(
            (
                "update(state, action, obs)",
                ctx.model.update,
                {
                    "state": ctx.state,
                    "action": action,
                    "obs": ctx.obs,
                    "conditions": ctx.conditions,
                },
            )
        )
    if ctx.capabilities & DECODE_CAPABILITIES:
        args = {"state": ctx.state, "conditions": ctx.conditions}
        calls.append(("decode(state)", ctx.model.decode, args))
    for label, fn, args in calls:
        before = {k: snapshot(v) for k, v in args.items()}
        call = f"{ctx.name}.{label}"
        expect_call(call, fn, *args.values())
        for key, value in args.items():
            expect_unchanged(call, key, before[key], value)


@check("outputs.action_forms", requires=(Capability.LATENT_DYNAMICS,), applies=_single_action)
def action_forms(ctx: CheckContext) -> None:
    """``transition`` treats a raw action tensor and its `ActionPayload` alike."""
    spec = ctx.contract.action
    assert spec is not None
    raw = _action(ctx)
    payload = ActionPayload(spec.kind, tensor=raw)
    call = f"{ctx.name}.transition(state, ActionPayload(kind={spec.kind!r}), deterministic=True)"
    want = expect_call(call, ctx.model.transition, ctx.state, raw, ctx.conditions, True)
    got = expect_call(call, ctx.model.transition, ctx.state, payload, ctx.conditions, True)
    compare_states(call + " vs the raw tensor", got, want)


@check("outputs.async_twins")
def async_twins(ctx: CheckContext) -> None:
    """``async_encode``/``async_transition``/``async_decode`` return what the sync twins do."""
    m = ctx.model
    if ctx.has(Capability.REPRESENTATION):
        call = f"await {ctx.name}.async_encode(obs, deterministic=True)"
        got = expect_call(call, run_sync, lambda: m.async_encode(ctx.obs, True))
        compare_states(call, got, m.encode(ctx.obs, True))
    if ctx.has(Capability.LATENT_DYNAMICS):
        action = _action(ctx)
        call = f"await {ctx.name}.async_transition(state, action, deterministic=True)"
        got = expect_call(
            call, run_sync, lambda: m.async_transition(ctx.state, action, ctx.conditions, True)
        )
        compare_states(call, got, m.transition(ctx.state, action, ctx.conditions, True))
    if ctx.capabilities & DECODE_CAPABILITIES:
        call = f"await {ctx.name}.async_decode(state)"
        got = expect_call(call, run_sync, lambda: m.async_decode(ctx.state, ctx.conditions))
        compare_outputs(call, got, m.decode(ctx.state, ctx.conditions))
