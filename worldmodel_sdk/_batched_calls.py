"""The batched async twins: validated payloads, their keys, and how a batch of each runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from . import imagine as _imagine
from . import rollout as _rollout
from ._caller_rows import split_trajectory
from ._checked import implementation, inputs_checked
from ._coalesce import (
    UNBATCHABLE,
    action_layout,
    cat_action,
    cat_conditions,
    cat_obs,
    cat_state,
    condition_layout,
    obs_layout,
    split_output,
    split_state,
    state_layout,
)
from ._layouts import prepare_rollout
from .batching import Failed, Job, submit
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.outputs import ModelOutput
from .payloads.state import State
from .payloads.trajectory import Trajectory

if TYPE_CHECKING:
    from .model import WorldModel

__all__ = ["call_alone", "decode", "encode", "imagine", "rollout", "transition"]

_T = TypeVar("_T")
Action = ActionPayload | torch.Tensor


async def call_alone(model: WorldModel, fn: Callable[[], _T]) -> _T:
    """Run ``fn`` on the model's worker, never coalesced."""
    return await submit(model, Job("call", lambda fns, _: [f() for f in fns]), UNBATCHABLE(), 1, fn)


# -- rollout -------------------------------------------------------------------------------


def _run_rollouts(
    plans: Sequence[_rollout.RolloutPlan], sizes: Sequence[int]
) -> list[Trajectory | Failed]:
    first = plans[0]
    actions = torch.cat([p.actions for p in plans], dim=1) if len(plans) > 1 else first.actions
    failed = _failed_values(plans, actions)
    if failed:
        kept = [i for i in range(len(plans)) if i not in failed]
        done = iter(
            _run_rollouts([plans[i] for i in kept], [sizes[i] for i in kept]) if kept else []
        )
        return [failed[i] if i in failed else next(done) for i in range(len(plans))]
    if len(plans) == 1:
        return [_rollout.run(first)]
    steps: Sequence[Action]
    if isinstance(first.steps[0], torch.Tensor):
        steps = actions.unbind(0)
    else:
        steps = [cat_action([p.steps[t] for p in plans]) for t in range(len(first.steps))]
    merged = _rollout.RolloutPlan(
        transition=first.transition,
        decode=first.decode,
        initial_state=cat_state([p.initial_state for p in plans]),
        steps=steps,
        actions=actions,
        conditions=cat_conditions([p.conditions for p in plans]),
        deterministic=first.deterministic,
    )
    starts = [p.initial_state for p in plans]
    return [*split_trajectory(_rollout.run(merged), starts, sizes, [p.actions for p in plans])]


def _failed_values(
    plans: Sequence[_rollout.RolloutPlan], actions: torch.Tensor
) -> dict[int, Failed]:
    """Check the action values still unchecked: all of the batch's ``actions`` at once.

    Only if that fails is each plan checked alone: a plan whose values fail gets the
    error its own checks raise, and is left out of the batch.
    """
    unchecked = [p for p in plans if p.check_values is not None]
    if not unchecked:
        return {}
    try:
        check = unchecked[0].check_values
        assert check is not None
        check(actions)
    except Exception:  # noqa: BLE001 - found again, per plan, below
        pass
    else:
        for plan in unchecked:
            plan.check_values = None
        return {}
    failed: dict[int, Failed] = {}
    for i, plan in enumerate(plans):
        if plan.check_values is not None:
            try:
                plan.check_values(plan.actions)
            except Exception as error:  # noqa: BLE001 - delivered to this plan's caller
                failed[i] = Failed(error)
            plan.check_values = None
    return failed


_ROLLOUT: Job[_rollout.RolloutPlan, Trajectory] = Job("rollout", _run_rollouts)


def _rollout_layout(model: WorldModel, plan: _rollout.RolloutPlan) -> Hashable:
    """Horizon, mode, and the layouts of state, actions and conditions."""
    return (
        len(plan.steps),
        plan.decode is None,
        state_layout(plan.initial_state),
        action_layout(plan.steps[0]),
        action_layout(plan.actions, lead=2),
        condition_layout(model.contract(), plan.conditions),
    )


def rollout(
    model: WorldModel,
    initial_state: State,
    action_sequence: Any,
    conditions: ConditionPayload | None,
    deterministic: bool,
    mode: str,
) -> Awaitable[Trajectory]:
    """A rollout, checked now (in the caller's task) and coalesced with compatible ones.

    Checks a layout the model has validated before only for its action values, on the
    compute thread and for the whole batch at once (see `worldmodel_sdk._layouts`).
    """
    plan, layout = prepare_rollout(
        model,
        initial_state,
        action_sequence,
        conditions,
        deterministic,
        mode,
        _rollout_layout,
    )
    key = (deterministic, layout)
    return submit(model, _ROLLOUT, key, plan.initial_state.batch_size, plan)


# -- imagine -------------------------------------------------------------------------------


def _as_batchable(action: Action) -> Action:
    """Single-agent payloads as their tensor, so callers' policies may differ in form."""
    if isinstance(action, ActionPayload) and action.tensor is not None:
        return action.tensor
    return action


class _EveryPolicyFailed(Exception):
    """Ends a batched imagination whose callers' policies have all failed."""


def _stand_in(template: Action, rows: int) -> Action:
    """The action of a failed caller's rows: ``template``'s first row, repeated.

    ``template`` is an action that passed the contract's checks this step. The rows
    are stepped with the others until the batch ends and then dropped; the model is
    batch-independent (or it would not be coalescing), so they change nothing for the
    other rows.
    """
    if isinstance(template, torch.Tensor):
        return template[:1].expand(rows, *template.shape[1:])
    agents = {k: v[:1].expand(rows, *v.shape[1:]) for k, v in (template.agents or {}).items()}
    return ActionPayload(kind=template.kind, agents=agents)


def _run_imaginations(
    plans: Sequence[_imagine.ImaginePlan], sizes: Sequence[int]
) -> list[Trajectory | Failed]:
    """One imagination for the batch; a caller whose policy fails gets its own error only.

    From its failing step on, that caller's policy is not called again and its rows take
    a stand-in action: the other callers' policies are still called once per step.
    """
    if len(plans) == 1:
        return [_imagine.run(plans[0])]
    first = plans[0]
    failed: dict[int, Failed] = {}

    def act(step: int, state: State) -> Action:
        parts = split_state(state, sizes)
        actions: list[Action | None] = []
        for i, (plan, part) in enumerate(zip(plans, parts, strict=True)):
            action = None
            if i not in failed:
                try:
                    action = _as_batchable(plan.act(step, part))
                except Exception as error:  # noqa: BLE001 - delivered to this caller only
                    failed[i] = Failed(error)
            actions.append(action)
        if len(failed) == len(plans):
            raise _EveryPolicyFailed
        template = next(a for a in actions if a is not None)
        return cat_action(
            [_stand_in(template, sizes[i]) if a is None else a for i, a in enumerate(actions)]
        )

    merged = _imagine.ImaginePlan(
        transition=first.transition,
        decode=first.decode,
        initial_state=cat_state([p.initial_state for p in plans]),
        act=act,
        horizon=first.horizon,
        conditions=cat_conditions([p.conditions for p in plans]),
        deterministic=first.deterministic,
    )
    try:
        trajectory = _imagine.run(merged)
    except _EveryPolicyFailed:
        return [failed[i] for i in range(len(plans))]
    parts = split_trajectory(trajectory, [p.initial_state for p in plans], sizes)
    return [failed.get(i, part) for i, part in enumerate(parts)]


_IMAGINE: Job[_imagine.ImaginePlan, Trajectory] = Job("imagine", _run_imaginations)


async def imagine(model: WorldModel, plan: _imagine.ImaginePlan) -> Trajectory:
    """A prepared imagination, coalesced with compatible ones (each policy sees its rows)."""
    key = (
        plan.horizon,
        plan.decode is None,
        plan.deterministic,
        state_layout(plan.initial_state),
        condition_layout(model.contract(), plan.conditions),
    )
    return await submit(model, _IMAGINE, key, plan.initial_state.batch_size, plan)


# -- single protocol calls -----------------------------------------------------------------

_Step = tuple[State, Action, ConditionPayload | None, bool]


async def transition(
    model: WorldModel, state: State, action: Action, conditions: ConditionPayload | None, det: bool
) -> State:
    """A validated ``transition``, coalesced with compatible waiting transitions."""
    step = implementation(model, "transition")

    def run(calls: Sequence[_Step], sizes: Sequence[int]) -> list[State]:
        with inputs_checked():
            if len(calls) == 1:
                return [step(*calls[0])]
            merged = step(
                cat_state([c[0] for c in calls]),
                cat_action([c[1] for c in calls]),
                cat_conditions([c[2] for c in calls]),
                det,
            )
        return split_state(merged, sizes)

    key = (
        det,
        state_layout(state),
        action_layout(action),
        condition_layout(model.contract(), conditions),
    )
    payload: _Step = (state, action, conditions, det)
    return await submit(model, Job("transition", run), key, state.batch_size, payload)


async def decode(
    model: WorldModel, state: State, conditions: ConditionPayload | None
) -> ModelOutput:
    """A validated ``decode``, coalesced when every declared prediction leads with ``B``."""
    dec = implementation(model, "decode")

    def run(
        calls: Sequence[tuple[State, ConditionPayload | None]], sizes: Sequence[int]
    ) -> list[ModelOutput]:
        with inputs_checked():
            if len(calls) == 1:
                return [dec(*calls[0])]
            merged = dec(cat_state([c[0] for c in calls]), cat_conditions([c[1] for c in calls]))
        return split_output(merged, sizes)

    contract = model.contract()
    by_batch = all(spec.shape[:1] == ("B",) for spec in contract.prediction.values())
    key = (
        state_layout(state) if by_batch else UNBATCHABLE(),
        condition_layout(contract, conditions),
    )
    return await submit(model, Job("decode", run), key, state.batch_size, (state, conditions))


Obs = Mapping[str, torch.Tensor] | torch.Tensor


async def encode(model: WorldModel, obs: Obs, det: bool, size: int) -> State:
    """A validated ``encode``, coalesced with compatible waiting encodes."""
    enc = implementation(model, "encode")

    def run(calls: Sequence[Obs], sizes: Sequence[int]) -> list[State]:
        with inputs_checked():
            if len(calls) == 1:
                return [enc(calls[0], det)]
            merged = enc(cat_obs(calls), det)
        return split_state(merged, sizes)

    key: Any = (det, obs_layout(obs))
    return await submit(model, Job("encode", run), key, size, obs)
