"""Writing trace files: an episode as ``[observation, action, ...]`` entries, in JSON."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ContractError
from .checks import check_episode
from .dataset import EpisodeDataset
from .episode import Episode
from .spec import AgentSpec, DatasetSpec

__all__ = ["TRACE_PREFIX", "trace_pairs", "write_trace", "write_traces"]

TRACE_PREFIX = "joint_history_"


def _trace_action(episode: Episode, agent: AgentSpec, step: int) -> object:
    if step == episode.length:  # the final observation has no recorded action
        return 0 if agent.action_kind == "discrete" else [0.0] * agent.action_size
    value: object = episode.actions[agent.name][step].tolist()
    return value


def _outcome_fields(episode: Episode, outcomes: bool, where: str) -> tuple[str, ...]:
    """The optional fields a trace of ``episode`` stores, in entry order."""
    if not outcomes or episode.rewards is None:
        if outcomes and episode.terminated is not None:
            raise ContractError(
                f"{where}: the episode records terminated/truncated flags but no rewards; a "
                "trace stores the flags only after the rewards (pass outcomes=False to write "
                "observations and actions alone)"
            )
        return ()
    return ("rewards",) if episode.terminated is None else ("rewards", "terminated", "truncated")


def trace_pairs(
    episode: Episode, spec: DatasetSpec, *, outcomes: bool = True
) -> list[list[list[object]]]:
    """The entries of an episode's trace file, ready for JSON.

    Each entry is ``[joint observation, joint action]``, followed (with ``outcomes``,
    when the episode records them) by the joint reward and then the joint terminated
    and truncated flags of the step the action led to. The final entry's action,
    reward and flags are fillers (zeros, ``false``).

    Raises:
        ContractError: if ``outcomes`` and the episode records done flags without rewards.
    """
    fields = _outcome_fields(episode, outcomes, "trace_pairs")
    obs = {name: episode.obs[name].tolist() for name in spec.agent_names}
    recorded = {f: getattr(episode, f) for f in fields}
    values = {f: {n: recorded[f][n].tolist() for n in spec.agent_names} for f in fields}
    filler: dict[str, object] = {"rewards": 0.0, "terminated": False, "truncated": False}

    def outcome(field: str, step: int) -> list[object]:
        if step == episode.length:
            return [filler[field]] * len(spec.agents)
        return [values[field][name][step] for name in spec.agent_names]

    return [
        [
            [obs[agent.name][step] for agent in spec.agents],
            [_trace_action(episode, agent, step) for agent in spec.agents],
            *(outcome(field, step) for field in fields),
        ]
        for step in range(episode.length + 1)
    ]


def write_trace(
    path: str | Path, episode: Episode, spec: DatasetSpec, *, outcomes: bool = True
) -> Path:
    """Write one episode as a trace file (``T + 1`` entries; the last action is a zero filler).

    Args:
        path: The file to write.
        episode: The episode.
        spec: Its agents.
        outcomes: Store the rewards and done flags the episode records (entries of 3
            or 5 items); ``False`` writes the original ``[observation, action]`` pairs.

    Raises:
        ContractError: if the episode does not match the spec, or records done flags
            without rewards while ``outcomes`` is true.
    """
    check_episode(episode, spec, where=f"write_trace({path})")
    _outcome_fields(episode, outcomes, f"write_trace({path})")
    file = Path(path)
    entries = trace_pairs(episode, spec, outcomes=outcomes)
    file.write_text(json.dumps(entries, allow_nan=False), encoding="utf-8")
    return file


def write_traces(
    dataset: EpisodeDataset, directory: str | Path, *, start: int = 0, outcomes: bool = True
) -> list[Path]:
    """Write each episode as ``joint_history_<start + i>.json`` in ``directory``.

    ``outcomes`` is passed to `write_trace`.

    Returns:
        The written paths, in episode order.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    return [
        write_trace(
            root / f"{TRACE_PREFIX}{start + index}.json", episode, dataset.spec, outcomes=outcomes
        )
        for index, episode in enumerate(dataset)
    ]
