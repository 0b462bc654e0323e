"""What the framework bridges share: the missing-extra error, per-agent I/O and step outcomes."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np
import torch

from .._outcomes import predicted_rewards, predicted_terminations
from ..contract import ActionSpec, IOContract
from ..errors import ContractError
from ..payloads.action import ActionPayload

__all__ = [
    "OutcomeFn",
    "action_tensor",
    "import_framework",
    "joint_payload",
    "obs_batch",
    "step_outcome",
]

OutcomeFn = Callable[[Mapping[str, np.ndarray], Mapping[str, Any], Mapping[str, np.ndarray]], Any]
"""``(obs, actions, next_obs) -> {agent: value}``: a user reward or done function."""


def import_framework(module: str, *, extra: str, bridge: str, then: str = "") -> ModuleType:
    """Import a framework module, or raise ImportError naming the extra that installs it.

    ``then`` is a second install command, for frameworks installed without their pins.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        also = f" && {then}" if then else ""
        raise ImportError(
            f"worldmodel_sdk.adapters.{bridge} needs {module!r}, which is not installed; "
            f"install it with: pip install 'worldmodel-sdk[{extra}]'{also}"
        ) from exc


def action_tensor(agent: str, value: Any, spec: ActionSpec) -> torch.Tensor:
    """One agent's action as a ``[1, ...]`` tensor of the spec's kind, or a ContractError."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = np.asarray(None)
    if array.dtype.kind not in "iubf":
        raise ContractError(f"action[{agent!r}] is {value!r}; expected numbers")
    want = spec.sample_shape
    if array.size != math.prod(want):
        raise ContractError(f"action[{agent!r}] has shape {array.shape}; expected shape {want}")
    array = array.reshape(want)
    if spec.kind == "continuous":
        return torch.as_tensor(array, dtype=torch.float32).unsqueeze(0)
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise ContractError(f"action[{agent!r}] is {value!r}; expected an integer index")
    return torch.as_tensor(array.astype(np.int64)).unsqueeze(0)


def joint_payload(contract: IOContract, actions: Mapping[str, Any]) -> ActionPayload:
    """A batch-of-one action payload from ``{agent: action}`` (or one agent's action)."""
    spec = contract.action
    if spec is None:
        raise ContractError("the model's contract declares no action")
    if spec.kind != "joint":
        if len(actions) != 1:
            raise ContractError(f"actions has {len(actions)} entries; expected one")
        (value,) = actions.values()
        return ActionPayload(kind=spec.kind, tensor=action_tensor("action", value, spec))
    agents = spec.agents or {}
    for name in actions:
        if name not in agents:
            raise ContractError(
                f"actions has unknown agent {name!r}; expected agents: {', '.join(agents)}"
            )
    missing = [name for name in agents if name not in actions]
    if missing:
        raise ContractError(f"actions is missing agent {missing[0]!r}")
    return ActionPayload(
        kind="joint",
        agents={name: action_tensor(name, actions[name], sub) for name, sub in agents.items()},
    )


def obs_batch(values: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """``{agent: vector}`` as float32 ``[1, d]`` tensors (the observations of one sample)."""
    return {
        name: torch.as_tensor(np.asarray(value, dtype=np.float32)).reshape(1, -1)
        for name, value in values.items()
    }


def step_outcome(
    contract: IOContract,
    decoded: Mapping[str, torch.Tensor],
    step: tuple[Mapping[str, np.ndarray], Mapping[str, Any], Mapping[str, np.ndarray]],
    *,
    reward_fn: OutcomeFn | None,
    done_fn: OutcomeFn | None,
    continue_threshold: float,
    where: str,
) -> tuple[dict[str, float], bool]:
    """Per-agent rewards and whether the episode ends, for a step ``(obs, actions, next_obs)``.

    A function left as ``None`` is replaced by the model's prediction (see `_outcomes`):
    a team reward goes to every agent, a per-agent reward to each; the episode ends when
    any agent's continue probability is below ``continue_threshold`` or ``done_fn``
    flags any agent.

    Raises:
        ContractError: a function misses an agent, a reward is not finite, or a
            prediction has the wrong shape or dtype.
    """
    agents = list(contract.agents)
    if reward_fn is None:
        row = predicted_rewards(contract, decoded, 1, where)[0].tolist()
        rewards = dict(zip(agents, row, strict=True))
    else:
        given = reward_fn(*step)
        missing = [name for name in agents if name not in given]
        if missing:
            raise ContractError(f"reward_fn returned no reward for {missing} [{where}]")
        rewards = {name: float(given[name]) for name in agents}
    for name, reward in rewards.items():
        if not math.isfinite(reward):
            raise ContractError(f"reward of agent {name!r} is {reward} [{where}]")
    if done_fn is None:
        ended = predicted_terminations(contract, decoded, 1, continue_threshold, where)
        return rewards, bool(ended.any())
    flags = done_fn(*step)
    return rewards, any(bool(flags.get(name, False)) for name in agents)
