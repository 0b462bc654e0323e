"""`Episode`: one episode's per-agent tensors (observations, actions, rewards, dones)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Episode", "TensorsByAgent"]

TensorsByAgent = dict[str, torch.Tensor]


@dataclass(slots=True, eq=False)
class Episode:
    """One episode of ``T`` steps, stored per agent.

    Shapes, for an agent with observation size ``d`` (see `AgentSpec`):

    - ``obs[agent]``: ``[T+1, d]`` float32, the reset observation then one per step;
    - ``actions[agent]``: ``[T]`` int64 (discrete) or ``[T, k]`` float32 (continuous);
    - ``rewards[agent]``: ``[T]`` float32, the reward received after each action;
    - ``terminated[agent]`` / ``truncated[agent]``: ``[T]`` bool.

    Rewards and the done flags are optional (``None``) because some sources, such as
    trace files, do not record them. ``check_episode`` validates an episode against a
    `DatasetSpec`; construction does not.

    Example:
        >>> obs = {"a": torch.zeros(3, 2)}
        >>> ep = Episode(obs=obs, actions={"a": torch.zeros(2, dtype=torch.long)})
        >>> ep.length
        2
    """

    obs: TensorsByAgent
    actions: TensorsByAgent
    rewards: TensorsByAgent | None = None
    terminated: TensorsByAgent | None = None
    truncated: TensorsByAgent | None = None

    @property
    def length(self) -> int:
        """Number of steps ``T`` (one fewer than the number of observations)."""
        for value in self.obs.values():
            return int(value.shape[0]) - 1
        return 0

    def dones(self, agent: str) -> torch.Tensor | None:
        """Per-step ``terminated | truncated`` of one agent, or ``None`` if not recorded."""
        if self.terminated is None or self.truncated is None:
            return None
        return self.terminated[agent] | self.truncated[agent]

    def fields(self) -> dict[str, TensorsByAgent]:
        """The recorded fields by name (``obs``, ``actions`` and any optional ones)."""
        named: dict[str, TensorsByAgent | None] = {
            "obs": self.obs,
            "actions": self.actions,
            "rewards": self.rewards,
            "terminated": self.terminated,
            "truncated": self.truncated,
        }
        return {name: value for name, value in named.items() if value is not None}
