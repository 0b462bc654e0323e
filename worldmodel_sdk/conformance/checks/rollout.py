"""Rollout checks: Trajectory invariants, horizon, step consistency, async ≡ sync, no grad leak."""

from __future__ import annotations

from typing import Any

import torch

from ...capabilities import DECODE_CAPABILITIES, Capability
from ...payloads.trajectory import Trajectory
from ..asserts import compare_states, compare_tensors, describe, expect_call
from ..context import CheckContext, run_sync
from ..inputs import stack_actions
from ..registry import check
from ..results import CheckFailure
from .outputs import check_output_state

__all__ = [
    "NEEDS",
    "async_matches_sync",
    "horizon",
    "latent_mode",
    "matches_steps",
    "no_grad_leak",
    "trajectory",
]

NEEDS = (Capability.LATENT_DYNAMICS,)


def _rollout(ctx: CheckContext, horizon: int, **kwargs: Any) -> tuple[str, Trajectory]:
    actions = stack_actions(ctx.actions(horizon))
    shown = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    call = f"{ctx.name}.rollout(state, actions[T={horizon}], deterministic=True{shown})"
    traj = expect_call(call, ctx.model.rollout, ctx.state, actions, ctx.conditions, True, **kwargs)
    if not isinstance(traj, Trajectory):
        raise CheckFailure(call, "a Trajectory", describe(traj))
    return call, traj


@check("rollout.trajectory", requires=NEEDS)
def trajectory(ctx: CheckContext) -> None:
    """The trajectory starts at the initial state, and every state fits the contract."""
    call, traj = _rollout(ctx, ctx.profile.horizon)
    compare_states(f"{call}: states[0] vs initial_state", traj.states[0], ctx.state)
    for t, state in enumerate(traj.states):
        check_output_state(ctx, f"{call}: states[{t}]", state)
    if traj.batch_size != ctx.batch:
        raise CheckFailure(call, f"batch size {ctx.batch}", str(traj.batch_size))
    if ctx.capabilities & DECODE_CAPABILITIES:
        for name, attr in (("reward", "rewards"), ("continue", "continues")):
            if name in ctx.contract.prediction and getattr(traj, attr) is None:
                raise CheckFailure(call, f"trajectory.{attr} (the model predicts {name!r})", "None")


@check("rollout.horizon", requires=NEEDS)
def horizon(ctx: CheckContext) -> None:
    """A rollout over T actions has horizon T, T + 1 states and the actions it was given."""
    for steps in (1, ctx.profile.horizon):
        actions = stack_actions(ctx.actions(steps))
        call, traj = _rollout(ctx, steps)
        if traj.horizon != steps or len(traj.states) != steps + 1:
            raise CheckFailure(
                call,
                f"horizon {steps} with {steps + 1} states",
                f"horizon {traj.horizon} with {len(traj.states)} states",
            )
        packed = (
            actions
            if isinstance(actions, torch.Tensor)
            else torch.stack([a.packed() for a in actions])
        )
        compare_tensors(call, "trajectory.actions (the actions given)", traj.actions, packed)


@check("rollout.matches_steps", requires=NEEDS)
def matches_steps(ctx: CheckContext) -> None:
    """``states[t + 1]`` equals ``transition(states[t], actions[t], deterministic=True)``."""
    steps = ctx.actions()
    call, traj = _rollout(ctx, len(steps))
    state = ctx.state
    for t, (action, got) in enumerate(zip(steps, traj.states[1:], strict=False)):
        state = ctx.model.transition(state, action, ctx.conditions, True)
        compare_states(f"{call}: states[{t + 1}] vs transition step {t}", got, state)


@check("rollout.latent_mode", requires=NEEDS)
def latent_mode(ctx: CheckContext) -> None:
    """``mode="latent"`` gives the same states and no predictions."""
    _, full = _rollout(ctx, ctx.profile.horizon)
    call, latent = _rollout(ctx, ctx.profile.horizon, mode="latent")
    for t, (a, b) in enumerate(zip(latent.states, full.states, strict=False)):
        compare_states(f"{call}: states[{t}] vs autoregressive", a, b)
    if latent.predictions or latent.rewards is not None or latent.continues is not None:
        raise CheckFailure(call, "no predictions", "decoded predictions")


@check("rollout.async_matches_sync", requires=NEEDS)
def async_matches_sync(ctx: CheckContext) -> None:
    """``await async_rollout(...)`` returns what ``rollout(...)`` does, predictions included."""
    actions = stack_actions(ctx.actions())
    steps = ctx.profile.horizon
    call = f"await {ctx.name}.async_rollout(state, actions[T={steps}], deterministic=True)"
    m = ctx.model
    want = m.rollout(ctx.state, actions, ctx.conditions, True)
    got = expect_call(
        call, run_sync, lambda: m.async_rollout(ctx.state, actions, ctx.conditions, True)
    )
    if not isinstance(got, Trajectory) or got.horizon != want.horizon:
        raise CheckFailure(call, f"a Trajectory of horizon {want.horizon}", describe(got))
    for t, (a, b) in enumerate(zip(got.states, want.states, strict=True)):
        compare_states(f"{call}: states[{t}] vs rollout", a, b)
    for name in ("rewards", "values", "continues"):
        a_, b_ = getattr(got, name), getattr(want, name)
        if (a_ is None) != (b_ is None):
            raise CheckFailure(call, f"trajectory.{name} as in rollout", describe(a_))
        if a_ is not None:
            compare_tensors(call, f"trajectory.{name} vs rollout", a_, b_)
    got_pred, want_pred = got.predictions or {}, want.predictions or {}
    if sorted(got_pred) != sorted(want_pred):
        raise CheckFailure(
            call, f"trajectory.predictions {sorted(want_pred)} as in rollout", str(sorted(got_pred))
        )
    for key, value in want_pred.items():
        compare_tensors(call, f"trajectory.predictions[{key!r}] vs rollout", got_pred[key], value)


def _leaks(traj: Trajectory) -> list[str]:
    found = [
        f"states[{t}][{k!r}]"
        for t, s in enumerate(traj.states)
        for k, v in s.tensors.items()
        if v.requires_grad
    ]
    for name in ("rewards", "values", "continues"):
        value = getattr(traj, name)
        if value is not None and value.requires_grad:
            found.append(name)
    found += [f"predictions[{k!r}]" for k, v in (traj.predictions or {}).items() if v.requires_grad]
    return found


@check("rollout.no_grad_leak", requires=NEEDS)
def no_grad_leak(ctx: CheckContext) -> None:
    """Under ``torch.no_grad()`` rollouts (sync and async) build no graph and fill no ``.grad``."""
    actions = stack_actions(ctx.actions())
    m = ctx.model
    for p in m.parameters():
        p.grad = None
    with torch.no_grad():
        call = f"{ctx.name}.rollout(...) under torch.no_grad()"
        traj = expect_call(call, m.rollout, ctx.state, actions, ctx.conditions, True)
        leaks = _leaks(traj)
        if not leaks:
            call = f"await {ctx.name}.async_rollout(...) under torch.no_grad()"
            traj = expect_call(
                call, run_sync, lambda: m.async_rollout(ctx.state, actions, ctx.conditions, True)
            )
            leaks = _leaks(traj)
    if leaks:
        raise CheckFailure(call, "no tensor requiring grad", ", ".join(leaks[:4]))
    filled = [n for n, p in m.named_parameters() if p.grad is not None]
    if filled:
        raise CheckFailure(call, "no parameter .grad filled", ", ".join(filled[:4]))
