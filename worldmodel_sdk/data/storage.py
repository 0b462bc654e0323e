"""Datasets on disk: safetensors shards of episodes plus a small JSON index.

Layout of a dataset directory::

    index.json                 format, version, spec (agents and sizes), episodes, meta
    shard-00000.safetensors    tensors "ep00000/obs/agent_0", "ep00000/actions/agent_0", ...
    shard-00001.safetensors

Nothing is ever unpickled: tensors are safetensors, everything else is JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._files import require_regular
from .._jsonio import read_json
from ..errors import SerializationError
from .checks import check_episode
from .dataset import EpisodeDataset
from .episode import Episode, TensorsByAgent
from .spec import DatasetSpec

__all__ = [
    "FieldName",
    "INDEX_FILE",
    "DatasetIndex",
    "EpisodeEntry",
    "MAX_INDEX_BYTES",
    "load_dataset",
    "read_index",
    "save_dataset",
]

INDEX_FILE = "index.json"
MAX_INDEX_BYTES = 64 * 1024 * 1024
FieldName = Literal["obs", "actions", "rewards", "terminated", "truncated"]


class EpisodeEntry(BaseModel):
    """Where one episode lives: its shard file, its key prefix, length and fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard: str = Field(pattern=r"^shard-\d{5}\.safetensors$")
    key: str = Field(pattern=r"^ep\d{5,}$")
    length: int = Field(ge=0)
    fields: tuple[FieldName, ...]


class DatasetIndex(BaseModel):
    """The ``index.json`` of a dataset directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["worldmodel-sdk/episodes"] = "worldmodel-sdk/episodes"
    version: Literal[1] = 1
    spec: DatasetSpec
    episodes: tuple[EpisodeEntry, ...]
    meta: dict[str, Any] = Field(default_factory=dict)


def _episode_tensors(key: str, episode: Episode) -> dict[str, torch.Tensor]:
    return {
        f"{key}/{field}/{agent}": value.detach().contiguous().clone()
        for field, by_agent in episode.fields().items()
        for agent, value in by_agent.items()
    }


def _entry(shard: str, key: str, episode: Episode) -> EpisodeEntry:
    return EpisodeEntry.model_validate(
        {"shard": shard, "key": key, "length": episode.length, "fields": list(episode.fields())}
    )


def _clear_old(directory: Path, overwrite: bool) -> None:
    if not (directory / INDEX_FILE).exists():
        return
    if not overwrite:
        raise FileExistsError(f"{directory} already holds a dataset; pass overwrite=True")
    for old in directory.glob("shard-*.safetensors"):
        old.unlink()
    (directory / INDEX_FILE).unlink()


def save_dataset(
    dataset: EpisodeDataset,
    directory: str | Path,
    *,
    episodes_per_shard: int = 64,
    overwrite: bool = False,
) -> Path:
    """Write ``dataset`` to ``directory`` as safetensors shards and ``index.json``.

    Args:
        dataset: The episodes to write.
        directory: Created if needed.
        episodes_per_shard: How many episodes go into one shard file.
        overwrite: Replace a dataset already in ``directory``.

    Returns:
        The path of the written ``index.json``.

    Raises:
        FileExistsError: if ``directory`` already holds a dataset and ``overwrite`` is false.
        ValueError: if ``episodes_per_shard`` is below 1.
    """
    if episodes_per_shard < 1:
        raise ValueError(f"episodes_per_shard must be >= 1; got {episodes_per_shard}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    _clear_old(root, overwrite)
    entries: list[EpisodeEntry] = []
    for first in range(0, len(dataset), episodes_per_shard):
        shard = f"shard-{first // episodes_per_shard:05d}.safetensors"
        tensors: dict[str, torch.Tensor] = {}
        for number in range(first, min(first + episodes_per_shard, len(dataset))):
            episode, key = dataset[number], f"ep{number:05d}"
            tensors.update(_episode_tensors(key, episode))
            entries.append(_entry(shard, key, episode))
        save_file(tensors, str(root / shard), metadata={"format": "worldmodel-sdk/episodes"})
    index = DatasetIndex(spec=dataset.spec, episodes=tuple(entries), meta=dataset.meta)
    index_path = root / INDEX_FILE
    index_path.write_text(index.model_dump_json(indent=1), encoding="utf-8")
    return index_path


def read_index(directory: str | Path) -> DatasetIndex:
    """Read and validate ``index.json`` of a dataset directory.

    Raises:
        SerializationError: naming the file and the first invalid field.
    """
    path = Path(directory) / INDEX_FILE
    raw = read_json(path, max_bytes=MAX_INDEX_BYTES)
    try:
        return DatasetIndex.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise SerializationError(f"{path}: invalid index at {where}: {first['msg']}") from None


def _load_shard(path: Path) -> dict[str, torch.Tensor]:
    try:
        require_regular(path)  # a FIFO would block the open, a device never end
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise SerializationError(f"{path}: cannot read safetensors shard ({error})") from None


def _episode_from_shard(
    entry: EpisodeEntry, tensors: dict[str, torch.Tensor], spec: DatasetSpec, path: Path
) -> Episode:
    by_field: dict[str, TensorsByAgent] = {}
    for field in entry.fields:
        by_field[field] = {}
        for agent in spec.agent_names:
            key = f"{entry.key}/{field}/{agent}"
            if key not in tensors:
                raise SerializationError(f"{path}: missing tensor {key!r} listed by the index")
            by_field[field][agent] = tensors.pop(key)
    if "obs" not in by_field or "actions" not in by_field:
        raise SerializationError(f"{path}: index entry {entry.key} lacks obs or actions")
    episode = Episode(**by_field)
    check_episode(episode, spec, where=f"{path}: {entry.key}")
    if episode.length != entry.length:
        raise SerializationError(
            f"{path}: {entry.key} has {episode.length} steps; the index says {entry.length}"
        )
    return episode


def load_dataset(directory: str | Path) -> EpisodeDataset:
    """Read a dataset written by `save_dataset`.

    Every tensor is checked against the index and the spec; stray tensors are refused.

    Raises:
        SerializationError: on an unreadable index or shard, or tensors that do not match
            the index (naming the file and tensor key).
        ContractError: on tensors with wrong shapes, dtypes or values (naming the episode,
            field and agent).
    """
    root = Path(directory)
    index = read_index(root)
    episodes: list[Episode] = []
    shards: dict[str, dict[str, torch.Tensor]] = {}
    for entry in index.episodes:
        if entry.shard not in shards:
            shards[entry.shard] = _load_shard(root / entry.shard)
        path = root / entry.shard
        episodes.append(_episode_from_shard(entry, shards[entry.shard], index.spec, path))
    for shard, left in shards.items():
        if left:
            raise SerializationError(
                f"{root / shard}: tensor {sorted(left)[0]!r} is not listed by the index"
            )
    return EpisodeDataset(index.spec, episodes, meta=index.meta)
