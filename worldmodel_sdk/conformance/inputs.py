"""Inputs generated from an `IOContract`: observations, actions, states and batches.

Everything is drawn from an explicit ``torch.Generator``, so the same seed gives the
same inputs. Symbolic axes other than ``B`` and ``T`` are bound to ``2``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .._outcomes import per_agent
from ..capabilities import Capability
from ..contract import ActionSpec, IOContract, TensorSpec
from ..payloads.action import ActionPayload
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import WorldModelInput
from ..payloads.state import State

__all__ = [
    "OTHER_AXIS",
    "changed_action",
    "changed_observation",
    "changed_tensor",
    "extreme_action",
    "extreme_observation",
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
    agents = (len(contract.agents),)
    if Capability.REWARD_PRED in capabilities:
        shape = lead + agents if per_agent(contract, "reward") else lead
        rewards = torch.randn(shape, generator=gen)
    if Capability.CONTINUE_PRED in capabilities:
        continues = torch.ones(lead + agents if per_agent(contract, "continue") else lead)
    return WorldModelInput(
        obs=make_observation(contract, batch, gen, time=time),
        actions=actions,
        rewards=rewards,
        continues=continues,
        conditions=make_conditions(contract, batch, gen, time=time),
        sequence=time is not None,
    )


def changed_tensor(value: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A tensor like ``value`` (same shape and dtype) that differs from it in every element."""
    if value.dtype == torch.bool:
        return ~value
    if value.dtype.is_floating_point or value.dtype.is_complex:
        return value + (0.5 + torch.rand(value.shape, generator=gen)).to(value.dtype)
    return (value + 1) % 4


def _changed_single(spec: ActionSpec, value: torch.Tensor) -> torch.Tensor | None:
    """A valid action of ``spec`` different from ``value`` in every element, None if none is."""
    if spec.kind == "discrete":
        n = int(spec.num_actions or 1)
        return None if n < 2 else (value + 1) % n
    if spec.kind == "multi_discrete":
        nvec = torch.tensor(spec.nvec or (), dtype=value.dtype)
        return None if bool((nvec < 2).all()) else (value + 1) % nvec
    low = -1.0 if spec.low is None else spec.low
    high = 1.0 if spec.high is None else spec.high
    if high <= low:
        return None
    # Reflect each element to the other side of the interval's middle (or shift it).
    mirrored = low + high - value
    return torch.where(mirrored == value, value + (high - low) / 4, mirrored).to(value.dtype)


def changed_action(
    spec: ActionSpec, action: ActionPayload | torch.Tensor, part: str | None, gen: torch.Generator
) -> ActionPayload | torch.Tensor | None:
    """``action`` with the agent ``part`` (or, for None, the whole action) changed validly.

    None when the spec admits no other value (a discrete action with one choice).
    """
    if isinstance(action, ActionPayload) and action.agents is not None:
        sub = spec.agents or {}
        agents = dict(action.agents)
        changed_any = False
        for key in agents if part is None else [part]:
            changed = _changed_single(sub[key], agents[key])
            if changed is not None:
                agents[key], changed_any = changed, True
        return ActionPayload(action.kind, agents=agents) if changed_any else None
    tensor = action.tensor if isinstance(action, ActionPayload) else action
    assert tensor is not None
    changed = _changed_single(spec, tensor)
    if changed is None or isinstance(action, torch.Tensor):
        return changed
    return ActionPayload(action.kind, tensor=changed)


def changed_observation(
    obs: Mapping[str, torch.Tensor] | torch.Tensor,
    part: str | None,
    gen: torch.Generator,
) -> dict[str, torch.Tensor] | torch.Tensor:
    """``obs`` with the key (agent) ``part`` changed, or the whole observation for None."""
    if isinstance(obs, torch.Tensor):
        return changed_tensor(obs, gen)
    keys = list(obs) if part is None else [part]
    return {k: changed_tensor(v, gen) if k in keys else v for k, v in obs.items()}


def _bounds(spec: ActionSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The lowest and highest valid single-agent action of ``spec``, per component."""
    if spec.kind == "discrete":
        return torch.tensor(0), torch.tensor(int(spec.num_actions or 1) - 1)
    if spec.kind == "multi_discrete":
        nvec = torch.tensor(spec.nvec or ())
        return torch.zeros_like(nvec), nvec - 1
    low = -1.0 if spec.low is None else spec.low
    high = 1.0 if spec.high is None else spec.high
    return torch.full(spec.shape, low), torch.full(spec.shape, high)


def extreme_action(
    spec: ActionSpec, lead: tuple[int, ...], which: str
) -> ActionPayload | torch.Tensor:
    """Every action at its lower (``which="low"``) or upper bound (``"high"``).

    Unbounded continuous actions use -1 and 1; discrete ones the first and last choice.
    """

    def single(sub: ActionSpec) -> torch.Tensor:
        low, high = _bounds(sub)
        value = low if which == "low" else high
        return value.expand(*lead, *value.shape).clone()

    if spec.kind == "joint":
        sub = spec.agents or {}
        return ActionPayload(kind="joint", agents={n: single(sub[n]) for n in spec.agent_names})
    return single(spec)


def extreme_observation(
    contract: IOContract, batch: int, gen: torch.Generator, which: str
) -> dict[str, torch.Tensor]:
    """Observations at an extreme: all zeros (``"low"``) or ten times the usual scale (``"high"``).

    Integer observations take 0 or 3 and boolean ones False or True.
    """
    drawn = make_observation(contract, batch, gen)
    out = {}
    for key, value in drawn.items():
        if value.dtype == torch.bool:
            out[key] = torch.full_like(value, which == "high")
        elif value.dtype.is_floating_point or value.dtype.is_complex:
            out[key] = torch.zeros_like(value) if which == "low" else value * 10
        else:
            out[key] = torch.full_like(value, 0 if which == "low" else 3)
    return out
