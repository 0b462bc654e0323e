"""`WindowBatch`: fixed-length sequence chunks cut from episodes, for sequence training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import ContractError
from .episode import Episode, TensorsByAgent
from .spec import DatasetSpec

__all__ = ["WindowBatch", "build_windows"]


@dataclass(slots=True, eq=False)
class WindowBatch:
    """``N`` windows of ``L`` consecutive steps, stacked per agent.

    For the window starting at step ``s`` of an episode:

    - ``obs[agent]``: ``[N, L, d]`` observations ``o_s .. o_{s+L-1}``;
    - ``next_obs[agent]``: ``[N, L, d]`` observations ``o_{s+1} .. o_{s+L}``;
    - ``actions[agent]``: ``[N, L]`` int64 or ``[N, L, k]`` float32, ``a_s .. a_{s+L-1}``;
    - ``rewards[agent]`` / ``dones[agent]``: ``[N, L]`` when the dataset records them;
    - ``terminated[agent]``: ``[N, L]``, the termination flags alone (``dones`` also
      holds truncations, which end an episode without being caused by its state);
    - ``episode_index`` / ``start``: ``[N]`` int64, where each window came from.
    """

    obs: TensorsByAgent
    next_obs: TensorsByAgent
    actions: TensorsByAgent
    rewards: TensorsByAgent | None
    dones: TensorsByAgent | None
    episode_index: torch.Tensor
    start: torch.Tensor
    terminated: TensorsByAgent | None = None

    @property
    def size(self) -> int:
        """Number of windows ``N``."""
        return int(self.episode_index.shape[0])

    def select(self, index: torch.Tensor) -> WindowBatch:
        """Return the windows at ``index`` (a 1-D int64 tensor or bool mask), e.g. a minibatch."""

        def pick(values: TensorsByAgent | None) -> TensorsByAgent | None:
            return None if values is None else {k: v[index] for k, v in values.items()}

        return WindowBatch(
            obs={k: v[index] for k, v in self.obs.items()},
            next_obs={k: v[index] for k, v in self.next_obs.items()},
            actions={k: v[index] for k, v in self.actions.items()},
            rewards=pick(self.rewards),
            dones=pick(self.dones),
            episode_index=self.episode_index[index],
            start=self.start[index],
            terminated=pick(self.terminated),
        )


def _starts(episodes: Sequence[Episode], length: int, stride: int) -> list[tuple[int, int]]:
    return [
        (index, start)
        for index, episode in enumerate(episodes)
        for start in range(0, episode.length - length + 1, stride)
    ]


def _agent_values(episode: Episode, field: str, agent: str) -> torch.Tensor:
    if field == "dones":
        values = episode.dones(agent)
    else:
        by_agent: TensorsByAgent | None = getattr(episode, field)
        values = None if by_agent is None else by_agent[agent]
    if values is None:
        raise ContractError(f"build_windows: an episode does not record {field}")
    return values


def _stack(
    episodes: Sequence[Episode],
    field: str,
    agent: str,
    places: list[tuple[int, int]],
    length: int,
    offset: int = 0,
) -> torch.Tensor:
    chunks = [
        _agent_values(episodes[index], field, agent)[start + offset : start + offset + length]
        for index, start in places
    ]
    return torch.stack(chunks)


def build_windows(
    episodes: Sequence[Episode], spec: DatasetSpec, length: int, *, stride: int = 1
) -> WindowBatch:
    """Cut every episode into windows of ``length`` steps, starting every ``stride`` steps.

    Episodes shorter than ``length`` contribute no window. Optional fields are
    included only when every episode records them.

    Raises:
        ContractError: if ``length`` or ``stride`` is below 1, or no episode is long enough.
    """
    if length < 1 or stride < 1:
        raise ContractError(
            f"build_windows: length and stride must be >= 1; got length={length}, stride={stride}"
        )
    places = _starts(episodes, length, stride)
    if not places:
        longest = max((episode.length for episode in episodes), default=0)
        raise ContractError(
            f"build_windows: no episode has at least {length} steps; the longest has {longest}"
        )
    names = spec.agent_names
    has_rewards = all(episode.rewards is not None for episode in episodes)
    has_dones = all(episode.terminated is not None for episode in episodes)

    def gather(field: str, offset: int = 0) -> TensorsByAgent:
        return {name: _stack(episodes, field, name, places, length, offset) for name in names}

    return WindowBatch(
        obs=gather("obs"),
        next_obs=gather("obs", offset=1),
        actions=gather("actions"),
        rewards=gather("rewards") if has_rewards else None,
        dones=gather("dones") if has_dones else None,
        episode_index=torch.tensor([index for index, _ in places], dtype=torch.int64),
        start=torch.tensor([start for _, start in places], dtype=torch.int64),
        terminated=gather("terminated") if has_dones else None,
    )
