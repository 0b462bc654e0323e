"""Imagination and request-batching checks.

``imagine`` asks its policy once per step and replays as a rollout; concurrent
``async_rollout`` callers get what they would get alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch

from ...capabilities import Capability
from ...payloads.action import ActionPayload
from ...payloads.condition import ConditionPayload
from ...payloads.state import State
from ...payloads.trajectory import Trajectory
from ..asserts import compare_states, compare_tensors, describe, expect_call
from ..context import CheckContext, item, run_sync
from ..inputs import stack_actions
from ..registry import check
from ..results import CheckFailure

__all__ = ["NEEDS", "coalesced_async", "imagine_policy", "imagine_replays"]

NEEDS = (Capability.LATENT_DYNAMICS,)


class _Scripted:
    """A policy that returns the given actions in order and records the states it saw."""

    def __init__(self, steps: list[ActionPayload | torch.Tensor]) -> None:
        self.steps, self.seen = steps, list[State]()

    def __call__(self, state: State) -> ActionPayload | torch.Tensor:
        self.seen.append(state)
        return self.steps[min(len(self.seen), len(self.steps)) - 1]


def _imagine(ctx: CheckContext) -> tuple[str, _Scripted, Trajectory]:
    steps = ctx.actions()
    policy = _Scripted(steps)
    call = f"{ctx.name}.imagine(state, policy, {len(steps)}, deterministic=True)"
    traj = expect_call(
        call,
        lambda: ctx.model.imagine(
            ctx.state, policy, len(steps), conditions=ctx.conditions, deterministic=True
        ),
    )
    if not isinstance(traj, Trajectory) or traj.horizon != len(steps):
        raise CheckFailure(call, f"a Trajectory of horizon {len(steps)}", describe(traj))
    return call, policy, traj


def _packed(action: ActionPayload | torch.Tensor) -> torch.Tensor:
    return action if isinstance(action, torch.Tensor) else action.packed()


@check("rollout.imagine_policy", requires=NEEDS)
def imagine_policy(ctx: CheckContext) -> None:
    """``imagine`` calls the policy once per step on the current state and records its actions."""
    call, policy, traj = _imagine(ctx)
    if len(policy.seen) != traj.horizon:
        raise CheckFailure(
            call,
            f"{traj.horizon} policy calls, one per step",
            f"{len(policy.seen)} call{'s' if len(policy.seen) != 1 else ''}",
        )
    for t, seen in enumerate(policy.seen):
        compare_states(f"{call}: policy input at step {t} vs states[{t}]", seen, traj.states[t])
    for t, action in enumerate(policy.steps):
        want = _packed(action)
        compare_tensors(
            call, f"trajectory.actions[{t}] (the policy's action)", traj.actions[t], want
        )


@check("rollout.imagine_replays", requires=NEEDS)
def imagine_replays(ctx: CheckContext) -> None:
    """``rollout(state, imagine(...).actions, deterministic=True)`` reproduces the states."""
    call, _, traj = _imagine(ctx)
    again = f"{ctx.name}.rollout(state, trajectory.actions, deterministic=True)"
    replay = expect_call(
        again,
        ctx.model.rollout,
        ctx.state,
        traj.actions,
        ctx.conditions,
        True,
    )
    if not isinstance(replay, Trajectory) or replay.horizon != traj.horizon:
        raise CheckFailure(again, f"a Trajectory of horizon {traj.horizon}", describe(replay))
    for t, (got, want) in enumerate(zip(replay.states, traj.states, strict=True)):
        compare_states(f"{call}: states[{t}] vs its replay by rollout", want, got, exact=False)


def _item_conditions(conditions: Any, i: int) -> Any:
    if not isinstance(conditions, ConditionPayload):
        return conditions
    return ConditionPayload(
        {k: v[i : i + 1] for k, v in conditions.tensors.items()}, conditions.extras
    )


@check("rollout.coalesced_async", requires=NEEDS)
def coalesced_async(ctx: CheckContext) -> None:
    """Concurrent ``async_rollout`` calls, one per item, each equal that item's rollout alone."""
    actions = stack_actions(ctx.actions())
    m, state, conditions = ctx.model, ctx.state, ctx.conditions
    callers = [
        (item(state, i), _item_actions(actions, i), _item_conditions(conditions, i))
        for i in range(ctx.batch)
    ]
    call = f"{ctx.batch} concurrent await {ctx.name}.async_rollout(item, ...) under no_grad"

    async def together() -> list[Trajectory]:
        with torch.no_grad():
            return list(
                await asyncio.gather(*(m.async_rollout(s, a, c, True) for s, a, c in callers))
            )

    got = expect_call(call, run_sync, together)
    for i, ((s, a, c), traj) in enumerate(zip(callers, got, strict=True)):
        with torch.no_grad():
            want = m.rollout(s, a, c, True)
        where = f"{call}: item {i} vs its rollout alone"
        for t, (x, y) in enumerate(zip(traj.states, want.states, strict=True)):
            compare_states(f"{where}: states[{t}]", x, y, exact=False)
        for name in ("rewards", "values", "continues"):
            x_, y_ = getattr(traj, name), getattr(want, name)
            if x_ is not None and y_ is not None:
                compare_tensors(where, f"trajectory.{name}", x_, y_, exact=False)
        for key, value in (want.predictions or {}).items():
            got_pred = (traj.predictions or {}).get(key)
            if got_pred is None:
                raise CheckFailure(where, f"trajectory.predictions[{key!r}]", "missing")
            compare_tensors(where, f"trajectory.predictions[{key!r}]", got_pred, value, exact=False)


def _item_actions(
    actions: torch.Tensor | list[ActionPayload], i: int
) -> torch.Tensor | list[ActionPayload]:
    if isinstance(actions, torch.Tensor):
        return actions[:, i : i + 1]
    return [item(a, i) for a in actions]
