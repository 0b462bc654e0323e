from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from worldmodel_sdk.data import (
    DatasetSpec,
    Episode,
    EpisodeDataset,
    load_dataset,
    read_index,
    save_dataset,
)
from worldmodel_sdk.errors import ContractError, SerializationError

Equal = Callable[[Episode, Episode], None]
EpisodeFactory = Callable[..., Episode]


def test_round_trip_shards_and_index(
    ragged_dataset: EpisodeDataset, tmp_path: Path, episodes_equal: Equal
) -> None:
    index_path = ragged_dataset.save(tmp_path / "ds", episodes_per_shard=2)
    assert index_path == tmp_path / "ds" / "index.json"
    shards = sorted(p.name for p in (tmp_path / "ds").glob("*.safetensors"))
    assert shards == [
        "shard-00000.safetensors",
        "shard-00001.safetensors",
        "shard-00002.safetensors",
    ]
    loaded = EpisodeDataset.load(tmp_path / "ds")
    assert loaded.spec == ragged_dataset.spec
    assert loaded.meta == {"origin": "test"}
    assert loaded.lengths == [5, 1, 8, 3, 6]
    for left, right in zip(ragged_dataset, loaded, strict=True):
        episodes_equal(left, right)


def test_index_records_agent_sizes(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    raw = json.loads((tmp_path / "index.json").read_text())
    assert raw["format"] == "worldmodel-sdk/episodes" and raw["version"] == 1
    assert raw["spec"]["agents"] == [
        {"name": "agent_2", "obs_size": 3, "action_kind": "discrete", "action_size": 4},
        {"name": "agent_10", "obs_size": 2, "action_kind": "continuous", "action_size": 2},
    ]
    assert raw["episodes"][1] == {
        "shard": "shard-00000.safetensors",
        "key": "ep00001",
        "length": 1,
        "fields": ["obs", "actions", "rewards", "terminated", "truncated"],
    }
    assert read_index(tmp_path).spec == ragged_dataset.spec


def test_optional_fields_may_be_absent(
    mixed_spec: DatasetSpec, make_episode: EpisodeFactory, tmp_path: Path, episodes_equal: Equal
) -> None:
    data = EpisodeDataset(mixed_spec, [make_episode(3, extras=False), make_episode(2)])
    loaded = load_dataset(data.save(tmp_path).parent)
    episodes_equal(data[0], loaded[0])
    episodes_equal(data[1], loaded[1])
    assert loaded[0].rewards is None


def test_refuses_to_overwrite(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    with pytest.raises(FileExistsError, match="already holds a dataset; pass overwrite=True"):
        save_dataset(ragged_dataset, tmp_path)
    save_dataset(ragged_dataset.subset([0]), tmp_path, overwrite=True)
    assert len(load_dataset(tmp_path)) == 1
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


def test_corrupt_index(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    index = tmp_path / "index.json"
    index.write_text("{not json")
    with pytest.raises(SerializationError, match=re.escape(f"{index}: not valid JSON")):
        load_dataset(tmp_path)
    index.write_text(json.dumps({"format": "other"}))
    with pytest.raises(SerializationError, match=re.escape(f"{index}: invalid index at format")):
        load_dataset(tmp_path)


def test_index_cannot_point_outside(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    raw = json.loads((tmp_path / "index.json").read_text())
    raw["episodes"][0]["shard"] = "../elsewhere.safetensors"
    (tmp_path / "index.json").write_text(json.dumps(raw))
    with pytest.raises(SerializationError, match="invalid index at episodes.0.shard"):
        load_dataset(tmp_path)


def test_corrupt_shard(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    shard = tmp_path / "shard-00000.safetensors"
    shard.write_bytes(b"\x00" * 16)
    with pytest.raises(
        SerializationError, match=re.escape(f"{shard}: cannot read safetensors shard")
    ):
        load_dataset(tmp_path)


def test_shard_and_index_must_agree(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    shard = tmp_path / "shard-00000.safetensors"
    tensors = load_file(str(shard))
    tensors["ep00099/obs/agent_2"] = torch.zeros(1, 3)
    save_file(tensors, str(shard))
    with pytest.raises(SerializationError, match="tensor 'ep00099/obs/agent_2' is not listed"):
        load_dataset(tmp_path)
    del tensors["ep00099/obs/agent_2"], tensors["ep00000/rewards/agent_10"]
    save_file(tensors, str(shard))
    with pytest.raises(SerializationError, match="missing tensor 'ep00000/rewards/agent_10'"):
        load_dataset(tmp_path)


def test_bad_tensor_in_shard_names_episode(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    shard = tmp_path / "shard-00000.safetensors"
    tensors = load_file(str(shard))
    tensors["ep00001/obs/agent_10"][1, 0] = float("nan")
    save_file(tensors, str(shard))
    message = f"{shard}: ep00001: obs['agent_10'] contains nan at step 1; expected finite values"
    with pytest.raises(ContractError, match=re.escape(message)):
        load_dataset(tmp_path)


def test_length_must_match_index(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    save_dataset(ragged_dataset, tmp_path)
    raw = json.loads((tmp_path / "index.json").read_text())
    raw["episodes"][0]["length"] = 4
    (tmp_path / "index.json").write_text(json.dumps(raw))
    with pytest.raises(SerializationError, match="ep00000 has 5 steps; the index says 4"):
        load_dataset(tmp_path)


@pytest.mark.timeout(20)
def test_special_files_as_shards_or_index_are_refused_without_blocking(
    ragged_dataset: EpisodeDataset, tmp_path: Path
) -> None:
    save_dataset(ragged_dataset, tmp_path)
    shard = tmp_path / "shard-00000.safetensors"
    shard.unlink()
    os.mkfifo(shard)
    with pytest.raises(
        SerializationError, match=re.escape(f"{shard} is a FIFO, not a regular file")
    ):
        load_dataset(tmp_path)
    index = tmp_path / "index.json"
    index.unlink()
    index.symlink_to("/dev/zero")
    with pytest.raises(
        SerializationError, match=re.escape(f"{index} is a character device, not a regular file")
    ):
        load_dataset(tmp_path)
