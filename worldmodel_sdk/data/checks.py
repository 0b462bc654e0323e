"""Small named checks that raise `ContractError` naming where, the key, expected and got.

Each ``check_*`` function validates one thing. ``where`` says which episode, file
or step is being checked, so that a message reads, for example::

    episode 3: obs['agent_1'] has shape (6, 17); expected (6, 18) = (T+1, obs_size)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from ..errors import ContractError
from .episode import Episode, TensorsByAgent
from .spec import AgentSpec, DatasetSpec

__all__ = [
    "check_agent_names",
    "check_episode",
    "check_finite",
    "check_step_observations",
]


def check_agent_names(names: Iterable[str], spec: DatasetSpec, *, where: str, key: str) -> None:
    """Check that ``names`` are exactly the spec's agents.

    Raises:
        ContractError: naming the unknown or missing agent and the expected agents.
    """
    given = list(names)
    expected = ", ".join(spec.agent_names)
    for name in given:
        if name not in spec.agent_names:
            raise ContractError(
                f"{where}: {key} has unknown agent {name!r}; expected agents: {expected}"
            )
    for name in spec.agent_names:
        if name not in given:
            raise ContractError(
                f"{where}: {key} is missing agent {name!r}; expected agents: {expected}"
            )


def check_finite(values: torch.Tensor, *, where: str, label: str) -> None:
    """Check that a float tensor holds no NaN or infinity; name the first bad step.

    Raises:
        ContractError: ``"<where>: <label> contains nan at step 3; expected finite values"``.
    """
    if not values.is_floating_point() or values.numel() == 0:
        return
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    rows = bad.reshape(values.shape[0], -1).any(dim=1) if values.dim() > 0 else bad.reshape(1)
    step = int(torch.nonzero(rows)[0, 0])
    sample = values.reshape(values.shape[0], -1)[step] if values.dim() > 0 else values.reshape(1)
    kind = "nan" if bool(torch.isnan(sample).any()) else "inf"
    raise ContractError(f"{where}: {label} contains {kind} at step {step}; expected finite values")


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _check_tensor(
    value: object, shape: tuple[int, ...], dtype: torch.dtype, *, where: str, label: str, axes: str
) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ContractError(f"{where}: {label} is a {type(value).__name__}; expected a tensor")
    if tuple(value.shape) != shape:
        raise ContractError(
            f"{where}: {label} has shape {tuple(value.shape)}; expected {shape} = {axes}"
        )
    if value.dtype != dtype:
        raise ContractError(f"{where}: {label} has dtype {value.dtype}; expected {dtype}")
    return value


def _check_discrete_range(
    values: torch.Tensor, agent: AgentSpec, *, where: str, label: str
) -> None:
    bad = (values < 0) | (values >= agent.action_size)
    if bool(bad.any()):
        step = int(torch.nonzero(bad)[0, 0])
        raise ContractError(
            f"{where}: {label} has value {int(values[step])} at step {step}; "
            f"expected an integer in [0, {agent.action_size})"
        )


def _check_actions(actions: torch.Tensor, agent: AgentSpec, steps: int, where: str) -> None:
    label = f"actions[{agent.name!r}]"
    if agent.action_kind == "discrete":
        _check_tensor(actions, (steps,), torch.int64, where=where, label=label, axes="(T,)")
        _check_discrete_range(actions, agent, where=where, label=label)
        return
    shape = (steps, agent.action_size)
    _check_tensor(actions, shape, torch.float32, where=where, label=label, axes="(T, action_size)")
    check_finite(actions, where=where, label=label)


def _check_per_step(
    field: str, values: TensorsByAgent, spec: DatasetSpec, steps: int, where: str
) -> None:
    check_agent_names(values, spec, where=where, key=field)
    dtype = torch.float32 if field == "rewards" else torch.bool
    for name in spec.agent_names:
        label = f"{field}[{name!r}]"
        tensor = _check_tensor(values[name], (steps,), dtype, where=where, label=label, axes="(T,)")
        check_finite(tensor, where=where, label=label)


def check_episode(episode: Episode, spec: DatasetSpec, *, where: str = "episode") -> None:
    """Check every field of an episode against the spec.

    Observations must be ``[T+1, obs_size]`` float32 and finite; actions ``[T]``
    int64 in ``[0, n)`` or ``[T, k]`` float32; optional rewards ``[T]`` float32 and
    done flags ``[T]`` bool, for exactly the spec's agents.

    Raises:
        ContractError: naming ``where``, the field, the agent, what was expected and got.
    """
    check_agent_names(episode.obs, spec, where=where, key="obs")
    check_agent_names(episode.actions, spec, where=where, key="actions")
    first = spec.agent_names[0]
    first_obs = episode.obs[first]
    if not isinstance(first_obs, torch.Tensor) or first_obs.dim() == 0 or not len(first_obs):
        raise ContractError(
            f"{where}: obs[{first!r}] is {_describe(first_obs)}; "
            "expected a [T+1, obs_size] tensor with at least one observation"
        )
    steps = int(first_obs.shape[0]) - 1
    for agent in spec.agents:
        label = f"obs[{agent.name!r}]"
        shape = (steps + 1, agent.obs_size)
        obs = _check_tensor(
            episode.obs[agent.name],
            shape,
            torch.float32,
            where=where,
            label=label,
            axes="(T+1, obs_size)",
        )
        check_finite(obs, where=where, label=label)
        _check_actions(episode.actions[agent.name], agent, steps, where)
    for field in ("rewards", "terminated", "truncated"):
        values = getattr(episode, field)
        if values is not None:
            _check_per_step(field, values, spec, steps, where)
    if (episode.terminated is None) != (episode.truncated is None):
        raise ContractError(f"{where}: terminated and truncated must be recorded together")


def check_step_observations(
    observations: Mapping[str, np.ndarray], spec: DatasetSpec, *, where: str
) -> None:
    """Check one step's flattened observations (one 1-D array per agent).

    Raises:
        ContractError: naming the agent, the expected size and what arrived, or the NaN.
    """
    check_agent_names(observations, spec, where=where, key="observation")
    for agent in spec.agents:
        value = observations[agent.name]
        label = f"observation[{agent.name!r}]"
        if value.shape != (agent.obs_size,):
            raise ContractError(
                f"{where}: {label} has shape {value.shape}; expected ({agent.obs_size},)"
            )
        if not bool(np.isfinite(value).all()):
            kind = "nan" if bool(np.isnan(value).any()) else "inf"
            raise ContractError(f"{where}: {label} contains {kind}; expected finite values")
