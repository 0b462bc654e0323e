from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch

from worldmodel_sdk.data import DatasetSpec, Episode, EpisodeDataset
from worldmodel_sdk.errors import ContractError

EpisodeFactory = Callable[..., Episode]


def test_ragged_lengths(ragged_dataset: EpisodeDataset) -> None:
    assert len(ragged_dataset) == 5
    assert ragged_dataset.lengths == [5, 1, 8, 3, 6]
    assert ragged_dataset.num_steps == 23
    assert ragged_dataset.has_rewards and ragged_dataset.has_dones
    assert ragged_dataset[2].obs["agent_2"].shape == (9, 3)
    assert ragged_dataset[2].actions["agent_10"].shape == (8, 2)
    assert "episodes=5, steps=23" in repr(ragged_dataset)


def test_split_is_seeded_and_by_episode(ragged_dataset: EpisodeDataset) -> None:
    train, val = ragged_dataset.split(val_fraction=0.4, seed=3)
    again_train, again_val = ragged_dataset.split(val_fraction=0.4, seed=3)
    assert [id(e) for e in train] == [id(e) for e in again_train]
    assert [id(e) for e in val] == [id(e) for e in again_val]
    assert len(train) == 3 and len(val) == 2
    ids = {id(e) for e in train} | {id(e) for e in val}
    assert ids == {id(e) for e in ragged_dataset}
    others = {
        tuple(id(e) for e in ragged_dataset.split(val_fraction=0.4, seed=s)[1]) for s in range(8)
    }
    assert len(others) > 1


def test_split_bounds(ragged_dataset: EpisodeDataset) -> None:
    assert len(ragged_dataset.split(val_fraction=0.01, seed=0)[1]) == 1
    assert len(ragged_dataset.split(val_fraction=0.99, seed=0)[0]) == 1
    with pytest.raises(ContractError, match=re.escape("val_fraction must be in (0, 1); got 1.0")):
        ragged_dataset.split(val_fraction=1.0, seed=0)
    with pytest.raises(ContractError, match="needs at least 2 episodes; the dataset has 1"):
        ragged_dataset.subset([0]).split(seed=0)


def test_windows_content(ragged_dataset: EpisodeDataset) -> None:
    batch = ragged_dataset.windows(3)
    # lengths 5, 1, 8, 3, 6 -> 3 + 0 + 6 + 1 + 4 windows
    assert batch.size == 14
    assert batch.obs["agent_2"].shape == (14, 3, 3)
    assert batch.next_obs["agent_10"].shape == (14, 3, 2)
    assert batch.actions["agent_2"].shape == (14, 3)
    assert batch.actions["agent_2"].dtype == torch.int64
    assert batch.actions["agent_10"].shape == (14, 3, 2)
    assert batch.rewards is not None and batch.rewards["agent_2"].shape == (14, 3)
    assert batch.dones is not None and batch.dones["agent_2"].dtype == torch.bool
    for row in range(batch.size):
        episode = ragged_dataset[int(batch.episode_index[row])]
        start = int(batch.start[row])
        obs = episode.obs["agent_10"]
        assert torch.equal(batch.obs["agent_10"][row], obs[start : start + 3])
        assert torch.equal(batch.next_obs["agent_10"][row], obs[start + 1 : start + 4])
        assert torch.equal(
            batch.actions["agent_2"][row], episode.actions["agent_2"][start : start + 3]
        )


def test_windows_stride_and_select(ragged_dataset: EpisodeDataset) -> None:
    batch = ragged_dataset.windows(2, stride=3)
    assert batch.start.tolist() == [0, 3, 0, 3, 6, 0, 0, 3]
    assert batch.episode_index.tolist() == [0, 0, 2, 2, 2, 3, 4, 4]
    picked = batch.select(torch.tensor([1, 4]))
    assert picked.size == 2
    assert torch.equal(picked.obs["agent_2"], batch.obs["agent_2"][[1, 4]])


def test_windows_errors(ragged_dataset: EpisodeDataset) -> None:
    with pytest.raises(ContractError, match="no episode has at least 9 steps; the longest has 8"):
        ragged_dataset.windows(9)
    with pytest.raises(ContractError, match="length and stride must be >= 1; got length=0"):
        ragged_dataset.windows(0)


def test_windows_without_optional_fields(
    mixed_spec: DatasetSpec, make_episode: EpisodeFactory
) -> None:
    data = EpisodeDataset(mixed_spec, [make_episode(4), make_episode(4, extras=False)])
    assert not data.has_rewards
    batch = data.windows(4)
    assert batch.rewards is None and batch.dones is None
