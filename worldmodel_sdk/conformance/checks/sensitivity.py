"""Sensitivity checks: every declared input reaches the output.

Each check changes one input at a time — the action of ``transition``, the
observation of ``update`` and ``encode``, one agent at a time for per-agent inputs —
and fails if the output stays bit-identical. A model that genuinely ignores an
input declares it as an expected failure on its `Target` (``xfail``), so the
exception is visible in every report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...capabilities import Capability
from ...payloads.action import ActionPayload
from ...payloads.state import State
from ..asserts import expect_call
from ..context import CheckContext, call_update
from ..inputs import changed_action, changed_observation
from ..registry import check
from ..results import CheckFailure, NotApplicable

__all__ = [
    "encode_observation",
    "transition_action",
    "update_observation",
]


def _same(a: State, b: State) -> bool:
    if list(a.tensors) != list(b.tensors):
        return False
    return all(torch.equal(a.tensors[k].detach(), b.tensors[k].detach()) for k in a.tensors)


def _parts(value: Any) -> list[str | None]:
    """The per-agent (or per-key) parts of an input to change one at a time; None: the whole."""
    if isinstance(value, ActionPayload) and value.agents is not None:
        return list(value.agents)
    if isinstance(value, dict):
        return list(value)
    return [None]


def _expect_change(
    ctx: CheckContext,
    label: str,
    what: str,
    fn: Callable[[Any], State],
    original: Any,
    change: Callable[[Any, str | None, torch.Generator], Any],
) -> None:
    call = f"{ctx.name}.{label}"
    base = expect_call(call, fn, original)
    changed_any = False
    for part in _parts(original):
        other = change(original, part, ctx.generator(11))
        if other is None:
            continue
        changed_any = True
        shown = what if part is None else f"{what}[{part!r}]"
        where = f"{call} with only {shown} changed"
        got = expect_call(where, fn, other)
        if _same(got, base):
            raise CheckFailure(
                where,
                f"a different State ({shown} is a declared input)",
                f"a bit-identical State[{', '.join(got.tensors)}]",
            )
    if not changed_any:
        raise NotApplicable(f"the contract leaves {what} nothing to change")


def _needs_action(ctx: CheckContext) -> str | None:
    return None if ctx.contract.action is not None else "the contract declares no action"


@check(
    "sensitivity.transition_action", requires=(Capability.LATENT_DYNAMICS,), applies=_needs_action
)
def transition_action(ctx: CheckContext) -> None:
    """``transition`` output changes when the action changes (each agent's, for joint actions)."""
    spec = ctx.contract.action
    assert spec is not None
    state, cond = ctx.state, ctx.conditions

    def run(action: Any) -> State:
        return ctx.model.transition(state, action, cond, True)

    _expect_change(
        ctx,
        "transition(state, action, deterministic=True)",
        "action",
        run,
        ctx.actions(1)[0],
        lambda a, part, gen: changed_action(spec, a, part, gen),
    )


@check("sensitivity.update_observation", requires=(Capability.POSTERIOR_UPDATE,))
def update_observation(ctx: CheckContext) -> None:
    """``update`` output changes when the observation changes (each key or agent alone)."""
    state, cond = ctx.state, ctx.conditions
    action = ctx.actions(1)[0] if ctx.contract.action is not None else None

    def run(obs: Any) -> State:
        return call_update(ctx.model, state, action, obs, cond)

    _expect_change(
        ctx,
        "update(state, action, obs)",
        "obs",
        run,
        ctx.obs,
        lambda o, part, gen: changed_observation(o, part, gen),
    )


@check("sensitivity.encode_observation", requires=(Capability.REPRESENTATION,))
def encode_observation(ctx: CheckContext) -> None:
    """``encode`` output changes when the observation changes (each key or agent alone)."""

    def run(obs: Any) -> State:
        return ctx.model.encode(obs, True)

    _expect_change(
        ctx,
        "encode(obs, deterministic=True)",
        "obs",
        run,
        ctx.obs,
        lambda o, part, gen: changed_observation(o, part, gen),
    )
