"""Per-agent rewards and done flags: recorded from real envs, kept exactly on disk and in traces."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from worldmodel_sdk.data import (
    AgentSpec,
    DatasetSpec,
    Episode,
    EpisodeDataset,
    collect_parallel,
    load_dataset,
    read_trace,
    read_traces,
    write_trace,
    write_traces,
)
from worldmodel_sdk.errors import ContractError

SPEC = DatasetSpec.from_agents(
    [
        AgentSpec(name="agent_0", obs_size=2, action_kind="discrete", action_size=5),
        AgentSpec(name="agent_1", obs_size=3, action_kind="continuous", action_size=2),
    ]
)
OBS_ACTION = [[[0.0, 1.0], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]]
FULL_STEP = [*OBS_ACTION, [0.25, -1.0], [False, False], [False, True]]


def adversary_env() -> Any:
    from mpe2 import simple_adversary_v3

    return simple_adversary_v3.parallel_env(N=2, max_cycles=25, continuous_actions=False)


@functools.cache
def adversary_data() -> EpisodeDataset:
    """Three real simple_adversary episodes (an adversary and two good agents), cut at 8 steps."""
    return collect_parallel(adversary_env(), episodes=3, seed=5, max_steps=8)


def test_collected_rewards_and_flags_are_the_envs_own_per_agent() -> None:
    data = adversary_data()
    env = adversary_env()
    for index, episode in enumerate(data):
        env.reset(seed=5 + index)
        for step in range(episode.length):
            actions = {n: int(episode.actions[n][step]) for n in env.agents}
            _, rewards, terms, truncs, _ = env.step(actions)
            for name in data.spec.agent_names:
                assert episode.rewards is not None and episode.terminated is not None
                assert episode.rewards[name][step] == np.float32(rewards[name])
                assert bool(episode.terminated[name][step]) == terms[name]
                cut = step == episode.length - 1  # max_steps marks the last step truncated
                assert bool(episode.truncated[name][step]) == (truncs[name] or cut)
    rewards = data[0].rewards
    assert rewards is not None
    # One value per agent, not a team value: the adversary's reward is not the good agents'.
    assert not torch.equal(rewards["adversary_0"], rewards["agent_0"])


def test_real_outcomes_round_trip_exactly_through_datasets_and_traces(
    tmp_path: Path, episodes_equal
) -> None:
    data = adversary_data()
    data.save(tmp_path / "dataset")
    loaded = load_dataset(tmp_path / "dataset")
    write_traces(loaded, tmp_path / "traces")
    from_traces = read_traces(tmp_path / "traces", spec=data.spec)
    inferred = read_traces(tmp_path / "traces", agents=data.spec.agent_names)
    for original, *copies in zip(data, loaded, from_traces, inferred, strict=True):
        for copy in copies:
            episodes_equal(original, copy)
    assert from_traces.has_rewards and from_traces.has_dones


def test_old_pair_traces_still_load_without_outcomes(tmp_path: Path, episodes_equal) -> None:
    data = adversary_data()
    write_traces(data, tmp_path, outcomes=False)
    assert [
        len(entry) for entry in json.loads((tmp_path / "joint_history_0.json").read_text())
    ] == [2] * 9
    loaded = read_traces(tmp_path, spec=data.spec)
    assert not loaded.has_rewards and not loaded.has_dones
    for original, copy in zip(data, loaded, strict=True):
        episodes_equal(Episode(obs=original.obs, actions=original.actions), copy)


def test_entries_with_rewards_only(tmp_path: Path, episodes_equal) -> None:
    path = tmp_path / "joint_history_0.json"
    path.write_text(json.dumps([[*OBS_ACTION, [0.5, 2.0]], [*OBS_ACTION, [0.0, 0.0]]]))
    episode = read_trace(path, SPEC)
    assert episode.rewards is not None and episode.terminated is None
    assert episode.rewards["agent_0"].tolist() == [0.5]
    assert episode.rewards["agent_1"].tolist() == [2.0]
    write_trace(tmp_path / "again.json", episode, SPEC)
    episodes_equal(episode, read_trace(tmp_path / "again.json", SPEC))


def test_flags_are_read_per_agent(tmp_path: Path) -> None:
    path = tmp_path / "joint_history_0.json"
    path.write_text(json.dumps([FULL_STEP, FULL_STEP]))
    episode = read_trace(path, SPEC)
    assert episode.truncated is not None and episode.terminated is not None
    assert episode.truncated["agent_1"].tolist() == [True]
    assert episode.truncated["agent_0"].tolist() == [False]
    assert episode.rewards is not None and episode.rewards["agent_1"].tolist() == [-1.0]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [FULL_STEP, OBS_ACTION],
            "step 1: expected a [joint observation, joint action, joint reward, joint terminated, "
            "joint truncated] entry like step 0; got a list of 2 items",
        ),
        (
            [FULL_STEP[:4], FULL_STEP[:4]],
            "step 0: expected a [joint observation, joint action] pair, optionally followed by "
            "the joint reward, or by the joint reward, joint terminated and joint truncated "
            "(2, 3 or 5 items); got a list of 4 items",
        ),
        (
            [[*OBS_ACTION, [0.5]], [*OBS_ACTION, [0.5]]],
            "step 0: joint reward has 1 agents; expected 2 (agent_0, agent_1)",
        ),
        (
            [[*OBS_ACTION, [0.5, "x"]], [*OBS_ACTION, [0.5, 1]]],
            "step 0: joint reward holds a str at index 1; expected numbers",
        ),
        (
            [[*OBS_ACTION, [0.5, 1e39]], [*OBS_ACTION, [0.5, 1]]],
            "step 0: joint reward contains 1e+39 at index 1; "
            "expected finite values within float32 range",
        ),
        (
            [FULL_STEP, [*OBS_ACTION, [0.0, 0.0], [0, False], [False, False]]],
            "step 1: joint terminated holds an int at index 0; expected true or false",
        ),
        (
            [FULL_STEP, [*OBS_ACTION, [0.0, 0.0], [False, False], "no"]],
            "step 1: joint truncated is a str; expected a list per agent",
        ),
    ],
)
def test_malformed_outcomes_name_file_step_and_part(
    tmp_path: Path, steps: list[Any], message: str
) -> None:
    path = tmp_path / "joint_history_0.json"
    path.write_text(json.dumps(steps))
    with pytest.raises(ContractError, match=f"^{re.escape(f'{path}, {message}')}$"):
        read_trace(path, SPEC)


def test_a_step_0_of_no_valid_size_names_every_layout_without_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "joint_history_0.json"
    path.write_text(json.dumps([FULL_STEP[:4], FULL_STEP[:4]]))
    with pytest.raises(
        ContractError,
        match=f"^{re.escape(str(path))}, step 0: expected "
        + re.escape(
            "a [joint observation, joint action] pair, optionally followed by the joint reward, "
            "or by the joint reward, joint terminated and joint truncated (2, 3 or 5 items); "
            "got a list of 4 items"
        )
        + "$",
    ):
        read_traces(tmp_path)
    path.write_text(json.dumps([[5, [1]], [5, [1]]]))
    with pytest.raises(
        ContractError,
        match=f"^{re.escape(str(path))}, step 0: "
        + re.escape("expected the joint observation and action as lists; got an int and a list")
        + "$",
    ):
        read_traces(tmp_path)


def test_flags_without_rewards_are_refused_not_dropped(tmp_path: Path) -> None:
    data = adversary_data()
    episode = data[0]
    flags_only = Episode(
        obs=episode.obs,
        actions=episode.actions,
        terminated=episode.terminated,
        truncated=episode.truncated,
    )
    path = tmp_path / "joint_history_0.json"
    with pytest.raises(
        ContractError,
        match="^"
        + re.escape(
            f"write_trace({path}): the episode records terminated/truncated flags but no "
            "rewards; a trace stores the flags only after the rewards (pass outcomes=False to "
            "write observations and actions alone)"
        )
        + "$",
    ):
        write_trace(path, flags_only, data.spec)
    assert not path.exists()
    write_trace(path, flags_only, data.spec, outcomes=False)
    assert read_trace(path, data.spec).terminated is None
