"""Gymnasium spaces to `AgentSpec`, and observations / actions between env and dataset form.

Observations are stored flat as float32 vectors (``Box`` observations are reshaped,
other spaces go through ``gymnasium.spaces.flatten``). Actions are stored as an
int64 index for ``Discrete`` spaces (``start`` subtracted) and a float32 vector for
``Box`` spaces. Gymnasium is imported only when one of these functions is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ContractError
from .spec import AgentSpec

__all__ = [
    "action_from_env",
    "action_to_env",
    "agent_spec_from_spaces",
    "flatten_observation",
    "import_gymnasium",
]


def import_gymnasium() -> Any:
    """Import gymnasium, or explain which extra provides it."""
    try:
        import gymnasium
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError(
            "collecting from environments needs gymnasium; install worldmodel-sdk[envs]"
        ) from error
    return gymnasium


def agent_spec_from_spaces(name: str, observation_space: Any, action_space: Any) -> AgentSpec:
    """Describe one agent from its Gymnasium observation and action spaces.

    Raises:
        ContractError: if the action space is neither ``Discrete`` nor ``Box``.
    """
    spaces = import_gymnasium().spaces
    obs_size = int(spaces.flatdim(observation_space))
    if isinstance(action_space, spaces.Discrete):
        return AgentSpec(
            name=name, obs_size=obs_size, action_kind="discrete", action_size=int(action_space.n)
        )
    if isinstance(action_space, spaces.Box):
        size = int(np.prod(action_space.shape, dtype=np.int64))
        return AgentSpec(name=name, obs_size=obs_size, action_kind="continuous", action_size=size)
    raise ContractError(
        f"agent {name!r}: action space {action_space} is not supported; expected Discrete or Box"
    )


def flatten_observation(space: Any, value: Any) -> np.ndarray:
    """Return an observation as a flat float32 vector."""
    spaces = import_gymnasium().spaces
    if isinstance(space, spaces.Box):
        return np.asarray(value, dtype=np.float32).reshape(-1)
    return np.asarray(spaces.flatten(space, value), dtype=np.float32).reshape(-1)


def action_from_env(agent: AgentSpec, space: Any, action: Any, *, where: str) -> Any:
    """Convert an env-form action to dataset form (``int`` index or float32 vector).

    Raises:
        ContractError: naming ``where`` and the agent if the action does not fit the spec.
    """
    label = f"action[{agent.name!r}]"
    value = np.asarray(action)
    if agent.action_kind == "discrete":
        start = int(space.start)
        if value.shape != () or value.dtype.kind not in "iu":
            raise ContractError(
                f"{where}: {label} is {action!r}; "
                f"expected one integer of Discrete({agent.action_size})"
            )
        index = int(value) - start
        if not 0 <= index < agent.action_size:
            raise ContractError(
                f"{where}: {label} is {int(value)}; expected an integer in "
                f"[{start}, {start + agent.action_size})"
            )
        return index
    flat = value.astype(np.float32).reshape(-1)
    if flat.shape != (agent.action_size,) or not bool(np.isfinite(flat).all()):
        raise ContractError(
            f"{where}: {label} has shape {value.shape}; expected {agent.action_size} finite values"
        )
    return flat


def action_to_env(agent: AgentSpec, space: Any, stored: Any) -> Any:
    """Convert a dataset-form action back to what the env's ``step`` expects."""
    if agent.action_kind == "discrete":
        return int(stored) + int(space.start)
    return np.asarray(stored, dtype=space.dtype).reshape(space.shape)
