"""Compatibility keys, concatenation along ``B`` and splitting back, for the batcher.

A *layout* describes a payload past its batch axis: names, dtypes, devices and
trailing shapes. Two requests whose layouts (and flags) are equal can be
concatenated along ``B``, run as one call and split back by their sizes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch

from .contract import IOContract
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.outputs import ModelOutput
from .payloads.state import State

__all__ = [
    "UNBATCHABLE",
    "action_layout",
    "cat_action",
    "cat_conditions",
    "cat_obs",
    "cat_state",
    "condition_layout",
    "obs_layout",
    "split_output",
    "meta_copy",
    "split_state",
    "state_layout",
]


class _Unbatchable:
    """Marker inside a key: the request runs alone (each instance equals only itself)."""

    __slots__ = ()


def UNBATCHABLE() -> Hashable:  # noqa: N802 - reads as a constant at call sites
    """A fresh key part that is equal to nothing else."""
    return _Unbatchable()


def _tensor_layout(value: torch.Tensor, lead: int = 1) -> tuple[Any, ...]:
    return (value.dtype, value.device, tuple(value.shape[lead:]))


def _tensors_layout(tensors: Mapping[str, torch.Tensor], lead: int = 1) -> tuple[Any, ...]:
    return tuple((name, *_tensor_layout(tensors[name], lead)) for name in sorted(tensors))


def _meta_key(meta: Mapping[str, Any] | None) -> str | None:
    return None if meta is None else json.dumps(meta, sort_keys=True, default=repr)


def state_layout(state: State) -> Hashable:
    """Names, dtypes, devices and shapes past ``B`` of a state's tensors, and its metadata."""
    return (_tensors_layout(state.tensors), _meta_key(state.meta))


def action_layout(action: ActionPayload | torch.Tensor, lead: int = 1) -> Hashable:
    """The layout of one action batch (``lead`` axes before the per-sample shape)."""
    if isinstance(action, torch.Tensor):
        return ("tensor", *_tensor_layout(action, lead))
    if action.tensor is not None:
        return (action.kind, *_tensor_layout(action.tensor, lead))
    return (action.kind, _tensors_layout(action.agents or {}, lead))


def obs_layout(obs: Mapping[str, torch.Tensor] | torch.Tensor) -> Hashable:
    """The layout of observations (one tensor or one per name)."""
    if isinstance(obs, torch.Tensor):
        return ("tensor", *_tensor_layout(obs))
    return ("mapping", _tensors_layout(obs))


def condition_layout(contract: IOContract, conditions: ConditionPayload | None) -> Hashable:
    """Condition keys and shapes past ``B`` plus extras; unbatchable if a tensor has no ``B``."""
    if conditions is None:
        return None
    spec = contract.condition
    for name in conditions.tensors:
        shape = spec.tensors[name].shape if spec is not None and name in spec.tensors else ()
        if not shape or shape[0] != "B":
            return UNBATCHABLE()
    return (_tensors_layout(conditions.tensors), json.dumps(conditions.extras, sort_keys=True))


def cat_state(states: Sequence[State]) -> State:
    """One state holding every row of ``states`` in order (metadata of the first)."""
    first = states[0]
    return State({k: torch.cat([s.tensors[k] for s in states]) for k in first.tensors}, first.meta)


def cat_action(
    actions: Sequence[ActionPayload | torch.Tensor], dim: int = 0
) -> ActionPayload | torch.Tensor:
    """Concatenate action batches of one layout along ``dim``."""
    first = actions[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([a for a in actions if isinstance(a, torch.Tensor)], dim)
    payloads = [a for a in actions if isinstance(a, ActionPayload)]
    if first.tensor is not None:
        return ActionPayload(
            kind=first.kind,
            tensor=torch.cat([a.tensor for a in payloads], dim),  # type: ignore[misc]
        )
    agents = first.agents or {}
    return ActionPayload(
        kind=first.kind,
        agents={k: torch.cat([(a.agents or {})[k] for a in payloads], dim) for k in agents},
    )


def cat_obs(
    obs: Sequence[Mapping[str, torch.Tensor] | torch.Tensor],
) -> Mapping[str, torch.Tensor] | torch.Tensor:
    """Concatenate observation batches of one layout along ``B``."""
    first = obs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([o for o in obs if isinstance(o, torch.Tensor)])
    maps = [o for o in obs if not isinstance(o, torch.Tensor)]
    return {k: torch.cat([m[k] for m in maps]) for k in first}


def cat_conditions(conditions: Sequence[ConditionPayload | None]) -> ConditionPayload | None:
    """Concatenate condition tensors along ``B``; extras are equal within a batch."""
    first = conditions[0]
    if first is None:
        return None
    given = [c for c in conditions if c is not None]
    return ConditionPayload(
        tensors={k: torch.cat([c.tensors[k] for c in given]) for k in first.tensors},
        extras=first.extras,
    )


def meta_copy(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """A deep copy of state metadata, so each caller's pieces own theirs."""
    return meta if meta is None else copy.deepcopy(meta)


def split_state(state: State, sizes: Sequence[int]) -> list[State]:
    """Split a state along ``B`` into pieces of ``sizes`` rows (each with its own metadata)."""
    parts = {k: torch.split(v, list(sizes)) for k, v in state.tensors.items()}
    return [
        State({k: pieces[i] for k, pieces in parts.items()}, meta_copy(state.meta))
        for i in range(len(sizes))
    ]


def split_output(output: ModelOutput, sizes: Sequence[int]) -> list[ModelOutput]:
    """Split decoded predictions (and their state, if any) along ``B``."""
    parts = {k: torch.split(v, list(sizes)) for k, v in output.predictions.items()}
    states: list[State | None] = (
        list(split_state(output.state, sizes))
        if output.state is not None and output.state.batch_size == sum(sizes)
        else [None] * len(sizes)
    )
    return [
        ModelOutput({k: pieces[i] for k, pieces in parts.items()}, states[i])
        for i in range(len(sizes))
    ]
