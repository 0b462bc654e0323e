from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from worldmodel_sdk.data import (
    AgentSpec,
    DatasetSpec,
    EpisodeDataset,
    read_trace,
    read_traces,
    trace_files,
    write_trace,
    write_traces,
)
from worldmodel_sdk.errors import ContractError, SerializationError

SPEC = DatasetSpec.from_agents(
    [
        AgentSpec(name="agent_0", obs_size=2, action_kind="discrete", action_size=5),
        AgentSpec(name="agent_1", obs_size=3, action_kind="continuous", action_size=2),
    ]
)
GOOD_STEP = [[[0.0, 1.0], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]]


def write_raw(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content))
    return path


def contract_error(message: str) -> Any:
    return pytest.raises(ContractError, match=f"^{re.escape(message)}$")


def test_round_trip(ragged_dataset: EpisodeDataset, tmp_path: Path, episodes_equal) -> None:
    paths = write_traces(ragged_dataset, tmp_path)
    assert [p.name for p in paths] == [f"joint_history_{i}.json" for i in range(5)]
    loaded = read_traces(tmp_path, spec=ragged_dataset.spec)
    assert loaded.lengths == ragged_dataset.lengths
    for left, right in zip(ragged_dataset, loaded, strict=True):
        episodes_equal(left, right)  # rewards and done flags included, bit for bit


def test_layout_is_the_original_one(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    path = write_trace(
        tmp_path / "joint_history_0.json", ragged_dataset[1], ragged_dataset.spec, outcomes=False
    )
    raw = json.loads(path.read_text())
    episode = ragged_dataset[1]
    assert len(raw) == 2  # T + 1 pairs
    joint_obs, joint_action = raw[0]
    assert joint_obs == [episode.obs["agent_2"][0].tolist(), episode.obs["agent_10"][0].tolist()]
    assert joint_action == [
        int(episode.actions["agent_2"][0]),
        episode.actions["agent_10"][0].tolist(),
    ]
    assert raw[1][1] == [0, [0.0, 0.0]]  # filler action of the final observation
    again = read_trace(path, ragged_dataset.spec)
    assert again.rewards is None and again.terminated is None and again.truncated is None


def test_layout_with_rewards_and_flags(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    path = write_trace(tmp_path / "joint_history_0.json", ragged_dataset[1], ragged_dataset.spec)
    raw = json.loads(path.read_text())
    episode = ragged_dataset[1]
    assert [len(entry) for entry in raw] == [5, 5]
    _, _, reward, terminated, truncated = raw[0]
    assert reward == [float(episode.rewards[n][0]) for n in ("agent_2", "agent_10")]
    assert terminated == [True, True] and truncated == [False, False]
    assert raw[1][2:] == [[0.0, 0.0], [False, False], [False, False]]  # fillers, final entry


def test_inferred_spec_and_natural_file_order(tmp_path: Path) -> None:
    for number, steps in [(10, 4), (2, 2), (1, 3)]:
        pairs = [
            [[[float(number), 0.0], [1.0, 2.0, 3.0]], [t % 3, [0.1, 0.2]]] for t in range(steps)
        ]
        write_raw(tmp_path / f"joint_history_{number}.json", pairs)
    (tmp_path / "notes.json").write_text("[]")
    assert [p.name for p in trace_files(tmp_path)] == [
        "joint_history_1.json",
        "joint_history_2.json",
        "joint_history_10.json",
    ]
    data = read_traces(tmp_path)
    assert data.spec == DatasetSpec.from_agents(
        [
            AgentSpec(name="agent_0", obs_size=2, action_kind="discrete", action_size=3),
            AgentSpec(name="agent_1", obs_size=3, action_kind="continuous", action_size=2),
        ]
    )
    assert data.lengths == [2, 1, 3]
    assert [float(ep.obs["agent_0"][0, 0]) for ep in data] == [1.0, 2.0, 10.0]
    named = read_traces(tmp_path, agents=["scout_2", "scout_10"])
    assert named.spec.agent_names == ("scout_2", "scout_10")


def test_read_single_trace(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "joint_history_0.json", [GOOD_STEP, GOOD_STEP, GOOD_STEP])
    episode = read_trace(path, SPEC)
    assert episode.length == 2
    assert episode.actions["agent_0"].tolist() == [1, 1]
    assert episode.actions["agent_1"].shape == (2, 2)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            [[[0.0, 1.0]], [1, [0.5, -0.5]]],
            "joint observation has 1 agents; expected 2 (agent_0, agent_1)",
        ),
        (
            [[[0.0, 1.0], [2.0, 3.0]], [1, [0.5, -0.5]]],
            "observation of agent 'agent_1' has 2 values; expected 3",
        ),
        (
            [[[0.0, "x"], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]],
            "observation of agent 'agent_0' holds a str at index 1; expected numbers",
        ),
        (
            [[[0.0, 1.0], [2.0, 3.0, 4.0]], [7, [0.5, -0.5]]],
            "action of agent 'agent_0' is 7; expected an integer in [0, 5)",
        ),
        (
            [[[0.0, 1.0], [2.0, 3.0, 4.0]], [True, [0.5, -0.5]]],
            "action of agent 'agent_0' is True; expected an integer in [0, 5)",
        ),
        (
            [[[0.0, 1.0], [2.0, 3.0, 4.0]], [1, [0.5]]],
            "action of agent 'agent_1' has 1 values; expected 2",
        ),
        (
            [[[0.0, 1.0], [2.0, 3.0, 4.0]], [1]],
            "joint action has 1 agents; expected 2 (agent_0, agent_1)",
        ),
        (
            [[[0.0, 1.0], [2.0, 3.0, 4.0]]],
            "expected a [joint observation, joint action] pair; got a list of 1 items",
        ),
        (
            {"obs": [], "action": []},
            "expected a [joint observation, joint action] pair; got a dict",
        ),
        ([{"a": 1}, [1, [0.5, -0.5]]], "joint observation is a dict; expected a list per agent"),
        (
            [[[0.0, 1.0], 5], [1, [0.5, -0.5]]],
            "observation of agent 'agent_1' is an int; expected a list of 3 numbers",
        ),
    ],
)
def test_malformed_step_names_file_and_step(tmp_path: Path, step: Any, message: str) -> None:
    path = write_raw(tmp_path / "joint_history_3.json", [GOOD_STEP, GOOD_STEP, step, GOOD_STEP])
    with contract_error(f"{path}, step 2: {message}"):
        read_trace(path, SPEC)


def test_nan_observation_names_file_step_and_agent(tmp_path: Path) -> None:
    path = tmp_path / "joint_history_0.json"
    path.write_text(
        "[[[[0.0, 1.0], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]], "
        "[[[0.0, NaN], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]]]"
    )
    with contract_error(
        f"{path}, step 1: observation of agent 'agent_0' contains nan at index 1; "
        "expected finite values within float32 range"
    ):
        read_trace(path, SPEC)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "[[[0.0, 1%s], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]]" % ("0" * 400),
            "observation of agent 'agent_0' contains a 1329-bit integer at index 1; "
            "expected finite values within float32 range",
        ),
        (
            "[[[0.0, 1.0], [2.0, 3.0, 1e300]], [1, [0.5, -0.5]]]",
            "observation of agent 'agent_1' contains 1e+300 at index 2; "
            "expected finite values within float32 range",
        ),
        (
            "[[[0.0, 1.0], [2.0, 3.0, 4.0]], [1, [0.5, -%s]]]" % ("9" * 400),
            "action of agent 'agent_1' contains a 1329-bit integer at index 1; "
            "expected finite values within float32 range",
        ),
        (
            "[[[0.0, 1.0], [2.0, 3.0, 4.0]], [1%s, [0.5, -0.5]]]" % ("0" * 400),
            "action of agent 'agent_0' is a 1329-bit integer; expected an integer in [0, 5)",
        ),
        (
            "[[[0.0, 1.0], [2.0, 3.0, 4.0]], [1e300, [0.5, -0.5]]]",
            "action of agent 'agent_0' is 1e+300; expected an integer in [0, 5)",
        ),
    ],
)
def test_out_of_range_numbers_name_file_and_step(tmp_path: Path, step: str, message: str) -> None:
    good = json.dumps(GOOD_STEP)
    path = tmp_path / "joint_history_0.json"
    path.write_text(f"[{good}, {step}, {good}]")
    with contract_error(f"{path}, step 1: {message}"):
        read_trace(path, SPEC)
    with contract_error(f"{path}, step 1: {message}"):
        read_traces(tmp_path, spec=SPEC)


def test_huge_discrete_action_when_inferring_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "joint_history_0.json"
    path.write_text("[[[[0.0], [1.0]], [1, 2]], [[[0.0], [1.0]], [1%s, 2]]]" % ("0" * 400))
    with contract_error(
        f"{path}, step 1: action of agent 'agent_0' is a 1329-bit integer; expected an "
        "integer below 2147483648 to infer the number of actions (pass spec= to read it as it is)"
    ):
        read_traces(tmp_path)


def test_ragged_episode_in_directory(tmp_path: Path) -> None:
    write_raw(tmp_path / "joint_history_0.json", [GOOD_STEP, GOOD_STEP])
    ragged = [GOOD_STEP, [[[0.0, 1.0, 9.0], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]]]
    bad = write_raw(tmp_path / "joint_history_1.json", ragged)
    with contract_error(f"{bad}, step 1: observation of agent 'agent_0' has 3 values; expected 2"):
        read_traces(tmp_path)


def test_whole_file_shape_errors(tmp_path: Path) -> None:
    empty = write_raw(tmp_path / "joint_history_0.json", [])
    with contract_error(
        f"{empty}: expected a non-empty list of [joint observation, joint action] pairs; "
        "got an empty list"
    ):
        read_trace(empty, SPEC)
    mapping = write_raw(tmp_path / "joint_history_1.json", {"steps": []})
    with contract_error(
        f"{mapping}: expected a non-empty list of [joint observation, joint action] pairs; "
        "got a dict"
    ):
        read_trace(mapping, SPEC)


def test_undecodable_files(tmp_path: Path) -> None:
    broken = tmp_path / "joint_history_0.json"
    broken.write_text("[[[[0.0, 1.0]")
    with pytest.raises(SerializationError, match=re.escape(f"{broken}: not valid JSON (Expecting")):
        read_trace(broken, SPEC)
    binary = tmp_path / "joint_history_1.json"
    binary.write_bytes(b"\xff\xfe[]")
    with pytest.raises(SerializationError, match=re.escape(f"{binary}: not UTF-8 text")):
        read_trace(binary, SPEC)
    big = write_raw(tmp_path / "joint_history_2.json", [GOOD_STEP] * 50)
    with pytest.raises(
        SerializationError, match=re.escape(f"{big}: file is larger than 100 bytes")
    ):
        read_trace(big, SPEC, max_bytes=100)


def test_inference_errors(tmp_path: Path) -> None:
    with contract_error(f"{tmp_path}: no joint_history_*.json files found"):
        read_traces(tmp_path)
    path = write_raw(tmp_path / "joint_history_0.json", [[[[0.0], [1.0]], [1.5, 1]]])
    with pytest.raises(
        ContractError,
        match=re.escape(
            f"{path}, step 0: action of agent 'agent_0' is 1.5; expected an integer (discrete)"
        ),
    ):
        read_traces(tmp_path)
    with contract_error(f"{path}, step 0: joint observation has 2 agents; expected 3 (a, b, c)"):
        read_traces(tmp_path, agents=["a", "b", "c"])
    with contract_error("read_traces: agent names must be unique; got ['a', 'a']"):
        read_traces(tmp_path, agents=["a", "a"])


def env_order_trace(tmp_path: Path) -> Path:
    """simple_world_comm's order: the lead adversary (obs 34) before the others (28)."""
    step = [[[1.0] * 34, [2.0] * 28, [3.0] * 28], [4, 1, 2]]
    return write_raw(tmp_path / "joint_history_0.json", [step, step])


def test_traces_in_environment_order(tmp_path: Path) -> None:
    env_order_trace(tmp_path)
    order = ["leadadversary_0", "adversary_0", "agent_0"]
    data = read_traces(tmp_path, agents=order)
    assert data.spec.agent_names == ("adversary_0", "agent_0", "leadadversary_0")
    assert data.spec.agent("leadadversary_0").obs_size == 34
    assert data.spec.agent("leadadversary_0").action_size == 5
    episode = data[0]
    assert float(episode.obs["leadadversary_0"][0, 0]) == 1.0
    assert float(episode.obs["agent_0"][0, 0]) == 3.0
    assert episode.actions["adversary_0"].tolist() == [1]
    again = read_traces(tmp_path, spec=data.spec, agents=order)
    assert torch.equal(again[0].obs["leadadversary_0"], episode.obs["leadadversary_0"])


def test_agents_out_of_order_name_the_order_problem(tmp_path: Path) -> None:
    path = env_order_trace(tmp_path)
    spec = read_traces(tmp_path, agents=["leadadversary_0", "adversary_0", "agent_0"]).spec
    with contract_error(
        f"{path}, step 0: observation sizes [34, 28, 28] do not match the agents "
        "['adversary_0', 'agent_0', 'leadadversary_0'] (sizes [28, 28, 34]) but are a "
        "reordering of them: the file lists the agents in another order; pass agents= in the "
        "file's order (e.g. the environment's possible_agents)"
    ):
        read_traces(tmp_path, spec=spec)
    with contract_error(
        "read_traces: agents ['agent_0', 'adversary_0'] (the files' order) are not the spec's "
        "agents ['adversary_0', 'agent_0', 'leadadversary_0'] in some order"
    ):
        read_traces(tmp_path, spec=spec, agents=["agent_0", "adversary_0"])


def test_write_refuses_bad_episode(ragged_dataset: EpisodeDataset, tmp_path: Path) -> None:
    episode = ragged_dataset[0]
    episode_copy = type(episode)(obs=dict(episode.obs), actions=dict(episode.actions))
    episode_copy.obs["agent_2"] = torch.zeros(6, 4)
    path = tmp_path / "joint_history_0.json"
    with pytest.raises(
        ContractError, match=re.escape(f"write_trace({path}): obs['agent_2'] has shape (6, 4)")
    ):
        write_trace(path, episode_copy, ragged_dataset.spec)
    assert not path.exists()
