"""The rollout engine behind `WorldModel.rollout` and `WorldModel.async_rollout`.

`prepare` validates everything once and resolves the callables; `run` is the hot
loop: no validation, no contract rebuilding, no device-to-host synchronisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ._checked import implementation, inputs_checked, public_call
from ._interop import numpy_inputs
from .capabilities import DECODE_CAPABILITIES, Capability
from .contract import ActionSpec
from .errors import ContractError
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.state import State
from .payloads.trajectory import Trajectory
from .validation import check_action, check_conditions, check_state

if TYPE_CHECKING:
    from .model import WorldModel

__all__ = ["MODES", "RolloutPlan", "finish", "prepare", "run", "unpack_joint"]

MODES = ("autoregressive", "latent")
_SERIES = ("reward", "continue")
_ROLLOUT_INPUTS = ("initial_state", "action_sequence", "conditions")


@dataclass(slots=True)
class RolloutPlan:
    """Everything the hot loop needs, resolved and validated up front."""

    transition: Callable[..., State]
    decode: Callable[..., Any] | None
    initial_state: State
    steps: Sequence[ActionPayload | torch.Tensor] | torch.Tensor
    actions: torch.Tensor
    conditions: ConditionPayload | None
    deterministic: bool
    # Set when only the layout was checked (from a record of a validated layout): checks
    # the values of ``actions``, raising what the full checks would.
    check_values: Callable[[torch.Tensor], None] | None = None


def prepare(
    model: WorldModel,
    initial_state: State,
    action_sequence: torch.Tensor | ActionPayload | Sequence[ActionPayload],
    conditions: ConditionPayload | None,
    deterministic: bool,
    mode: str,
) -> RolloutPlan:
    """Validate the rollout's inputs once and resolve the step functions.

    Errors name ``Class.rollout`` (or the public call already open).
    """
    where = f"{type(model).__name__}.rollout"
    with public_call(where):
        return _prepare(model, initial_state, action_sequence, conditions, deterministic, mode)


def _prepare(
    model: WorldModel,
    initial_state: State,
    action_sequence: torch.Tensor | ActionPayload | Sequence[ActionPayload],
    conditions: ConditionPayload | None,
    deterministic: bool,
    mode: str,
) -> RolloutPlan:
    where = f"{type(model).__name__}.rollout"
    if mode not in MODES:
        raise ContractError(f"unknown rollout mode {mode!r}; expected one of {MODES}")
    model.require(Capability.LATENT_DYNAMICS, f"{where} steps with transition()")
    (initial_state, action_sequence, conditions), _ = numpy_inputs(
        (initial_state, action_sequence, conditions), {}, where, _ROLLOUT_INPUTS
    )
    contract = model.contract()
    # The initial state is checked for layout, not read: it comes from the model itself.
    check_state(contract, initial_state, values=False)
    batch = initial_state.batch_size
    if isinstance(action_sequence, torch.Tensor) and contract.action is not None:
        action_sequence = unpack_joint(contract.action, action_sequence)
    bindings: dict[str, int] = {"B": batch}
    if isinstance(action_sequence, (torch.Tensor, ActionPayload)):
        # One vectorised check of the whole [T, B, ...] sequence.
        check_action(
            contract.action,
            action_sequence,
            bindings,
            lead=("T", "B"),
            name="action_sequence",
        )
    steps = _split_actions(action_sequence)
    if not isinstance(action_sequence, (torch.Tensor, ActionPayload)):
        for t, step in enumerate(steps):
            check_action(contract.action, step, bindings, name=f"action_sequence[{t}]")
    if len(steps) == 0:
        raise ContractError("action_sequence has no steps (T=0); a rollout needs T >= 1")
    if isinstance(action_sequence, torch.Tensor):
        actions = action_sequence
    else:
        actions = torch.stack([step.packed() for step in steps])  # type: ignore[union-attr]
    check_conditions(contract.condition, conditions, bindings)
    decodes = mode == "autoregressive" and bool(type(model).capabilities & DECODE_CAPABILITIES)
    return RolloutPlan(
        transition=implementation(model, "transition"),
        decode=implementation(model, "decode") if decodes else None,
        initial_state=initial_state,
        steps=steps,
        actions=actions,
        conditions=conditions,
        deterministic=deterministic,
    )


def unpack_joint(spec: ActionSpec, packed: torch.Tensor) -> torch.Tensor | ActionPayload:
    """Turn packed joint actions ``[T, B, width]`` (as in `Trajectory.actions`) into a payload.

    Anything else (and a one-agent continuous spec, whose tensor is its own packing) is
    returned unchanged for the usual checks.
    """
    if spec.kind != "joint" or packed.dim() != 3:
        return packed
    subs = [(name, (spec.agents or {})[name]) for name in spec.agent_names]
    widths = [math.prod(sub.sample_shape) for _, sub in subs]
    if packed.shape[-1] != sum(widths):
        return packed
    if len(subs) == 1 and subs[0][1].kind == "continuous":
        return packed
    lead = tuple(packed.shape[:2])
    agents = {}
    for (name, sub), part in zip(subs, torch.split(packed, widths, dim=-1), strict=True):
        value = part.reshape(*lead, *sub.sample_shape)
        agents[name] = value if sub.kind == "continuous" else value.round().long()
    return ActionPayload(kind="joint", agents=agents)


def _split_actions(
    sequence: torch.Tensor | ActionPayload | Sequence[ActionPayload],
) -> Sequence[ActionPayload | torch.Tensor] | torch.Tensor:
    if isinstance(sequence, torch.Tensor):
        return sequence  # iterated step by step by run(); not unbound up front
    if isinstance(sequence, ActionPayload):
        if sequence.agents is not None:
            agents = sequence.agents
            return [
                ActionPayload(kind=sequence.kind, agents={k: v[t] for k, v in agents.items()})
                for t in range(sequence.batch_size)
            ]
        assert sequence.tensor is not None
        return [ActionPayload(kind=sequence.kind, tensor=v) for v in sequence.tensor]
    if not isinstance(sequence, Sequence):
        raise ContractError(
            f"action_sequence must be a tensor [T, B, ...], an ActionPayload over [T, B, ...] "
            f"or a sequence of ActionPayload; got {type(sequence).__name__}"
        )
    for t, step in enumerate(sequence):
        if not isinstance(step, ActionPayload):
            raise ContractError(
                f"action_sequence[{t}] must be an ActionPayload; got {type(step).__name__}"
            )
    return list(sequence)


def run(plan: RolloutPlan) -> Trajectory:
    """Run a prepared rollout (the hot loop)."""
    transition, decode = plan.transition, plan.decode
    conditions, deterministic = plan.conditions, plan.deterministic
    state = plan.initial_state
    states = [state]
    outputs: list[dict[str, torch.Tensor]] = []
    with inputs_checked():
        for action in plan.steps:
            state = transition(state, action, conditions, deterministic)
            states.append(state)
            if decode is not None:
                outputs.append(decode(state, conditions).predictions)
    return finish(decode, conditions, states, plan.actions, outputs)


def finish(
    decode: Callable[..., Any] | None,
    conditions: ConditionPayload | None,
    states: list[State],
    actions: torch.Tensor,
    outputs: list[dict[str, torch.Tensor]],
) -> Trajectory:
    """Assemble a trajectory from the loop's states and decoded predictions."""
    if decode is None:
        return Trajectory(states=states, actions=actions)
    stacked = {key: torch.stack([o[key] for o in outputs]) for key in outputs[0]}
    series = {key: _squeeze(stacked.pop(key)) for key in _SERIES if key in stacked}
    values = None
    if "value" in stacked:
        with inputs_checked():
            first = decode(states[0], conditions).predictions["value"]
        values = _squeeze(torch.cat([first.unsqueeze(0), stacked.pop("value")]))
    return Trajectory(
        states=states,
        actions=actions,
        rewards=series.get("reward"),
        values=values,
        continues=series.get("continue"),
        predictions=stacked or None,
    )


def _squeeze(value: torch.Tensor) -> torch.Tensor:
    """``[T, B, 1]`` -> ``[T, B]``; other shapes unchanged."""
    return value.squeeze(-1) if value.dim() == 3 and value.shape[-1] == 1 else value
