"""Compatibility keys, concatenation along ``B`` and splitting back, for the batcher.

A *layout* describes a payload past its batch axis: names, dtypes, devices and
trailing shapes. Two requests whose layouts (and flags) are equal can be
concatenated along ``B``, run as one call and split back by their sizes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .contract import IOContract
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.outputs import ModelOutput
from .payloads.state import State
from .payloads.trajectory import Trajectory

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
    "split_state",
    "split_trajectory",
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


def _meta_copy(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    return meta if meta is None else copy.deepcopy(meta)


def split_state(state: State, sizes: Sequence[int]) -> list[State]:
    """Split a state along ``B`` into pieces of ``sizes`` rows (each with its own metadata)."""
    parts = {k: torch.split(v, list(sizes)) for k, v in state.tensors.items()}
    return [
        State({k: pieces[i] for k, pieces in parts.items()}, _meta_copy(state.meta))
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


def _split_series(value: torch.Tensor | None, sizes: Sequence[int]) -> list[torch.Tensor | None]:
    """Each caller's rows of ``[T, B, ...]``, contiguous (as a solo call's would be)."""
    if value is None:
        return [None] * len(sizes)
    if len(sizes) == value.shape[1]:
        # One row per caller: one copy with B leading, and a view of it per caller.
        return list(value.transpose(0, 1).contiguous().unsqueeze(2).unbind(0))
    return [piece.contiguous() for piece in torch.split(value, list(sizes), dim=1)]


_STATES = Trajectory.__dict__["states"]  # the slot behind Trajectory.states


@dataclass(slots=True, eq=False)
class _Batch:
    """What the callers of one coalesced trajectory share: its states past the first."""

    states: list[State]
    stacks: dict[str, torch.Tensor] = field(default_factory=dict)

    def rows(self, offset: int, size: int) -> list[State]:
        """One caller's rows of every state (views, each with its own metadata)."""
        return [
            State({k: v.narrow(0, offset, size) for k, v in s.tensors.items()}, _meta_copy(s.meta))
            for s in self.states
        ]

    def stacked(self, key: str) -> torch.Tensor | None:
        """``[T, B, ...]`` of ``key`` over the states, stacked once for every caller."""
        stack = self.stacks.get(key)
        if stack is None:
            try:
                stack = torch.stack([s.tensors[key] for s in self.states])
            except (KeyError, RuntimeError):  # missing somewhere, or shapes differ over time
                return None
            self.stacks[key] = stack
        return stack


class _CallerRows(Trajectory):
    """One caller's rows of a coalesced trajectory; its states are made when first read.

    Splitting eagerly would make one tensor view per state key, step and caller, and
    one `State` per step and caller, on the compute thread while every caller waits;
    most callers read ``stacked(key)`` or the predictions instead. The states are
    made on first access (in the reader's thread) and kept; until then `stacked`
    narrows one shared stack. A slotted subclass: the states' slot is Trajectory's.
    """

    __slots__ = ("_batch", "_offset", "_start")

    _batch: _Batch | None
    _offset: int
    _start: State

    @property
    def states(self) -> list[State]:
        """``T + 1`` states (initial state first), made on first access."""
        batch = self._batch
        if batch is not None:
            _STATES.__set__(self, [self._start, *batch.rows(self._offset, self.batch_size)])
            self._batch = None
        return _STATES.__get__(self, Trajectory)  # type: ignore[no-any-return]

    @states.setter
    def states(self, value: list[State]) -> None:
        _STATES.__set__(self, value)
        self._batch = None

    def stacked(self, key: str) -> torch.Tensor:
        """Stack state tensor ``key`` over time: ``[T + 1, B, ...]``."""
        batch = self._batch
        if batch is not None:
            first = self._start.tensors.get(key)
            rows = batch.stacked(key) if first is not None else None
            if (
                rows is not None
                and first is not None
                and _stacks_with(first, rows, self.batch_size)
            ):
                rows = rows.narrow(1, self._offset, self.batch_size)
                return torch.cat([first.unsqueeze(0), rows])
        return Trajectory.stacked(self, key)


def _stacks_with(first: torch.Tensor, rows: torch.Tensor, size: int) -> bool:
    """Whether ``torch.stack`` would take ``first`` with steps of ``rows`` as they are."""
    return (
        first.shape[0] == size
        and first.shape[1:] == rows.shape[2:]
        and first.dtype == rows.dtype
        and first.device == rows.device
    )


def split_trajectory(
    trajectory: Trajectory,
    initial: Sequence[State],
    sizes: Sequence[int],
    actions: Sequence[torch.Tensor] | None = None,
) -> list[Trajectory]:
    """Split a batched trajectory back per caller; each keeps its own initial state.

    ``actions`` gives each caller's own action tensor (rollouts, whose callers passed
    them); without it the batched actions are split too (imagination).
    """
    batch = _Batch(trajectory.states[1:])
    own = list(actions) if actions is not None else _split_series(trajectory.actions, sizes)
    rewards = _split_series(trajectory.rewards, sizes)
    values = _split_series(trajectory.values, sizes)
    continues = _split_series(trajectory.continues, sizes)
    predictions = {k: _split_series(v, sizes) for k, v in (trajectory.predictions or {}).items()}
    result: list[Trajectory] = []
    offset = 0
    for i, start in enumerate(initial):
        # Rows of a checked trajectory: its invariants hold by construction, so the
        # pieces skip Trajectory.__post_init__.
        piece = object.__new__(_CallerRows)
        piece._batch, piece._offset, piece._start = batch, offset, start
        piece.actions = own[i]  # type: ignore[assignment]
        piece.rewards, piece.values, piece.continues = rewards[i], values[i], continues[i]
        piece.predictions = {k: v[i] for k, v in predictions.items()} or None  # type: ignore[misc]
        result.append(piece)
        offset += sizes[i]
    return result
