"""Inputs generated from an `IOContract`: observations, actions, states and batches.

Everything is drawn from an explicit ``torch.Generator``, so the same seed gives the
same inputs. Symbolic axes other than ``B`` and ``T`` are bound to ``2``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..capabilities import Capability
from ..contract import ActionSpec, IOContract, TensorSpec
from ..payloads.action import ActionPayload
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import WorldModelInput
from ..payloads.state import State

__all__ = [
    "OTHER_AXIS",
    "make_action",
    "make_action_sequence",
    "make_batch",
    "make_conditions",
    "make_observation",
    "make_state",
    "make_tensor",
    "resolve_shape",
    "stack_actions",
]

OTHER_AXIS = 2


def resolve_shape(spec: TensorSpec, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """Concrete shape of ``spec`` with symbols from ``sizes`` (others bound to 2)."""
    return tuple(a if isinstance(a, int) else sizes.get(a, OTHER_AXIS) for a in spec.shape)


def make_tensor(
    spec: TensorSpec, sizes: Mapping[str, int], gen: torch.Generator, *, time: int | None = None
) -> torch.Tensor:
    """A random tensor that satisfies ``spec`` (with a ``T`` axis after ``B`` if ``time``)."""
    shape = resolve_shape(spec, sizes)
    if time is not None and "T" not in spec.shape:
        shape = (shape[0], time, *shape[1:]) if shape else (time,)
    dtype = spec.torch_dtype
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=gen).to(dtype)
    return torch.randint(0, 4, shape, generator=gen).to(dtype)


def make_observation(
    contract: IOContract, batch: int, gen: torch.Generator, *, time: int | None = None
) -> dict[str, torch.Tensor]:
    """Observations by key (by agent for multi-agent contracts)."""
    sizes = {"B": batch}
    return {k: make_tensor(s, sizes, gen, time=time) for k, s in contract.observation.items()}


def _single(spec: ActionSpec, lead: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if spec.kind == "continuous":
        low = -1.0 if spec.low is None else spec.low
        high = 1.0 if spec.high is None else spec.high
        return low + (high - low) * torch.rand((*lead, *spec.shape), generator=gen)
    if spec.kind == "discrete":
        return torch.randint(0, int(spec.num_actions or 1), lead, generator=gen)
    parts = [torch.randint(0, n, (*lead, 1), generator=gen) for n in spec.nvec or ()]
    return torch.cat(parts, dim=-1)


def make_action(
    spec: ActionSpec, lead: tuple[int, ...], gen: torch.Generator
) -> ActionPayload | torch.Tensor:
    """One action batch with leading axes ``lead``: a tensor, or a joint `ActionPayload`."""
    if spec.kind == "joint":
        sub = spec.agents or {}
        return ActionPayload(
            kind="joint", agents={n: _single(sub[n], lead, gen) for n in spec.agent_names}
        )
    return _single(spec, lead, gen)


def make_action_sequence(
    spec: ActionSpec, horizon: int, batch: int, gen: torch.Generator
) -> list[ActionPayload | torch.Tensor]:
    """``horizon`` action batches of size ``batch``."""
    return [make_action(spec, (batch,), gen) for _ in range(horizon)]


def stack_actions(
    steps: list[ActionPayload | torch.Tensor],
) -> torch.Tensor | list[ActionPayload]:
    """The form `WorldModel.rollout` takes: a ``[T, B, ...]`` tensor or a payload list."""
    if all(isinstance(a, torch.Tensor) for a in steps):
        return torch.stack([a for a in steps if isinstance(a, torch.Tensor)])
    return [a if isinstance(a, ActionPayload) else ActionPayload("continuous", a) for a in steps]


def make_state(contract: IOContract, batch: int, gen: torch.Generator) -> State:
    """A random state holding every tensor the contract declares."""
    sizes = {"B": batch}
    return State({k: make_tensor(s, sizes, gen) for k, s in contract.state.items()})


def make_conditions(
    contract: IOContract, batch: int, gen: torch.Generator, *, time: int | None = None
) -> ConditionPayload | None:
    """Required condition tensors, or None when the contract requires none."""
    spec = contract.condition
    if spec is None or not spec.required:
        return None
    sizes = {"B": batch}
    return ConditionPayload(
        tensors={k: make_tensor(spec.tensors[k], sizes, gen, time=time) for k in spec.required}
    )


def make_batch(
    contract: IOContract,
    capabilities: frozenset[Capability],
    batch: int,
    gen: torch.Generator,
    *,
    time: int | None,
) -> WorldModelInput:
    """A training batch: a sequence ``[B, T, ...]`` if ``time`` is given, else ``[B, ...]``."""
    lead = (batch,) if time is None else (batch, time)
    actions = make_action(contract.action, lead, gen) if contract.action is not None else None
    rewards = continues = None
    if Capability.REWARD_PRED in capabilities:
        rewards = torch.randn(lead, generator=gen)
    if Capability.CONTINUE_PRED in capabilities:
        continues = torch.ones(lead)
    return WorldModelInput(
        obs=make_observation(contract, batch, gen, time=time),
        actions=actions,
        rewards=rewards,
        continues=continues,
        conditions=make_conditions(contract, batch, gen, time=time),
        sequence=time is not None,
    )
