"""`ActionPayload`: one action batch of any supported kind, and its flat encoding."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..action_kinds import KINDS, Kind
from ..contract import ActionSpec, natural_sort_key
from ..errors import ContractError
from ._summary import describe, describe_mapping

__all__ = ["API_VERSIONS", "ActionPayload", "check_api_version", "flatten_action"]

API_VERSIONS = ("v0.2",)


def check_api_version(api_version: str, where: str) -> None:
    """Refuse API versions this SDK does not speak."""
    if api_version not in API_VERSIONS:
        raise ContractError(
            f"{where}: unsupported api_version {api_version!r}; expected one of {API_VERSIONS}"
        )


@dataclass(slots=True, eq=False)
class ActionPayload:
    """An action batch: one tensor, or one tensor per agent for joint actions.

    Attributes:
        kind: ``continuous`` (float ``[B, *shape]``), ``discrete`` (int ``[B]``),
            ``multi_discrete`` (int ``[B, K]``) or ``joint`` (see ``agents``).
        tensor: The action tensor of a single-agent kind.
        agents: Per-agent action tensors of a joint action, keyed by agent name.

    Example:
        >>> a = ActionPayload(kind="discrete", tensor=torch.tensor([0, 3]))
        >>> a.validate().batch_size
        2
    """

    kind: str
    tensor: torch.Tensor | None = None
    agents: dict[str, torch.Tensor] | None = None

    def __repr__(self) -> str:
        """Kind and tensor summaries (dtype, shape, device), never the values."""
        if self.agents is not None:
            return f"ActionPayload(kind={self.kind!r}, agents={describe_mapping(self.agents)})"
        return f"ActionPayload(kind={self.kind!r}, tensor={describe(self.tensor)})"

    @property
    def batch_size(self) -> int:
        """Leading size of the action tensor (of the first agent for joint actions)."""
        if self.tensor is not None:
            return int(self.tensor.shape[0]) if self.tensor.dim() else 0
        for value in (self.agents or {}).values():
            return int(value.shape[0]) if value.dim() else 0
        return 0

    def validate(self, *, api_version: str = "v0.2") -> ActionPayload:
        """Check that the payload is internally consistent.

        The kind must be known; single-agent kinds carry ``tensor`` (float for
        continuous, integer for discrete kinds) and joint actions carry
        ``agents`` with one tensor per agent and a shared batch size.

        Returns:
            The payload itself.

        Raises:
            ContractError: naming the field, what was expected and what arrived.
        """
        check_api_version(api_version, "ActionPayload.validate")
        kind = KINDS.get(self.kind)
        if kind is None:
            raise ContractError(
                f"ActionPayload.kind is {self.kind!r}; expected one of {tuple(KINDS)}"
            )
        if kind.per_agent:
            if self.tensor is not None or not self.agents:
                raise ContractError(
                    "a joint ActionPayload carries agents={name: tensor} and no tensor; got "
                    f"tensor={'set' if self.tensor is not None else 'None'}, "
                    f"agents={sorted(self.agents or {})}"
                )
            sizes = {
                name: _check_tensor(f"ActionPayload.agents[{name!r}]", t, None)
                for name, t in self.agents.items()
            }
            if len(set(sizes.values())) > 1:
                raise ContractError(f"joint ActionPayload agents disagree on batch size: {sizes}")
            return self
        if self.agents is not None:
            raise ContractError(f"a {self.kind} ActionPayload takes tensor=..., not agents=...")
        _check_tensor("ActionPayload.tensor", self.tensor, kind)
        return self

    def packed(self) -> torch.Tensor:
        """The raw action as one tensor: joint actions concatenate agents in natural order.

        Each agent's action is reshaped to ``[B, -1]``; discrete indices become
        float columns when any agent is continuous.
        """
        if self.tensor is not None:
            return self.tensor
        parts = [
            self.agents[name].reshape(self.batch_size, -1)  # type: ignore[index]
            for name in sorted(self.agents or {}, key=natural_sort_key)
        ]
        if any(p.is_floating_point() for p in parts):
            parts = [p.float() for p in parts]
        return torch.cat(parts, dim=-1)


def _check_tensor(where: str, value: object, kind: Kind | None) -> int:
    if not isinstance(value, torch.Tensor):
        raise ContractError(f"{where} must be a torch.Tensor; got {type(value).__name__}")
    if value.dim() == 0:
        raise ContractError(f"{where} is 0-dimensional; expected a leading batch axis")
    if kind is None:
        return int(value.shape[0])
    if not kind.integer and not value.is_floating_point():
        raise ContractError(f"{where} of a {kind.name} action must be floating; got {value.dtype}")
    if kind.integer and (value.is_floating_point() or value.is_complex()):
        raise ContractError(
            f"{where} of a {kind.name} action must hold integers; got {value.dtype}"
        )
    return int(value.shape[0])


def flatten_action(spec: ActionSpec, action: ActionPayload | torch.Tensor) -> torch.Tensor:
    """Canonical flat float encoding ``[..., spec.flat_size]`` of an action.

    Continuous parts are flattened per sample, discrete parts one-hot encoded;
    joint actions concatenate agents in natural order. Leading axes (batch, or
    batch and time) are kept. No validation happens here: validate first.
    """
    if isinstance(action, ActionPayload) and action.agents is not None:
        agents = action.agents
        sub = spec.agents or {}
        return torch.cat(
            [sub[name].behaviour.flatten(sub[name], agents[name]) for name in spec.agent_names],
            dim=-1,
        )
    tensor = action.tensor if isinstance(action, ActionPayload) else action
    if tensor is None:
        raise ContractError(f"a {spec.kind} ActionPayload needs a tensor; got None")
    return spec.behaviour.flatten(spec, tensor)
