"""Read a palaestrAI run store (its sqlite database) into an `EpisodeDataset`.

palaestrAI's store records, for every agent, one ``muscle_actions`` row per step:
the sensor readings the agent acted on, its actuator setpoints, the rewards and its
objective value that followed, and the ``done`` / ``terminated`` / ``truncated``
flags of the step; and, for every environment update, a ``world_states`` row whose
state dump holds every sensor after the update. `read_run_store` rebuilds each
agent's episodes from them: observations are the agent's sensor values in the
order the agent lists them, the observation after the last step comes from the
episode's last world state, and the reward is the agent's objective (or one
environment reward chosen by uid).

The store is read with Python's own ``sqlite3``; its JSON columns are parsed as
plain JSON (palaestrAI writes them with jsonpickle; nothing is unpickled), so this
module needs neither palaestrAI nor an extra.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.dataset import EpisodeDataset
from ..data.episode import Episode
from ..data.spec import AgentSpec, DatasetSpec
from ..errors import ContractError, SerializationError

__all__ = ["read_run_store"]

_STEPS = """
SELECT a.name, ma.episode, ma.sensor_readings, ma.actuator_setpoints, ma.rewards,
       ma.objective, ma.done, ma.terminated, ma.truncated, p.id
FROM muscle_actions ma
JOIN agents a ON ma.agent_id = a.id
JOIN experiment_run_phases p ON a.experiment_run_phase_id = p.id
JOIN experiment_run_instances i ON p.experiment_run_instance_id = i.id
JOIN experiment_runs r ON i.experiment_run_id = r.id
WHERE (? IS NULL OR r.uid = ?) AND (? IS NULL OR p.number = ?)
ORDER BY ma.id
"""
_LAST_STATES = """
SELECT w.episode, w.state_dump, e.experiment_run_phase_id
FROM world_states w JOIN environments e ON w.environment_id = e.id
ORDER BY w.id
"""
_DISCRETE = re.compile(r"^Discrete\((\d+)")


def _records(text: str | None, where: str) -> list[dict[str, Any]]:
    """``[{"uid", "value", "space"}]`` of a jsonpickled list of palaestrAI information objects."""
    try:
        items = json.loads(text or "[]")
        return [dict(item["py/state"]) for item in items]
    except (ValueError, TypeError, KeyError):
        raise SerializationError(
            f"{where}: expected a JSON list of palaestrAI information objects"
        ) from None


def _numbers(value: Any, where: str) -> list[float]:
    """A stored value (a number, a list, or a jsonpickled NumPy scalar or array) as floats."""
    if isinstance(value, bool) or value is None:
        raise SerializationError(f"{where}: value {value!r} is not a number")
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        return [x for item in value for x in _numbers(item, where)]
    if isinstance(value, dict):
        for key in ("value", "values"):
            if key in value:
                return _numbers(value[key], where)
    raise SerializationError(f"{where}: cannot read the stored value {value!r} as numbers")


class _Run:
    """One agent's steps in one episode, as read."""

    def __init__(self) -> None:
        self.obs: list[list[float]] = []
        self.actions: list[list[float]] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []
        self.sensor_uids: list[str] = []
        self.action_space = ""


def _reward(row: Sequence[Any], reward: str, where: str) -> float:
    if reward == "objective":
        return float(row[5])
    for record in _records(row[4], f"{where} rewards"):
        if record.get("uid") == reward:
            return _numbers(record.get("value"), where)[0]
    raise ContractError(f"{where}: no reward with uid {reward!r}")


def _read_steps(
    connection: sqlite3.Connection, run: str | None, phase: int | None, reward: str
) -> dict[tuple[int, int, str], _Run]:
    runs: dict[tuple[int, int, str], _Run] = {}
    for row in connection.execute(_STEPS, (run, run, phase, phase)):
        name, episode, phase_id = str(row[0]), int(row[1]), int(row[9])
        where = f"agent {name!r}, episode {episode}"
        step = runs.setdefault((phase_id, episode, name), _Run())
        sensors = _records(row[2], f"{where} sensor_readings")
        actuators = _records(row[3], f"{where} actuator_setpoints")
        step.sensor_uids = [str(s["uid"]) for s in sensors]
        step.obs.append([x for s in sensors for x in _numbers(s.get("value"), where)])
        step.actions.append([x for a in actuators for x in _numbers(a.get("value"), where)])
        step.action_space = str(actuators[0].get("space", "")) if len(actuators) == 1 else ""
        step.rewards.append(_reward(row, reward, where))
        done = bool(row[6])
        step.terminated.append(bool(row[7]) if row[7] is not None else done)
        step.truncated.append(bool(row[8]) if row[8] is not None else False)
    return runs


def _last_states(connection: sqlite3.Connection) -> dict[tuple[int, int], dict[str, list[float]]]:
    last: dict[tuple[int, int], dict[str, list[float]]] = {}
    for episode, dump, phase_id in connection.execute(_LAST_STATES):
        where = f"world state of episode {episode}"
        last[(int(phase_id), int(episode))] = {
            str(s["uid"]): _numbers(s.get("value"), where) for s in _records(dump, where)
        }
    return last


def _agent_spec(name: str, run: _Run) -> AgentSpec:
    match = _DISCRETE.match(run.action_space)
    if match is not None:
        return AgentSpec(
            name=name, obs_size=len(run.obs[0]), action_kind="discrete",
            action_size=int(match.group(1)),
        )  # fmt: skip
    return AgentSpec(
        name=name, obs_size=len(run.obs[0]), action_kind="continuous",
        action_size=len(run.actions[0]),
    )  # fmt: skip


def _episode(specs: Mapping[str, AgentSpec], runs: Mapping[str, _Run], final: Any) -> Episode:
    obs, actions = {}, {}
    for name, run in runs.items():
        where = f"agent {name!r}"
        missing = [uid for uid in run.sensor_uids if uid not in final]
        if missing:
            raise ContractError(f"{where}: the last world state has no sensor {missing[0]!r}")
        last = [x for uid in run.sensor_uids for x in final[uid]]
        obs[name] = torch.tensor(np.asarray([*run.obs, last], dtype=np.float32))
        if specs[name].action_kind == "discrete":
            actions[name] = torch.tensor([int(a[0]) for a in run.actions], dtype=torch.int64)
        else:
            actions[name] = torch.tensor(np.asarray(run.actions, dtype=np.float32))
    return Episode(
        obs=obs,
        actions=actions,
        rewards={n: torch.tensor(r.rewards, dtype=torch.float32) for n, r in runs.items()},
        terminated={n: torch.tensor(r.terminated, dtype=torch.bool) for n, r in runs.items()},
        truncated={n: torch.tensor(r.truncated, dtype=torch.bool) for n, r in runs.items()},
    )


def read_run_store(
    database: str | Path,
    *,
    experiment_run: str | None = None,
    phase: int | None = None,
    reward: str = "objective",
) -> EpisodeDataset:
    """Rebuild every agent's episodes from a palaestrAI sqlite store.

    Args:
        database: Path of the sqlite file (the ``store_uri`` of palaestrAI's runtime
            configuration, without ``sqlite:///``).
        experiment_run: Only this experiment run (its uid); default all.
        phase: Only this phase (its number, from 0); default all.
        reward: ``"objective"`` (each agent's objective value) or the uid of an
            environment reward (e.g. ``"agent_2.reward"``), taken for every agent.

    Returns:
        One dataset agent per palaestrAI agent (natural order), one episode per
        phase and episode number.

    Raises:
        ContractError: if nothing matches, or agents' steps do not line up.
        SerializationError: if a stored value cannot be read as numbers.
    """
    path = Path(database)
    if not path.is_file():
        raise ContractError(f"read_run_store: no sqlite store at {str(path)!r}")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        runs = _read_steps(connection, experiment_run, phase, reward)
        finals = _last_states(connection)
    if not runs:
        raise ContractError(
            f"read_run_store: no muscle actions for experiment_run={experiment_run!r}, "
            f"phase={phase!r} in {str(path)!r}"
        )
    keys = sorted({(phase_id, episode) for phase_id, episode, _ in runs})
    first = {name: run for (p, e, name), run in runs.items() if (p, e) == keys[0]}
    spec = DatasetSpec.from_agents(_agent_spec(name, run) for name, run in first.items())
    specs = {agent.name: agent for agent in spec.agents}
    episodes = []
    for key in keys:
        by_agent = {name: run for (p, e, name), run in runs.items() if (p, e) == key}
        lengths = {name: len(run.obs) for name, run in by_agent.items()}
        if len(set(lengths.values())) != 1 or set(by_agent) != set(specs):
            raise ContractError(
                f"read_run_store: episode {key[1]} of phase row {key[0]} has steps per agent "
                f"{lengths}; expected the same steps for {list(specs)}"
            )
        if key not in finals:
            raise ContractError(f"read_run_store: episode {key[1]} has no world state")
        ordered = {name: by_agent[name] for name in spec.agent_names}
        episodes.append(_episode(specs, ordered, finals[key]))
    return EpisodeDataset(spec, episodes, meta={"source": "palaestrai", "store": str(path)})
