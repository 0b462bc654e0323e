from __future__ import annotations

import re

import pytest
import torch

from worldmodel_sdk.data import (
    DatasetSpec,
    EpisodeDataset,
    concat_joint_obs,
    decode_joint_action,
    encode_joint_action,
    split_joint_obs,
)
from worldmodel_sdk.errors import ContractError


def test_concat_in_natural_order_and_split_back(mixed_spec: DatasetSpec) -> None:
    obs = {"agent_10": torch.full((4, 7, 2), 10.0), "agent_2": torch.full((4, 7, 3), 2.0)}
    joint = concat_joint_obs(obs, mixed_spec)
    assert joint.shape == (4, 7, 5)
    assert joint[0, 0].tolist() == [2.0, 2.0, 2.0, 10.0, 10.0]
    parts = split_joint_obs(joint, mixed_spec)
    assert list(parts) == ["agent_2", "agent_10"]
    for name, value in obs.items():
        assert torch.equal(parts[name], value)


def test_concat_errors(mixed_spec: DatasetSpec) -> None:
    obs = {"agent_10": torch.zeros(2), "agent_2": torch.zeros(4)}
    message = "concat_joint_obs: obs['agent_2'] has shape (4,); expected (..., 3)"
    with pytest.raises(ContractError, match=re.escape(message)):
        concat_joint_obs(obs, mixed_spec)
    with pytest.raises(ContractError, match="obs is missing agent 'agent_2'"):
        concat_joint_obs({"agent_10": torch.zeros(2)}, mixed_spec)
    with pytest.raises(ContractError, match=re.escape("joint has shape (4,); expected (..., 5)")):
        split_joint_obs(torch.zeros(4), mixed_spec)


def test_joint_action_round_trip(ragged_dataset: EpisodeDataset) -> None:
    spec = ragged_dataset.spec
    batch = ragged_dataset.windows(2)
    joint = encode_joint_action(batch.actions, spec)
    assert joint.shape == (batch.size, 2, 6)
    assert torch.equal(joint[..., :4].sum(-1), torch.ones(batch.size, 2))
    decoded = decode_joint_action(joint, spec)
    assert torch.equal(decoded["agent_2"], batch.actions["agent_2"])
    assert torch.equal(decoded["agent_10"], batch.actions["agent_10"])


def test_encode_action_errors(mixed_spec: DatasetSpec) -> None:
    actions = {"agent_2": torch.tensor([4]), "agent_10": torch.zeros(1, 2)}
    with pytest.raises(ContractError, match=re.escape("holds an index outside [0, 4)")):
        encode_joint_action(actions, mixed_spec)
    actions["agent_2"] = torch.tensor([1.0])
    with pytest.raises(ContractError, match="has dtype torch.float32; expected torch.int64"):
        encode_joint_action(actions, mixed_spec)
