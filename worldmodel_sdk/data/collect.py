"""Collect episodes from a PettingZoo parallel env or a Gymnasium env with a joint policy.

Seeds are explicit: episode ``i`` starts with ``env.reset(seed=seed + i)`` and the
default `RandomJointPolicy` is seeded with ``seed``, so the same call collects the
same data. An episode ends at the first step where any agent terminates or is
truncated (so every agent has a value at every step), or after ``max_steps`` steps,
which counts as a truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ContractError
from .checks import check_agent_names, check_step_observations
from .dataset import EpisodeDataset
from .episode import Episode
from .policies import JointPolicy, RandomJointPolicy
from .spaces import action_from_env, action_to_env, agent_spec_from_spaces, flatten_observation
from .spec import DatasetSpec

__all__ = [
    "StepResult",
    "collect_gym",
    "collect_parallel",
    "spec_from_gym_env",
    "spec_from_parallel_env",
]

StepResult = tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class _EnvAdapter:
    """One shape for both env APIs: dict observations, rewards and flags per agent."""

    reset: Callable[[int], Mapping[str, Any]]
    step: Callable[[dict[str, Any]], StepResult]
    obs_spaces: Mapping[str, Any]
    action_spaces: Mapping[str, Any]


@dataclass(slots=True)
class _Recorder:
    """Per-agent lists of one episode's values, turned into an `Episode` at the end."""

    names: tuple[str, ...]
    obs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    actions: dict[str, list[Any]] = field(default_factory=dict)
    rewards: dict[str, list[float]] = field(default_factory=dict)
    terminated: dict[str, list[bool]] = field(default_factory=dict)
    truncated: dict[str, list[bool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for store in (self.obs, self.actions, self.rewards, self.terminated, self.truncated):
            store.update({name: [] for name in self.names})

    def episode(self, spec: DatasetSpec) -> Episode:
        def actions(name: str) -> torch.Tensor:
            if spec.agent(name).action_kind == "discrete":
                return torch.tensor(self.actions[name], dtype=torch.int64)
            flat = np.stack(self.actions[name]) if self.actions[name] else np.zeros((0, 1))
            return torch.from_numpy(flat.astype(np.float32).reshape(len(self.actions[name]), -1))

        return Episode(
            obs={n: torch.from_numpy(np.stack(self.obs[n])) for n in self.names},
            actions={n: actions(n) for n in self.names},
            rewards={n: torch.tensor(self.rewards[n], dtype=torch.float32) for n in self.names},
            terminated={n: torch.tensor(self.terminated[n], dtype=torch.bool) for n in self.names},
            truncated={n: torch.tensor(self.truncated[n], dtype=torch.bool) for n in self.names},
        )


def spec_from_parallel_env(env: Any) -> DatasetSpec:
    """Describe a PettingZoo parallel env's ``possible_agents`` (naturally sorted)."""
    return DatasetSpec.from_agents(
        agent_spec_from_spaces(name, env.observation_space(name), env.action_space(name))
        for name in env.possible_agents
    )


def spec_from_gym_env(env: Any, *, agent: str = "agent") -> DatasetSpec:
    """Describe a Gymnasium env as a single agent called ``agent``."""
    return DatasetSpec.from_agents(
        [agent_spec_from_spaces(agent, env.observation_space, env.action_space)]
    )


def _observe(
    raw: Mapping[str, Any], spaces: Mapping[str, Any], spec: DatasetSpec, where: str
) -> dict[str, np.ndarray]:
    check_agent_names(raw, spec, where=where, key="observation")
    flat = {name: flatten_observation(spaces[name], raw[name]) for name in spec.agent_names}
    check_step_observations(flat, spec, where=where)
    return flat


def _per_agent(values: Mapping[str, Any], name: str, key: str, where: str) -> Any:
    if name not in values:
        raise ContractError(f"{where}: {key} has no entry for agent {name!r}")
    return values[name]


def _act(
    env: _EnvAdapter, spec: DatasetSpec, record: _Recorder, chosen: Mapping[str, Any], where: str
) -> dict[str, Any]:
    check_agent_names(chosen, spec, where=where, key="policy actions")
    env_actions = {}
    for agent in spec.agents:
        space = env.action_spaces[agent.name]
        stored = action_from_env(agent, space, chosen[agent.name], where=where)
        record.actions[agent.name].append(stored)
        env_actions[agent.name] = action_to_env(agent, space, stored)
    return env_actions


def _run_episode(
    env: _EnvAdapter,
    spec: DatasetSpec,
    policy: JointPolicy,
    *,
    seed: int,
    max_steps: int | None,
    label: str,
) -> Episode:
    names, record = spec.agent_names, _Recorder(spec.agent_names)
    obs = _observe(env.reset(seed), env.obs_spaces, spec, f"{label}, reset")
    for t in range(max_steps if max_steps is not None else 2**62):
        where = f"{label}, step {t}"
        for name in names:
            record.obs[name].append(obs[name])
        raw, rewards, terms, truncs = env.step(_act(env, spec, record, policy(obs), where))
        for name in names:
            record.rewards[name].append(float(_per_agent(rewards, name, "rewards", where)))
            record.terminated[name].append(bool(_per_agent(terms, name, "terminations", where)))
            record.truncated[name].append(bool(_per_agent(truncs, name, "truncations", where)))
        obs = _observe(raw, env.obs_spaces, spec, where)
        if any(record.terminated[n][-1] or record.truncated[n][-1] for n in names):
            break
    else:
        for name in names:
            record.truncated[name][-1] = True
    for name in names:
        record.obs[name].append(obs[name])
    return record.episode(spec)


def _collect(
    env: _EnvAdapter,
    spec: DatasetSpec,
    policy: JointPolicy | None,
    *,
    episodes: int,
    seed: int,
    max_steps: int | None,
    meta: dict[str, Any],
) -> EpisodeDataset:
    if episodes < 1:
        raise ContractError(f"collect: episodes must be >= 1; got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise ContractError(f"collect: max_steps must be >= 1 or None; got {max_steps}")
    chosen = policy if policy is not None else RandomJointPolicy(env.action_spaces, seed=seed)
    collected = [
        _run_episode(
            env, spec, chosen, seed=seed + index, max_steps=max_steps, label=f"episode {index}"
        )
        for index in range(episodes)
    ]
    return EpisodeDataset(spec, collected, meta=meta | {"seed": seed, "max_steps": max_steps})


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    metadata = getattr(env, "metadata", None) or {}
    return str(metadata.get("name", type(env).__name__))


def collect_parallel(
    env: Any,
    *,
    episodes: int,
    seed: int,
    policy: JointPolicy | None = None,
    max_steps: int | None = None,
) -> EpisodeDataset:
    """Collect ``episodes`` episodes from a PettingZoo parallel env.

    Args:
        env: A ``pettingzoo.ParallelEnv`` (e.g. ``mpe2.simple_spread_v3.parallel_env()``).
        episodes: How many episodes to collect.
        seed: Episode ``i`` is reset with ``seed + i``; seeds the default random policy.
        policy: A `JointPolicy`; defaults to ``RandomJointPolicy(..., seed=seed)``.
        max_steps: Cut episodes after this many steps (marked truncated).

    Returns:
        An `EpisodeDataset` with rewards and termination/truncation flags per agent.

    Raises:
        ContractError: naming the episode, step and agent when the env or the policy
            produces missing agents, unknown agents, wrong sizes or NaN.

    Example:
        >>> from mpe2 import simple_spread_v3
        >>> env = simple_spread_v3.parallel_env(N=3, max_cycles=25, continuous_actions=False)
        >>> data = collect_parallel(env, episodes=8, seed=0)
    """
    spec = spec_from_parallel_env(env)

    def reset(episode_seed: int) -> Mapping[str, Any]:
        observations, _ = env.reset(seed=episode_seed)
        return dict(observations)

    def step(actions: dict[str, Any]) -> StepResult:
        observations, rewards, terms, truncs, _ = env.step(actions)
        return observations, rewards, terms, truncs

    adapter = _EnvAdapter(
        reset=reset,
        step=step,
        obs_spaces={name: env.observation_space(name) for name in spec.agent_names},
        action_spaces={name: env.action_space(name) for name in spec.agent_names},
    )
    meta = {"source": "pettingzoo", "env": _env_name(env)}
    return _collect(
        adapter, spec, policy, episodes=episodes, seed=seed, max_steps=max_steps, meta=meta
    )


def collect_gym(
    env: Any,
    *,
    episodes: int,
    seed: int,
    policy: JointPolicy | None = None,
    max_steps: int | None = None,
    agent: str = "agent",
) -> EpisodeDataset:
    """Collect ``episodes`` episodes from a Gymnasium env, as a single agent named ``agent``.

    The policy sees ``{agent: flat observation}`` and returns ``{agent: action}``, the
    same `JointPolicy` shape as for multi-agent envs. Arguments and errors are those
    of `collect_parallel`.

    Example:
        >>> data = collect_gym(gymnasium.make("CartPole-v1"), episodes=4, seed=0)
    """
    spec = spec_from_gym_env(env, agent=agent)

    def reset(episode_seed: int) -> Mapping[str, Any]:
        observation, _ = env.reset(seed=episode_seed)
        return {agent: observation}

    def step(actions: dict[str, Any]) -> StepResult:
        observation, reward, terminated, truncated, _ = env.step(actions[agent])
        return {agent: observation}, {agent: reward}, {agent: terminated}, {agent: truncated}

    adapter = _EnvAdapter(
        reset=reset,
        step=step,
        obs_spaces={agent: env.observation_space},
        action_spaces={agent: env.action_space},
    )
    meta = {"source": "gymnasium", "env": _env_name(env)}
    return _collect(
        adapter, spec, policy, episodes=episodes, seed=seed, max_steps=max_steps, meta=meta
    )
