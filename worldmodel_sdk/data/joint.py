"""Joint vectors: concatenate per-agent tensors in natural agent order, and split back."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import ContractError
from .checks import check_agent_names
from .episode import TensorsByAgent
from .spec import DatasetSpec

__all__ = [
    "concat_joint_obs",
    "decode_joint_action",
    "encode_joint_action",
    "split_joint_obs",
]


def _check_last_dim(value: torch.Tensor, size: int, *, where: str, label: str) -> None:
    if value.dim() == 0 or int(value.shape[-1]) != size:
        raise ContractError(
            f"{where}: {label} has shape {tuple(value.shape)}; expected (..., {size})"
        )


def concat_joint_obs(obs: Mapping[str, torch.Tensor], spec: DatasetSpec) -> torch.Tensor:
    """Concatenate per-agent observations ``[..., d_i]`` into ``[..., sum d_i]``.

    Agents are taken in the spec's natural order, whatever the mapping's order.

    Raises:
        ContractError: on a missing or unknown agent, or a wrong last dimension.

    Example:
        >>> obs = {name: episode.obs[name] for name in spec.agent_names}
        >>> concat_joint_obs(obs, spec).shape  # [T+1, spec.joint_obs_size]
    """
    where = "concat_joint_obs"
    check_agent_names(obs, spec, where=where, key="obs")
    for agent in spec.agents:
        _check_last_dim(obs[agent.name], agent.obs_size, where=where, label=f"obs[{agent.name!r}]")
    return torch.cat([obs[name] for name in spec.agent_names], dim=-1)


def split_joint_obs(joint: torch.Tensor, spec: DatasetSpec) -> TensorsByAgent:
    """Split a joint observation ``[..., sum d_i]`` back into per-agent views ``[..., d_i]``.

    Raises:
        ContractError: if the last dimension is not the spec's joint observation size.
    """
    _check_last_dim(joint, spec.joint_obs_size, where="split_joint_obs", label="joint")
    parts = torch.split(joint, list(spec.obs_sizes), dim=-1)
    return dict(zip(spec.agent_names, parts, strict=True))


def encode_joint_action(actions: Mapping[str, torch.Tensor], spec: DatasetSpec) -> torch.Tensor:
    """Encode per-agent actions as one float vector ``[..., joint_action_size]``.

    Discrete actions ``[...]`` (int64) become one-hot ``[..., n]``; continuous actions
    ``[..., k]`` are kept as they are. Agents are concatenated in natural order.

    Raises:
        ContractError: on a missing or unknown agent, a wrong shape or an index out of range.
    """
    where = "encode_joint_action"
    check_agent_names(actions, spec, where=where, key="actions")
    parts = []
    for agent in spec.agents:
        value = actions[agent.name]
        label = f"actions[{agent.name!r}]"
        if agent.action_kind == "continuous":
            _check_last_dim(value, agent.action_size, where=where, label=label)
            parts.append(value.to(torch.float32))
            continue
        if value.dtype != torch.int64:
            raise ContractError(f"{where}: {label} has dtype {value.dtype}; expected torch.int64")
        if bool(((value < 0) | (value >= agent.action_size)).any()):
            raise ContractError(f"{where}: {label} holds an index outside [0, {agent.action_size})")
        parts.append(torch.nn.functional.one_hot(value, agent.action_size).to(torch.float32))
    return torch.cat(parts, dim=-1)


def decode_joint_action(joint: torch.Tensor, spec: DatasetSpec) -> TensorsByAgent:
    """Invert `encode_joint_action`: argmax for discrete agents, slices for continuous ones.

    Raises:
        ContractError: if the last dimension is not the spec's joint action size.
    """
    _check_last_dim(joint, spec.joint_action_size, where="decode_joint_action", label="joint")
    parts = torch.split(joint, list(spec.action_widths), dim=-1)
    decoded: TensorsByAgent = {}
    for agent, part in zip(spec.agents, parts, strict=True):
        decoded[agent.name] = part.argmax(dim=-1) if agent.action_kind == "discrete" else part
    return decoded
