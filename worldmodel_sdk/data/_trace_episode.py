"""Checking a trace's steps and packing them into an `Episode`, one step at a time.

A step is ``[joint observation, joint action]``, optionally followed by the joint
reward (one number per agent) and then the joint terminated and joint truncated
flags (one boolean per agent): 2, 3 or 5 items, as many in every step of a file.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ContractError
from ._trace_stream import StepLimits, a
from .episode import Episode
from .spec import AgentSpec, DatasetSpec

__all__ = [
    "ANY_ENTRY",
    "ENTRY_SIZES",
    "INFER_FIRST_STEP",
    "described",
    "entry_size",
    "episode_from_steps",
    "show",
    "step_limits",
    "whole_steps",
]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_FLOAT32_MAX = 3.4028234663852886e38
_SHORT_INT = 10**18


def _float32(value: int | float) -> float | None:
    """``value`` as a float if it is finite and within float32 range, else None.

    JSON integers are unbounded: ``float(10**400)`` raises ``OverflowError``.
    """
    if isinstance(value, int) and value.bit_length() > 128:  # past float32 range
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= _FLOAT32_MAX else None


def show(value: object) -> str:
    """``repr(value)``, or a size description for integers too long to print usefully."""
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -_SHORT_INT < value < _SHORT_INT
    ):
        return f"a {value.bit_length()}-bit integer"
    return repr(value)


def _numbers(values: object, size: int, *, where: str, label: str) -> list[float]:
    if not isinstance(values, list):
        raise ContractError(f"{where}: {label} is {a(values)}; expected a list of {size} numbers")
    if len(values) != size:
        raise ContractError(f"{where}: {label} has {len(values)} values; expected {size}")
    numbers = []
    for position, value in enumerate(values):
        if not _is_number(value):
            raise ContractError(
                f"{where}: {label} holds {a(value)} at index {position}; expected numbers"
            )
        number = _float32(value)
        if number is None:
            raise ContractError(
                f"{where}: {label} contains {show(value)} at index {position}; "
                "expected finite values within float32 range"
            )
        numbers.append(number)
    return numbers


def _discrete(value: object, agent: AgentSpec, *, where: str, inferring: bool = False) -> int:
    label = f"action of agent {agent.name!r}"
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < agent.action_size:
            return value
        if inferring and value >= agent.action_size:
            raise ContractError(
                f"{where}: {label} is {show(value)}; expected an integer below "
                f"{agent.action_size} to infer the number of actions (pass spec= to read it as "
                "it is)"
            )
    elif isinstance(value, float) and value.is_integer() and 0 <= value < agent.action_size:
        return int(value)
    raise ContractError(
        f"{where}: {label} is {show(value)}; expected an integer in [0, {agent.action_size})"
    )


ENTRY_SIZES = (2, 3, 5)
"""Items of a step: obs and action, then optionally rewards, then both done flags."""

_PARTS = (
    "joint observation",
    "joint action",
    "joint reward",
    "joint terminated",
    "joint truncated",
)


ANY_ENTRY = (
    "a [joint observation, joint action] pair, optionally followed by the joint reward, "
    "or by the joint reward, joint terminated and joint truncated (2, 3 or 5 items)"
)
"""What step 0 of a file may be (the steps after it have as many items)."""


def entry_size(entry: object) -> int:
    """How many items the steps of a file hold, from its step 0 (0 when not a valid size)."""
    return len(entry) if isinstance(entry, list) and len(entry) in ENTRY_SIZES else 0


def described(entry: object) -> str:
    """What a step is, for messages: ``a list of 4 items``, ``a dict``."""
    return f"a list of {len(entry)} items" if isinstance(entry, list) else a(entry)


def _layout(size: int) -> str:
    if size == 0:
        return ANY_ENTRY
    if size == 2:
        return "a [joint observation, joint action] pair"
    return f"a [{', '.join(_PARTS[:size])}] entry like step 0"


def _parts(entry: object, spec: DatasetSpec, size: int, *, where: str) -> list[list[object]]:
    """The items of a step of ``size`` items (0: step 0 was not a valid entry)."""
    if not isinstance(entry, list) or len(entry) not in ENTRY_SIZES or len(entry) != size:
        raise ContractError(f"{where}: expected {_layout(size)}; got {described(entry)}")
    names = ", ".join(spec.agent_names)
    for part, label in zip(entry, _PARTS, strict=False):
        if not isinstance(part, list):
            raise ContractError(f"{where}: {label} is {a(part)}; expected a list per agent")
        if len(part) != len(spec.agents):
            raise ContractError(
                f"{where}: {label} has {len(part)} agents; expected {len(spec.agents)} ({names})"
            )
    return entry


def _flags(values: list[object], *, where: str, label: str) -> list[bool]:
    for position, value in enumerate(values):
        if not isinstance(value, bool):
            raise ContractError(
                f"{where}: {label} holds {a(value)} at index {position}; expected true or false"
            )
    return [bool(value) for value in values]


def whole_steps(raw: object, path: Path) -> list[object]:
    if not isinstance(raw, list) or not raw:
        got = "an empty list" if raw == [] else f"{a(raw)}"
        raise ContractError(
            f"{path}: expected a non-empty list of [joint observation, joint action] pairs; "
            f"got {got}"
        )
    return raw


def step_limits(spec: DatasetSpec) -> Callable[[int], StepLimits]:
    """Per-step limits for ``spec``: four times what a valid step holds, plus slack.

    A valid step holds at most five lists of agents (observations, actions, rewards
    and both done flags), one list per observation and per continuous action.
    """
    agents = len(spec.agents)
    continuous = sum(agent.action_kind == "continuous" for agent in spec.agents)
    numbers = sum(agent.obs_size + len(agent.action_shape) * agent.action_size
                  + (agent.action_kind == "discrete") for agent in spec.agents)  # fmt: skip
    limits = StepLimits(4 * (6 + agents + continuous) + 64, 4 * (numbers + 3 * agents) + 64)
    return lambda step: limits


INFER_FIRST_STEP = StepLimits(containers=4096, values=1 << 20)
"""Step 0 of an inferred spec, before any size is known (pass spec= for larger steps)."""


class _Columns:
    """One agent's values of every step, packed (4 or 8 bytes a number, not ~32)."""

    __slots__ = ("actions", "obs", "rewards", "terminated", "truncated")

    def __init__(self, agent: AgentSpec) -> None:
        self.obs: array[float] = array("f")
        self.actions: array[Any] = array("q" if agent.action_kind == "discrete" else "f")
        self.rewards: array[float] = array("f")
        self.terminated: array[int] = array("b")
        self.truncated: array[int] = array("b")


def _outcomes(
    parts: list[list[object]], spec: DatasetSpec, columns: dict[str, _Columns], where: str
) -> None:
    """Append a step's rewards and done flags (when the entry holds them) to ``columns``."""
    if len(parts) < 3:
        return
    rewards = _numbers(parts[2], len(spec.agents), where=where, label="joint reward")
    flags = (
        [
            _flags(part, where=where, label=label)
            for part, label in zip(parts[3:], _PARTS[3:], strict=True)
        ]
        if len(parts) == 5
        else []
    )
    for index, agent in enumerate(spec.agents):
        column = columns[agent.name]
        column.rewards.append(rewards[index])
        if flags:
            column.terminated.append(flags[0][index])
            column.truncated.append(flags[1][index])


def episode_from_steps(
    steps: Iterable[object], spec: DatasetSpec, path: Path, *, inferring: bool = False
) -> Episode:
    """The episode of a file's steps; entries hold 2, 3 or 5 items, as many as step 0.

    The last entry's action, reward and flags (after the final observation) are
    checked and dropped.
    """
    columns = {agent.name: _Columns(agent) for agent in spec.agents}
    count, size = 0, 2
    for step, entry in enumerate(steps):
        where = f"{path}, step {step}"
        size = entry_size(entry) if step == 0 else size
        parts = _parts(entry, spec, size, where=where)
        joint_obs, joint_action = parts[0], parts[1]
        for agent, agent_obs, action in zip(spec.agents, joint_obs, joint_action, strict=True):
            label = f"observation of agent {agent.name!r}"
            column = columns[agent.name]
            column.obs.extend(_numbers(agent_obs, agent.obs_size, where=where, label=label))
            if agent.action_kind == "discrete":
                column.actions.append(_discrete(action, agent, where=where, inferring=inferring))
            else:
                label = f"action of agent {agent.name!r}"
                column.actions.extend(_numbers(action, agent.action_size, where=where, label=label))
        _outcomes(parts, spec, columns, where)
        count = step + 1
    steps_of = count - 1

    def per_step(field: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {
            a.name: _tensor(getattr(columns[a.name], field)[:steps_of], (steps_of,)).to(dtype)
            for a in spec.agents
        }

    return Episode(
        obs={a.name: _tensor(columns[a.name].obs, (count, a.obs_size)) for a in spec.agents},
        actions={a.name: _action_tensor(columns[a.name].actions, a, count) for a in spec.agents},
        rewards=per_step("rewards", torch.float32) if size >= 3 else None,
        terminated=per_step("terminated", torch.bool) if size == 5 else None,
        truncated=per_step("truncated", torch.bool) if size == 5 else None,
    )


def _tensor(values: array[Any], shape: tuple[int, ...]) -> torch.Tensor:
    dtype = {"f": np.float32, "q": np.int64, "b": np.int8}[values.typecode]
    return torch.from_numpy(np.frombuffer(values, dtype=dtype).copy()).reshape(shape)


def _action_tensor(values: array[Any], agent: AgentSpec, count: int) -> torch.Tensor:
    """The actions of steps ``0 .. count - 2``: the last pair's action has no consequence."""
    if agent.action_kind == "discrete":
        return _tensor(values[: count - 1], (count - 1,))
    size = agent.action_size
    return _tensor(values[: (count - 1) * size], (count - 1, size))
