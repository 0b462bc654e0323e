"""Trace files of the original multi-agent pipeline: one JSON file per episode.

A trace file holds a list of ``[joint_observation, joint_action]`` pairs, one per
step; entries may go on with the step's per-agent rewards,
``[..., joint_reward]``, and then its per-agent done flags,
``[..., joint_reward, joint_terminated, joint_truncated]`` (every entry of a file
has as many items as its first). ``joint_observation`` is a list with one
observation (a list of numbers) per agent, and ``joint_action`` a list with one
action per agent: an integer for a discrete agent, a list of numbers for a
continuous one. Agents appear in natural order unless the reader is told the
file's order (``agents=``, e.g. an environment's ``possible_agents``); their names
are not stored, so they come from a `DatasetSpec` or default to
``agent_0, agent_1, ...``. Files are named ``joint_history_<n>.json``.

A file with ``N`` pairs is an episode of ``T = N - 1`` steps: the last pair's
observation is the final observation, and its action (which has no observed
consequence) is checked but dropped, as are its reward and flags. Writing adds that
last entry with a zero action, zero rewards and false flags.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeGuard

from .._jsonio import DEFAULT_MAX_JSON_BYTES
from ..errors import ContractError
from ..naming import natural_sorted
from ._trace_episode import (
    ANY_ENTRY,
    ENTRY_SIZES,
    INFER_FIRST_STEP,
    described,
    episode_from_steps,
    show,
    step_limits,
    whole_steps,
)
from ._trace_stream import StepLimits, a, iter_steps, read_text
from ._trace_write import TRACE_PREFIX, trace_pairs, write_trace, write_traces
from .dataset import EpisodeDataset
from .episode import Episode
from .spec import AgentSpec, DatasetSpec

__all__ = [
    "TRACE_PREFIX",
    "infer_trace_spec",
    "trace_files",
    "trace_pairs",
    "read_trace",
    "read_traces",
    "write_trace",
    "write_traces",
]


def read_trace(
    path: str | Path,
    spec: DatasetSpec,
    *,
    agents: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
) -> Episode:
    """Read one trace file as an `Episode` (with rewards and done flags if it stores them).

    Args:
        path: A ``joint_history_<n>.json`` file.
        spec: The agents with their sizes.
        agents: The agents in the order the file lists them (default: natural order).
        max_bytes: Refuse files larger than this.

    Raises:
        SerializationError: if the file is not UTF-8 JSON or is too large.
        ContractError: on a ragged or malformed entry, naming the file and the step,
            e.g. ``"<file>, step 4: observation of agent 'agent_1' has 17 values; expected 18"``.
    """
    file = Path(path)
    listed = _listed(spec, agents)
    steps = iter_steps(read_text(file, max_bytes), file, step_limits(listed))
    return episode_from_steps(_order_checked(steps, listed, file), listed, file)


def _listed(spec: DatasetSpec, agents: Sequence[str] | None) -> DatasetSpec:
    """``spec``'s agents in the order the files list them (for parsing only)."""
    if agents is None:
        return spec
    if sorted(agents) != sorted(spec.agent_names) or len(set(agents)) != len(agents):
        raise ContractError(
            f"read_traces: agents {list(agents)} (the files' order) are not the spec's agents "
            f"{list(spec.agent_names)} in some order"
        )
    return _file_order_spec(tuple(spec.agent(name) for name in agents))


def _file_order_spec(agents: tuple[AgentSpec, ...]) -> DatasetSpec:
    """A spec whose agents keep a file's order; it only drives parsing, never a dataset."""
    return DatasetSpec.model_construct(agents=agents)


def _order_checked(steps: Iterator[object], listed: DatasetSpec, path: Path) -> Iterator[object]:
    """``steps``, after naming the order problem if step 0's sizes are a reordering."""
    first = next(steps, None)
    if first is None:
        return
    if isinstance(first, list) and len(first) in ENTRY_SIZES and isinstance(first[0], list):
        got = [len(o) if isinstance(o, list) else -1 for o in first[0]]
        expected = [agent.obs_size for agent in listed.agents]
        if got != expected and sorted(got) == sorted(expected):
            raise ContractError(
                f"{path}, step 0: observation sizes {got} do not match the agents "
                f"{list(listed.agent_names)} (sizes {expected}) but are a reordering of them: "
                "the file lists the agents in another order; pass agents= in the file's order "
                "(e.g. the environment's possible_agents)"
            )
    yield first
    yield from steps


def _agent_names(count: int, agents: Sequence[str] | None, where: str) -> list[str]:
    if agents is None:
        return [f"agent_{index}" for index in range(count)]
    names = list(agents)
    if len(names) != count:
        raise ContractError(
            f"{where}: joint observation has {count} agents; "
            f"expected {len(names)} ({', '.join(names)})"
        )
    if len(set(names)) != len(names):
        raise ContractError(f"read_traces: agent names must be unique; got {names}")
    return names


_MAX_INFERRED_ACTIONS = 2**31


def _leading_lists(entry: object) -> TypeGuard[list[list[object]]]:
    """Whether a step is a list of 2, 3 or 5 items whose first two are lists."""
    return (
        isinstance(entry, list)
        and len(entry) in ENTRY_SIZES
        and all(isinstance(part, list) for part in entry[:2])
    )


def _not_an_entry(entry: object, where: str) -> ContractError:
    """The error for a step 0 that `_leading_lists` refuses."""
    if isinstance(entry, list) and len(entry) in ENTRY_SIZES:
        got = f"{a(entry[0])} and {a(entry[1])}"
        return ContractError(
            f"{where}: expected the joint observation and action as lists; got {got}"
        )
    return ContractError(f"{where}: expected {ANY_ENTRY}; got {described(entry)}")


def _max_discrete(raws: Sequence[tuple[Path, object]], position: int, name: str) -> int:
    largest = 0
    for path, raw in raws:
        for step, entry in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(entry, list) and len(entry) in ENTRY_SIZES and isinstance(entry[1], list):
                value = entry[1][position] if position < len(entry[1]) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    if value >= _MAX_INFERRED_ACTIONS:
                        raise ContractError(
                            f"{path}, step {step}: action of agent {name!r} is {show(value)}; "
                            f"expected an integer below {_MAX_INFERRED_ACTIONS} to infer the "
                            "number of actions (pass spec= to read it as it is)"
                        )
                    largest = max(largest, value)
    return largest + 1


def _infer_agent(name: str, obs: object, action: object, n: int, where: str) -> AgentSpec:
    if not isinstance(obs, list) or not obs:
        raise ContractError(
            f"{where}: observation of agent {name!r} must be a non-empty list of numbers"
        )
    if isinstance(action, int) and not isinstance(action, bool):
        return AgentSpec(name=name, obs_size=len(obs), action_kind="discrete", action_size=n)
    if isinstance(action, list) and action:
        return AgentSpec(
            name=name, obs_size=len(obs), action_kind="continuous", action_size=len(action)
        )
    raise ContractError(
        f"{where}: action of agent {name!r} is {action!r}; expected an integer (discrete) or a "
        "list of numbers (continuous); pass spec= to read ambiguous traces"
    )


def infer_trace_spec(
    raws: Sequence[tuple[Path, object]], *, agents: Sequence[str] | None = None
) -> DatasetSpec:
    """Infer the agents' sizes from decoded trace files (the first step of the first file).

    Discrete agents get ``n = 1 + the largest action seen`` in any file; pass an explicit
    `DatasetSpec` to `read_traces` when the true ``n`` may be larger.

    Args:
        raws: ``(path, decoded JSON)`` of each file, in order.
        agents: Agent names in the order the files list them; default
            ``agent_0, agent_1, ...``. The spec holds them in natural order.

    Raises:
        ContractError: naming the file and step 0 if the first step cannot be read.
    """
    if not raws:
        raise ContractError("read_traces: no trace files to infer a spec from")
    path, raw = raws[0]
    where = f"{path}, step 0"
    first = whole_steps(raw, path)[0]
    if not _leading_lists(first):
        raise _not_an_entry(first, where)
    joint_obs, joint_action = first[0], first[1]
    names = _agent_names(len(joint_obs), agents, where)
    if len(joint_action) != len(names):
        raise ContractError(
            f"{where}: joint action has {len(joint_action)} agents; expected {len(names)}"
        )
    specs = [
        _infer_agent(name, joint_obs[i], joint_action[i], _max_discrete(raws, i, name), where)
        for i, name in enumerate(names)
    ]
    return DatasetSpec.from_agents(specs)


def trace_files(directory: str | Path) -> list[Path]:
    """The ``joint_history_*.json`` files of a directory, in natural order of their names."""
    root = Path(directory)
    names = [path.name for path in root.glob(f"{TRACE_PREFIX}*.json") if path.is_file()]
    return [root / name for name in natural_sorted(names)]


def read_traces(
    directory: str | Path,
    *,
    spec: DatasetSpec | None = None,
    agents: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
) -> EpisodeDataset:
    """Read every ``joint_history_*.json`` file of a directory as an `EpisodeDataset`.

    Files are read in natural order (``joint_history_2`` before ``joint_history_10``);
    episodes may differ in length.

    Args:
        directory: The traces directory.
        spec: The agents and sizes; inferred from the files when omitted.
        agents: Agent names in the order the files list them (e.g. the environment's
            ``possible_agents``, which need not be natural order); default: the spec's
            natural order, or ``agent_0, agent_1, ...`` when inferring. The dataset
            always holds its agents in natural order.
        max_bytes: Refuse any file larger than this.

    Raises:
        ContractError: if there are no trace files, or on a malformed entry (naming file and step).
        SerializationError: on a file that is not UTF-8 JSON or is too large.
    """
    paths = trace_files(directory)
    if not paths:
        raise ContractError(f"{directory}: no {TRACE_PREFIX}*.json files found")
    if spec is not None:
        episodes = [read_trace(path, spec, agents=agents, max_bytes=max_bytes) for path in paths]
        return EpisodeDataset(spec, episodes, meta={"source": "traces"})
    return _read_inferring(paths, agents, max_bytes)


def _read_inferring(
    paths: list[Path], agents: Sequence[str] | None, max_bytes: int
) -> EpisodeDataset:
    """Infer the spec from step 0 of the first file, then read every file in one pass.

    Discrete agents are read with a provisional ``n`` of 2**31; the dataset's ``n`` is
    1 + the largest action seen, the last pair's action included.
    """
    provisional: DatasetSpec | None = None
    episodes: list[Episode] = []
    largest: dict[str, int] = {}

    def limits(step: int) -> StepLimits:
        return INFER_FIRST_STEP if provisional is None else step_limits(provisional)(step)

    for path in paths:
        steps = iter_steps(read_text(path, max_bytes), path, limits)
        if provisional is None:
            step0 = next(steps)
            provisional = _provisional_spec(step0, path, agents)
            steps = itertools.chain([step0], steps)
        episode, seen = _episode_with_last_actions(steps, provisional, path)
        episodes.append(episode)
        for name, value in seen.items():
            largest[name] = max(largest.get(name, 0), value)
    assert provisional is not None
    spec = DatasetSpec.from_agents(
        agent.model_copy(update={"action_size": largest[agent.name] + 1})
        if agent.action_kind == "discrete"
        else agent
        for agent in provisional.agents
    )
    return EpisodeDataset(spec, episodes, meta={"source": "traces"})


def _provisional_spec(step0: object, path: Path, agents: Sequence[str] | None) -> DatasetSpec:
    where = f"{path}, step 0"
    if not _leading_lists(step0):
        raise _not_an_entry(step0, where)
    joint_obs, joint_action = step0[0], step0[1]
    names = _agent_names(len(joint_obs), agents, where)
    if len(joint_action) != len(names):
        raise ContractError(
            f"{where}: joint action has {len(joint_action)} agents; expected {len(names)}"
        )
    n = _MAX_INFERRED_ACTIONS
    return _file_order_spec(
        tuple(
            _infer_agent(name, joint_obs[i], joint_action[i], n, where)
            for i, name in enumerate(names)
        )
    )


def _episode_with_last_actions(
    steps: Iterable[object], spec: DatasetSpec, path: Path
) -> tuple[Episode, dict[str, int]]:
    """The episode, and the largest discrete action of each agent (last pair included)."""
    largest: dict[str, int] = {}

    def watched() -> Iterator[object]:
        for entry in steps:
            yield entry
            # _episode has checked this step: its discrete actions are in range.
            for agent, action in zip(spec.agents, entry[1], strict=True):  # type: ignore[index]
                if agent.action_kind == "discrete":
                    value = int(action)
                    largest[agent.name] = max(largest.get(agent.name, 0), value)

    return episode_from_steps(watched(), spec, path, inferring=True), largest
