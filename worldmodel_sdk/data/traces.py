"""Trace files of the original multi-agent pipeline: one JSON file per episode.

A trace file holds a list of ``[joint_observation, joint_action]`` pairs, one per
step. ``joint_observation`` is a list with one observation (a list of numbers) per
agent, and ``joint_action`` a list with one action per agent: an integer for a
discrete agent, a list of numbers for a continuous one. Agents appear in natural
order; their names are not stored, so they come from a `DatasetSpec` or default to
``agent_0, agent_1, ...``. Files are named ``joint_history_<n>.json``.

A file with ``N`` pairs is an episode of ``T = N - 1`` steps: the last pair's
observation is the final observation, and its action (which has no observed
consequence) is checked but dropped. Writing adds that last pair with a zero action.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._jsonio import DEFAULT_MAX_JSON_BYTES, read_json
from ..errors import ContractError
from ..naming import natural_sorted
from .checks import check_episode
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

TRACE_PREFIX = "joint_history_"


def _a(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_FLOAT32_MAX = 3.4028234663852886e38
_SHORT_INT = 10**18


def _float32(value: int | float) -> float | None:
    """``value`` as a float if it is finite and within float32 range, else None.

    JSON integers are unbounded: ``float(10**400)`` raises ``OverflowError``.
    """
    if isinstance(value, int) and value.bit_length() > 128:  # past float32 range
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= _FLOAT32_MAX else None


def _show(value: object) -> str:
    """``repr(value)``, or a size description for integers too long to print usefully."""
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -_SHORT_INT < value < _SHORT_INT
    ):
        return f"a {value.bit_length()}-bit integer"
    return repr(value)


def _numbers(values: object, size: int, *, where: str, label: str) -> list[float]:
    if not isinstance(values, list):
        raise ContractError(f"{where}: {label} is {_a(values)}; expected a list of {size} numbers")
    if len(values) != size:
        raise ContractError(f"{where}: {label} has {len(values)} values; expected {size}")
    numbers = []
    for position, value in enumerate(values):
        if not _is_number(value):
            raise ContractError(
                f"{where}: {label} holds {_a(value)} at index {position}; expected numbers"
            )
        number = _float32(value)
        if number is None:
            raise ContractError(
                f"{where}: {label} contains {_show(value)} at index {position}; "
                "expected finite values within float32 range"
            )
        numbers.append(number)
    return numbers


def _discrete(value: object, agent: AgentSpec, *, where: str) -> int:
    label = f"action of agent {agent.name!r}"
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < agent.action_size:
            return value
    elif isinstance(value, float) and value.is_integer() and 0 <= value < agent.action_size:
        return int(value)
    raise ContractError(
        f"{where}: {label} is {_show(value)}; expected an integer in [0, {agent.action_size})"
    )


def _pair(entry: object, spec: DatasetSpec, *, where: str) -> tuple[list[object], list[object]]:
    if not isinstance(entry, list) or len(entry) != 2:
        got = f"a list of {len(entry)} items" if isinstance(entry, list) else f"{_a(entry)}"
        raise ContractError(
            f"{where}: expected a [joint observation, joint action] pair; got {got}"
        )
    names = ", ".join(spec.agent_names)
    for part, label in zip(entry, ("joint observation", "joint action"), strict=True):
        if not isinstance(part, list):
            raise ContractError(f"{where}: {label} is {_a(part)}; expected a list per agent")
        if len(part) != len(spec.agents):
            raise ContractError(
                f"{where}: {label} has {len(part)} agents; expected {len(spec.agents)} ({names})"
            )
    return entry[0], entry[1]


def _steps(raw: object, path: Path) -> list[object]:
    if not isinstance(raw, list) or not raw:
        got = "an empty list" if raw == [] else f"{_a(raw)}"
        raise ContractError(
            f"{path}: expected a non-empty list of [joint observation, joint action] pairs; "
            f"got {got}"
        )
    return raw


def _episode(raw: object, spec: DatasetSpec, path: Path) -> Episode:
    steps = _steps(raw, path)
    obs: dict[str, list[list[float]]] = {name: [] for name in spec.agent_names}
    actions: dict[str, list[Any]] = {name: [] for name in spec.agent_names}
    for step, entry in enumerate(steps):
        where = f"{path}, step {step}"
        joint_obs, joint_action = _pair(entry, spec, where=where)
        for agent, agent_obs, action in zip(spec.agents, joint_obs, joint_action, strict=True):
            label = f"observation of agent {agent.name!r}"
            obs[agent.name].append(_numbers(agent_obs, agent.obs_size, where=where, label=label))
            if agent.action_kind == "discrete":
                actions[agent.name].append(_discrete(action, agent, where=where))
            else:
                label = f"action of agent {agent.name!r}"
                actions[agent.name].append(
                    _numbers(action, agent.action_size, where=where, label=label)
                )
    return Episode(
        obs={name: torch.tensor(values, dtype=torch.float32) for name, values in obs.items()},
        actions={
            agent.name: _action_tensor(actions[agent.name][:-1], agent) for agent in spec.agents
        },
    )


def _action_tensor(values: list[Any], agent: AgentSpec) -> torch.Tensor:
    if agent.action_kind == "discrete":
        return torch.tensor(values, dtype=torch.int64).reshape(len(values))
    return torch.tensor(values, dtype=torch.float32).reshape(len(values), agent.action_size)


def read_trace(
    path: str | Path, spec: DatasetSpec, *, max_bytes: int = DEFAULT_MAX_JSON_BYTES
) -> Episode:
    """Read one trace file as an `Episode` (without rewards or done flags).

    Args:
        path: A ``joint_history_<n>.json`` file.
        spec: The agents, in the order the file lists them, with their sizes.
        max_bytes: Refuse files larger than this.

    Raises:
        SerializationError: if the file is not UTF-8 JSON or is too large.
        ContractError: on a ragged or malformed entry, naming the file and the step,
            e.g. ``"<file>, step 4: observation of agent 'agent_1' has 17 values; expected 18"``.
    """
    file = Path(path)
    return _episode(read_json(file, max_bytes=max_bytes), spec, file)


def _agent_names(count: int, agents: Sequence[str] | None, where: str) -> list[str]:
    if agents is None:
        return [f"agent_{index}" for index in range(count)]
    names = list(agents)
    if len(names) != count:
        raise ContractError(
            f"{where}: joint observation has {count} agents; "
            f"expected {len(names)} ({', '.join(names)})"
        )
    if names != natural_sorted(names):
        raise ContractError(
            f"read_traces: agents must be in natural order {natural_sorted(names)}; got {names}"
        )
    return names


_MAX_INFERRED_ACTIONS = 2**31


def _max_discrete(raws: Sequence[tuple[Path, object]], position: int, name: str) -> int:
    largest = 0
    for path, raw in raws:
        for step, entry in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list):
                value = entry[1][position] if position < len(entry[1]) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    if value >= _MAX_INFERRED_ACTIONS:
                        raise ContractError(
                            f"{path}, step {step}: action of agent {name!r} is {_show(value)}; "
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
        agents: Agent names in natural order; default ``agent_0, agent_1, ...``.

    Raises:
        ContractError: naming the file and step 0 if the first step cannot be read.
    """
    if not raws:
        raise ContractError("read_traces: no trace files to infer a spec from")
    path, raw = raws[0]
    where = f"{path}, step 0"
    first = _steps(raw, path)[0]
    if not (
        isinstance(first, list) and len(first) == 2 and all(isinstance(p, list) for p in first)
    ):
        raise ContractError(f"{where}: expected a [joint observation, joint action] pair of lists")
    joint_obs, joint_action = first
    names = _agent_names(len(joint_obs), agents, where)
    if len(joint_action) != len(names):
        raise ContractError(
            f"{where}: joint action has {len(joint_action)} agents; expected {len(names)}"
        )
    specs = [
        _infer_agent(name, joint_obs[i], joint_action[i], _max_discrete(raws, i, name), where)
        for i, name in enumerate(names)
    ]
    return DatasetSpec(agents=tuple(specs))


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
        agents: Agent names used when inferring the spec.
        max_bytes: Refuse any file larger than this.

    Raises:
        ContractError: if there are no trace files, or on a malformed entry (naming file and step).
        SerializationError: on a file that is not UTF-8 JSON or is too large.
    """
    paths = trace_files(directory)
    if not paths:
        raise ContractError(f"{directory}: no {TRACE_PREFIX}*.json files found")
    raws = [(path, read_json(path, max_bytes=max_bytes)) for path in paths]
    spec = spec if spec is not None else infer_trace_spec(raws, agents=agents)
    episodes = [_episode(raw, spec, path) for path, raw in raws]
    return EpisodeDataset(spec, episodes, meta={"source": "traces"})


def _trace_action(episode: Episode, agent: AgentSpec, step: int) -> object:
    if step == episode.length:  # the final observation has no recorded action
        return 0 if agent.action_kind == "discrete" else [0.0] * agent.action_size
    value: object = episode.actions[agent.name][step].tolist()
    return value


def trace_pairs(episode: Episode, spec: DatasetSpec) -> list[list[list[object]]]:
    """The ``[joint observation, joint action]`` pairs of an episode, ready for JSON."""
    obs = {name: episode.obs[name].tolist() for name in spec.agent_names}
    return [
        [
            [obs[agent.name][step] for agent in spec.agents],
            [_trace_action(episode, agent, step) for agent in spec.agents],
        ]
        for step in range(episode.length + 1)
    ]


def write_trace(path: str | Path, episode: Episode, spec: DatasetSpec) -> Path:
    """Write one episode as a trace file (``T + 1`` pairs; the last action is a zero filler).

    Raises:
        ContractError: if the episode does not match the spec.
    """
    check_episode(episode, spec, where=f"write_trace({path})")
    file = Path(path)
    file.write_text(json.dumps(trace_pairs(episode, spec), allow_nan=False), encoding="utf-8")
    return file


def write_traces(dataset: EpisodeDataset, directory: str | Path, *, start: int = 0) -> list[Path]:
    """Write each episode as ``joint_history_<start + i>.json`` in ``directory``.

    Returns:
        The written paths, in episode order.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    return [
        write_trace(root / f"{TRACE_PREFIX}{start + index}.json", episode, dataset.spec)
        for index, episode in enumerate(dataset)
    ]
