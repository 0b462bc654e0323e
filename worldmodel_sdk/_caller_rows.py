"""Each caller's rows of a coalesced trajectory, made when first read.

Splitting a batched trajectory eagerly makes, per caller, one `State` and one
tensor view per step and state key and one copy per predicted series, on the
compute thread while every caller of the batch waits: for 64 callers and 15 steps,
thousands of objects, most of which a caller never reads (it reads
``stacked(key)``, its rewards or its predictions). `split_trajectory` hands each
caller a `Trajectory` whose fields are made on first read, in the reader's thread,
and kept. The first read of a state key cuts it for every caller of the batch at
once, in a few torch calls (a view per caller and step, and each caller's stack
over time, its own start first), which the batch keeps; what is left per caller
is a dict and a `State` per step, and one copy per ``stacked(key)`` made before
its states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from ._coalesce import meta_copy
from .payloads.state import State
from .payloads.trajectory import Trajectory

__all__ = ["split_trajectory"]

_V = TypeVar("_V")


@dataclass(slots=True, eq=False)
class _Batch:
    """What the callers of one coalesced trajectory share: the trajectory, cut once.

    Each state key's steps are cut into every caller's rows in one go, on first
    read, and kept: a few torch calls per key for the whole batch instead of
    some per caller.
    """

    whole: Trajectory
    starts: Sequence[State]  # each caller's own initial state
    sizes: tuple[int, ...]
    even: bool  # every caller has the same (non-zero) number of rows
    stacks: dict[str, torch.Tensor | None] = field(default_factory=dict)
    whole_stacks: dict[str, Sequence[torch.Tensor] | None] = field(default_factory=dict)
    cuts: dict[str, Sequence[torch.Tensor]] = field(default_factory=dict)
    names: list[str] | None = None  # the keys every later step holds, in order; [] if none

    def make(self, name: str, rows: _CallerRows) -> Any:
        """The caller's value of field ``name``: views and copies of its rows."""
        offset, size = rows._offset, rows._size
        if name == "states":
            return [rows._start, *self.states(rows)]
        if name == "predictions":
            predictions = self.whole.predictions
            if predictions is None:
                return None
            return {k: _series(v, offset, size) for k, v in predictions.items()}
        return _series(getattr(self.whole, name), offset, size)

    def states(self, rows: _CallerRows) -> list[State]:
        """A caller's rows of every state past the first (views; metadata copied)."""
        steps = self.whole.states[1:]
        names = self.step_names()
        if not names:
            return [_rows(s, rows._offset, rows._size) for s in steps]
        # Equal lengths by construction (a view per step of each key); a strict zip
        # per step would cost a third of building the step's dict.
        per_step = zip(*(self.steps(k, rows._index) for k in names), strict=False)
        if all(s.meta is None for s in steps):
            return [State(dict(zip(names, views, strict=False))) for views in per_step]
        return [
            State(dict(zip(names, views, strict=False)), meta_copy(s.meta))
            for s, views in zip(steps, per_step, strict=False)
        ]

    def step_names(self) -> list[str]:
        """The keys every state past the first holds, in one order, stacking over time.

        ``[]`` if the steps differ in keys or order, a key does not stack, or there are none.
        """
        if self.names is None:
            steps = self.whole.states[1:]
            names = list(steps[0].tensors) if steps else []
            same = all(list(s.tensors) == names for s in steps)
            stack = same and all(self.stacked(k) is not None for k in names)
            self.names = names if stack else []
        return self.names

    def steps(self, key: str, index: int) -> Sequence[torch.Tensor]:
        """Caller ``index``'s rows of state tensor ``key`` at each step past the first."""
        cut = self.cuts.get(key)
        if cut is None:
            stack = self.stacked(key)
            assert stack is not None  # step_names() holds only keys that stack
            sizes = self.sizes
            if self.even:
                # [T, N * n, ...] -> [T * N, n, ...]: every caller's every step in one call.
                cut = stack.reshape(-1, sizes[0], *stack.shape[2:]).unbind(0)
            else:
                cut = torch.split(stack, list(sizes), dim=1)  # one [T, n, ...] piece per caller
            self.cuts[key] = cut
        return cut[index :: len(self.sizes)] if self.even else cut[index].unbind(0)

    def caller_stacks(self, key: str) -> Sequence[torch.Tensor] | None:
        """Each caller's ``[T + 1, n, ...]`` of ``key``, its own start first, made in one go.

        ``None`` where a caller's stack needs `Trajectory.stacked` (the key does not
        stack over the steps, a start does not stack with them, uneven sizes).
        """
        if key not in self.whole_stacks:
            stack = self.stacked(key)
            firsts = [start.tensors.get(key) for start in self.starts]
            if (
                stack is None
                or not self.even
                or any(f is None or not _stacks_with(f, stack, self.sizes[0]) for f in firsts)
            ):
                self.whole_stacks[key] = None
            else:
                steps = stack.reshape(stack.shape[0], len(self.sizes), -1, *stack.shape[2:])
                first = torch.stack(firsts).unsqueeze(1)  # type: ignore[arg-type]
                self.whole_stacks[key] = torch.cat([first, steps.transpose(0, 1)], 1).unbind(0)
        return self.whole_stacks[key]

    def stacked(self, key: str) -> torch.Tensor | None:
        """``[T, B, ...]`` of state tensor ``key`` past the first state, stacked once."""
        if key not in self.stacks:
            try:
                self.stacks[key] = torch.stack([s.tensors[key] for s in self.whole.states[1:]])
            except (KeyError, RuntimeError):  # missing somewhere, or shapes differ over time
                self.stacks[key] = None
        return self.stacks[key]


def _rows(state: State, offset: int, size: int) -> State:
    tensors = {k: v.narrow(0, offset, size) for k, v in state.tensors.items()}
    return State(tensors, meta_copy(state.meta))


def _series(value: torch.Tensor | None, offset: int, size: int) -> torch.Tensor | None:
    """A caller's rows of ``[T, B, ...]``, contiguous as a solo call's would be."""
    return None if value is None else value.narrow(1, offset, size).contiguous()


class _Field(Generic[_V]):
    """A `Trajectory` field of `_CallerRows`, made on first read and kept in its slot."""

    __slots__ = ("name", "slot")

    def __init__(self, name: str) -> None:
        self.name = name
        self.slot = Trajectory.__dict__[name]  # the member descriptor of the slot

    def made(self, rows: _CallerRows) -> bool:
        try:
            self.slot.__get__(rows, Trajectory)
        except AttributeError:
            return False
        return True

    def __get__(self, rows: _CallerRows | None, owner: type | None = None) -> _V:
        if rows is None:
            return self  # type: ignore[return-value]
        try:
            return self.slot.__get__(rows, Trajectory)  # type: ignore[no-any-return]
        except AttributeError:
            value = rows._batch.make(self.name, rows)
            self.slot.__set__(rows, value)
            return value  # type: ignore[no-any-return]

    def __set__(self, rows: _CallerRows, value: _V) -> None:
        self.slot.__set__(rows, value)


_STATES = _Field[list[State]]("states")


class _CallerRows(Trajectory):
    """One caller's rows of a coalesced trajectory (see the module docstring).

    Copies and pickles are plain `Trajectory` objects with every field made.
    """

    __slots__ = ("_batch", "_index", "_offset", "_size", "_start")

    _batch: _Batch
    _index: int
    _offset: int
    _size: int
    _start: State

    states = _STATES
    actions = _Field[torch.Tensor]("actions")
    rewards = _Field["torch.Tensor | None"]("rewards")
    values = _Field["torch.Tensor | None"]("values")
    continues = _Field["torch.Tensor | None"]("continues")
    predictions = _Field["dict[str, torch.Tensor] | None"]("predictions")

    def stacked(self, key: str) -> torch.Tensor:
        """Stack state tensor ``key`` over time: ``[T + 1, B, ...]``."""
        if not _STATES.made(self):
            stacks = self._batch.caller_stacks(key)
            if stacks is not None:
                return stacks[self._index].clone()  # its own memory, as torch.stack's
            first = self._start.tensors.get(key)
            rows = self._batch.stacked(key) if first is not None else None
            if rows is not None and first is not None and _stacks_with(first, rows, self._size):
                return torch.cat([first.unsqueeze(0), rows.narrow(1, self._offset, self._size)])
        return Trajectory.stacked(self, key)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.states, self.actions, self.rewards, self.values, self.continues)
        return (Trajectory, (*fields, self.predictions))


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
    them); without it each caller's actions are its rows of the batch's (imagination).
    The pieces skip `Trajectory`'s checks: they are rows of a checked trajectory.
    """
    even = bool(sizes) and sizes[0] > 0 and all(n == sizes[0] for n in sizes)
    batch = _Batch(trajectory, initial, tuple(sizes), even)
    result: list[Trajectory] = []
    offset = 0
    for i, start in enumerate(initial):
        rows = object.__new__(_CallerRows)
        rows._batch, rows._index, rows._offset, rows._size = batch, i, offset, sizes[i]
        rows._start = start
        if actions is not None:
            rows.actions = actions[i]
        result.append(rows)
        offset += sizes[i]
    return result
