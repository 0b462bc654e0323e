"""`EpisodeDataset`: episodes of possibly different lengths, held in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, final

import torch

from ..errors import ContractError
from .checks import check_episode
from .episode import Episode
from .spec import DatasetSpec
from .windows import WindowBatch, build_windows

__all__ = ["EpisodeDataset"]


@final
class EpisodeDataset:
    """An in-memory list of `Episode` objects sharing one `DatasetSpec`.

    Episodes may differ in length. Every episode is checked against the spec when
    the dataset is built, so training code can rely on shapes and dtypes.

    Args:
        spec: The agents and their sizes.
        episodes: The episodes, in order.
        meta: Small JSON-able facts (environment name, seed, ...), kept in the index.

    Raises:
        ContractError: naming the episode, field and agent of the first problem found.

    Example:
        >>> data = collect_parallel(env, episodes=4, seed=0)
        >>> train, val = data.split(val_fraction=0.25, seed=0)
        >>> batch = train.windows(8)
    """

    __slots__ = ("_episodes", "_meta", "_spec")

    def __init__(
        self,
        spec: DatasetSpec,
        episodes: Iterable[Episode],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._spec = spec
        self._episodes = tuple(episodes)
        self._meta = dict(meta or {})
        for index, episode in enumerate(self._episodes):
            check_episode(episode, spec, where=f"episode {index}")

    @property
    def spec(self) -> DatasetSpec:
        """The agents of every episode, in natural order, with their sizes."""
        return self._spec

    @property
    def meta(self) -> dict[str, Any]:
        """A copy of the dataset's JSON-able metadata."""
        return dict(self._meta)

    @property
    def episodes(self) -> tuple[Episode, ...]:
        """The episodes, in order."""
        return self._episodes

    def __len__(self) -> int:
        return len(self._episodes)

    def __getitem__(self, index: int) -> Episode:
        return self._episodes[index]

    def __iter__(self) -> Iterator[Episode]:
        return iter(self._episodes)

    def __repr__(self) -> str:
        return (
            f"EpisodeDataset(episodes={len(self)}, steps={self.num_steps}, "
            f"agents={list(self._spec.agent_names)})"
        )

    @property
    def lengths(self) -> list[int]:
        """Number of steps of each episode."""
        return [episode.length for episode in self._episodes]

    @property
    def num_steps(self) -> int:
        """Total number of steps (transitions) over all episodes."""
        return sum(self.lengths)

    @property
    def has_rewards(self) -> bool:
        """Whether every episode records rewards (false for an empty dataset)."""
        return bool(self._episodes) and all(ep.rewards is not None for ep in self._episodes)

    @property
    def has_dones(self) -> bool:
        """Whether every episode records terminated/truncated flags."""
        return bool(self._episodes) and all(ep.terminated is not None for ep in self._episodes)

    def subset(self, indices: Iterable[int]) -> EpisodeDataset:
        """A new dataset holding the episodes at ``indices``, in that order."""
        return EpisodeDataset(self._spec, [self._episodes[i] for i in indices], meta=self._meta)

    def split(
        self, *, val_fraction: float = 0.2, seed: int
    ) -> tuple[EpisodeDataset, EpisodeDataset]:
        """Split by whole episodes into ``(train, validation)``, reproducibly from ``seed``.

        The validation set gets ``round(val_fraction * len(self))`` episodes, at least
        one and at most ``len(self) - 1``.

        Raises:
            ContractError: if ``val_fraction`` is not in (0, 1) or there are fewer than 2 episodes.
        """
        if not 0.0 < val_fraction < 1.0:
            raise ContractError(f"split: val_fraction must be in (0, 1); got {val_fraction}")
        if len(self) < 2:
            raise ContractError(f"split: needs at least 2 episodes; the dataset has {len(self)}")
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=generator).tolist()
        n_val = min(max(round(val_fraction * len(self)), 1), len(self) - 1)
        val = sorted(order[:n_val])
        train = sorted(order[n_val:])
        return self.subset(train), self.subset(val)

    def windows(self, length: int, *, stride: int = 1) -> WindowBatch:
        """Fixed-length windows of ``length`` steps with their next observations.

        See `build_windows`; episodes shorter than ``length`` are skipped.
        """
        return build_windows(self._episodes, self._spec, length, stride=stride)

    def save(self, directory: str | Path, *, episodes_per_shard: int = 64) -> Path:
        """Write the dataset as safetensors shards plus ``index.json``; see `save_dataset`."""
        from .storage import save_dataset

        return save_dataset(self, directory, episodes_per_shard=episodes_per_shard)

    @classmethod
    def load(cls, directory: str | Path) -> EpisodeDataset:
        """Read a dataset written by `save`; see `load_dataset`."""
        from .storage import load_dataset

        return load_dataset(directory)
