"""The engine behind `WorldModel.imagine`: a rollout whose actions come from a policy.

`prepare` validates the initial state, horizon and conditions once; `run` calls
the policy on each state, checks the action it returns against the contract,
steps the model and records the action, so that replaying ``trajectory.actions``
with `WorldModel.rollout` reproduces the states (deterministically).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ._checked import implementation, inputs_checked, public_call
from .capabilities import DECODE_CAPABILITIES, Capability
from .contract import ActionSpec
from .errors import ContractError
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.state import State
from .payloads.trajectory import Trajectory
from .rollout import MODES, finish, unpack_joint
from .validation import check_action, check_conditions, check_state

if TYPE_CHECKING:
    from .model import WorldModel

__all__ = ["Act", "ImaginePlan", "Policy", "checked_policy", "prepare", "run"]

Policy = Callable[[State], ActionPayload | torch.Tensor]
"""``policy(state) -> action batch`` for the rows of ``state``."""
Act = Callable[[int, State], ActionPayload | torch.Tensor]
"""``act(step, state) -> validated action``: a policy wrapped with its checks."""


@dataclass(slots=True)
class ImaginePlan:
    """What the imagination loop needs, resolved and validated up front."""

    transition: Callable[..., State]
    decode: Callable[..., Any] | None
    initial_state: State
    act: Act
    horizon: int
    conditions: ConditionPayload | None
    deterministic: bool


def checked_policy(model: WorldModel, policy: Policy, batch: int) -> Act:
    """Wrap ``policy`` so each action it returns is checked against the contract."""
    spec = model.contract().action
    where = f"{type(model).__name__}.imagine"
    joint = spec if spec is not None and spec.kind == "joint" else None

    def act(step: int, state: State) -> ActionPayload | torch.Tensor:
        try:
            action = policy(state)
        except Exception as error:
            # The policy's own error, its type kept; the note says where it came from.
            _add_note(error, f"raised by the policy at step {step} [{where}]")
            raise
        with public_call(where):
            if not isinstance(action, (torch.Tensor, ActionPayload)):
                raise ContractError(
                    f"policy returned {type(action).__name__} at step {step}; expected an "
                    f"ActionPayload or a tensor [B, ...] with B={batch}"
                )
            if joint is not None and isinstance(action, torch.Tensor) and action.dim() == 2:
                action = _unpacked(joint, action)
            check_action(spec, action, {"B": batch}, name=f"policy output at step {step}")
        return action

    return act


def _unpacked(spec: ActionSpec, packed: torch.Tensor) -> ActionPayload | torch.Tensor:
    """A packed joint action ``[B, width]`` (a row of `Trajectory.actions`) as its payload."""
    unpacked = unpack_joint(spec, packed.unsqueeze(0))
    if not isinstance(unpacked, ActionPayload) or unpacked.agents is None:
        return packed  # not a packing of this spec: the checks say why
    return ActionPayload(kind="joint", agents={k: v[0] for k, v in unpacked.agents.items()})


def _add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)`` where Python has it (3.11+) and the note is not there yet."""
    adder = getattr(error, "add_note", None)
    if adder is not None and note not in getattr(error, "__notes__", ()):
        adder(note)


def prepare(
    model: WorldModel,
    initial_state: State,
    policy: Policy,
    horizon: int,
    conditions: ConditionPayload | None,
    deterministic: bool,
    mode: str,
) -> ImaginePlan:
    """Validate the imagination's inputs once and resolve the step functions."""
    with public_call(f"{type(model).__name__}.imagine"):
        return _prepare(model, initial_state, policy, horizon, conditions, deterministic, mode)


def _prepare(
    model: WorldModel,
    initial_state: State,
    policy: Policy,
    horizon: int,
    conditions: ConditionPayload | None,
    deterministic: bool,
    mode: str,
) -> ImaginePlan:
    where = f"{type(model).__name__}.imagine"
    if mode not in MODES:
        raise ContractError(f"unknown imagine mode {mode!r}; expected one of {MODES}")
    model.require(Capability.LATENT_DYNAMICS, f"{where} steps with transition()")
    if not callable(policy):
        raise ContractError(
            f"policy must be callable as policy(state) -> action; got {type(policy).__name__}"
        )
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ContractError(f"horizon must be an int >= 1; got {horizon!r}")
    contract = model.contract()
    check_state(contract, initial_state, values=False)
    batch = initial_state.batch_size
    check_conditions(contract.condition, conditions, {"B": batch})
    decodes = mode == "autoregressive" and bool(type(model).capabilities & DECODE_CAPABILITIES)
    return ImaginePlan(
        transition=implementation(model, "transition"),
        decode=implementation(model, "decode") if decodes else None,
        initial_state=initial_state,
        act=checked_policy(model, policy, batch),
        horizon=horizon,
        conditions=conditions,
        deterministic=deterministic,
    )


def run(plan: ImaginePlan) -> Trajectory:
    """Run a prepared imagination: one policy call, one transition per step."""
    transition, decode, act = plan.transition, plan.decode, plan.act
    conditions, deterministic = plan.conditions, plan.deterministic
    state = plan.initial_state
    states = [state]
    actions: list[torch.Tensor] = []
    outputs: list[dict[str, torch.Tensor]] = []
    for step in range(plan.horizon):
        action = act(step, state)
        actions.append(action if isinstance(action, torch.Tensor) else action.packed())
        with inputs_checked():
            state = transition(state, action, conditions, deterministic)
            if decode is not None:
                outputs.append(decode(state, conditions).predictions)
        states.append(state)
    return finish(decode, conditions, states, torch.stack(actions), outputs)
