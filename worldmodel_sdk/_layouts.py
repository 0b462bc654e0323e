"""Rollout layouts a model has validated, so that repeated async rollouts skip those checks.

Every check of a rollout's inputs but two depends only on their *signature*: the
mode, and the names, dtypes, devices and shapes of the state's tensors and of the
action tensor (the state's values are never read; conditions and metadata are not
part of a signature, and requests with them are checked in full). The first
request of a signature runs every check (`rollout.prepare`) and, when they pass,
the signature is recorded with what the plan resolved. A later request with an
equal signature is planned from the record; the checks it still owes are those of
its action *values* (finite, within the bounds), which run on the compute thread
over the whole batch at once (`RolloutPlan.check_values`).

Records are kept per model and dropped when its contract or its class's
capabilities are another object than when they were made.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from . import rollout as _rollout
from ._checked import public_call, unbound_implementation
from .capabilities import Capability
from .contract import ActionSpec, IOContract
from .payloads.state import State
from .validation import check_action_values

if TYPE_CHECKING:
    from .model import WorldModel

__all__ = ["prepare_rollout"]

# Enough for every (B, T) combination a serving loop meets; beyond it, start over.
_MAX_SIGNATURES = 256


@dataclass(frozen=True, slots=True)
class _Planned:
    """What a validated signature resolves to."""

    transition: Callable[..., Any]  # unbound: a bound method would keep the model alive
    decode: Callable[..., Any] | None
    layout: Hashable
    check_values: Callable[[torch.Tensor], None]


@dataclass(slots=True)
class _Layouts:
    contract: IOContract
    capabilities: frozenset[Capability]
    planned: dict[Hashable, _Planned] = field(default_factory=dict)


_CACHE: weakref.WeakKeyDictionary[WorldModel, _Layouts] = weakref.WeakKeyDictionary()


def _signature(state: object, actions: object, conditions: object, mode: object) -> Hashable:
    """The signature of a rollout request, or None if it is checked in full every time."""
    if (
        type(state) is not State
        or type(actions) is not torch.Tensor
        or conditions is not None
        or type(mode) is not str
        or state.meta is not None
        or type(state.tensors) is not dict
    ):
        return None
    parts: list[object] = [mode, actions.dtype, actions.device, actions.shape]
    for name, value in state.tensors.items():
        if type(value) is not torch.Tensor:
            return None
        parts += (name, value.dtype, value.device, value.shape)
    return tuple(parts)


def _values_checker(spec: ActionSpec, where: str) -> Callable[[torch.Tensor], None]:
    def check(actions: torch.Tensor) -> None:
        with public_call(where):
            check_action_values(spec, "action_sequence", actions)

    return check


def prepare_rollout(
    model: WorldModel,
    initial_state: State,
    action_sequence: Any,
    conditions: Any,
    deterministic: bool,
    mode: str,
    layout: Callable[[WorldModel, _rollout.RolloutPlan], Hashable],
) -> tuple[_rollout.RolloutPlan, Hashable]:
    """A rollout's plan and its layout key (``layout(model, plan)``), from the record if any.

    A planned request's ``check_values`` is set: its action values are still unchecked.
    """
    signature = _signature(initial_state, action_sequence, conditions, mode)
    if signature is not None:
        layouts = _CACHE.get(model)
        if (
            layouts is not None
            and layouts.contract is model.contract()
            and layouts.capabilities is type(model).capabilities
        ):
            planned = layouts.planned.get(signature)
            if planned is not None:
                plan = _rollout.RolloutPlan(
                    transition=planned.transition.__get__(model),
                    decode=None if planned.decode is None else planned.decode.__get__(model),
                    initial_state=initial_state,
                    steps=action_sequence,
                    actions=action_sequence,
                    conditions=None,
                    deterministic=deterministic,
                    check_values=planned.check_values,
                )
                return plan, planned.layout
    plan = _rollout.prepare(model, initial_state, action_sequence, conditions, deterministic, mode)
    key = layout(model, plan)
    if signature is not None:
        _record(model, signature, plan, key)
    return plan, key


def _record(
    model: WorldModel, signature: Hashable, plan: _rollout.RolloutPlan, key: Hashable
) -> None:
    """Record a signature whose request passed every check, if its plan is the plain one."""
    contract = model.contract()
    spec = contract.action
    if spec is None or spec.behaviour.per_agent or plan.steps is not plan.actions:
        return  # joint actions are unpacked per request: always checked in full
    layouts = _CACHE.get(model)
    capabilities = type(model).capabilities
    if (
        layouts is None
        or layouts.contract is not contract
        or layouts.capabilities is not capabilities
        or len(layouts.planned) >= _MAX_SIGNATURES
    ):
        layouts = _CACHE[model] = _Layouts(contract, capabilities)
    transition = unbound_implementation(type(model), "transition")
    decode = unbound_implementation(type(model), "decode") if plan.decode is not None else None
    where = f"{type(model).__name__}.rollout"
    layouts.planned[signature] = _Planned(transition, decode, key, _values_checker(spec, where))
