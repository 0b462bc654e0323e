"""`BatchedWorldModelEnv`: ``num_envs`` copies of a `WorldModelEnv`, stepped as one model batch.

The multi-agent counterpart of `WorldModelVectorEnv`: observations, actions,
rewards and flags are per-agent arrays with a leading env axis ``[N, ...]``.
Agents of a row terminate or truncate individually, as in `WorldModelEnv`;
a finished agent's actions are ignored, and a row whose agents have all finished
starts a new episode on the next step (``next_step`` autoreset: its actions are
ignored, its rewards are 0 and its flags false on that step).

The `ComponentFunctions` get the batched arrays, ``{agent: [N, ...]}``, and return
``{agent: [N]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import numpy as np
import torch
from gymnasium import spaces

from .._outcomes import predicted_rewards, predicted_terminations
from ..capabilities import Capability
from ..errors import ContractError
from ..model import WorldModel
from ..payloads.action import ActionPayload
from ..payloads.state import State
from ._rows import ModelDraws, finite, per_row, positive_int, rows_of, spreads
from .components import ComponentFunctions, InitialObsSampler
from .world_model_env import WorldModelEnv

__all__ = ["BatchedWorldModelEnv"]

_Arrays = dict[str, np.ndarray]


_WHERE = "BatchedWorldModelEnv.step"


@final
class BatchedWorldModelEnv:
    """``num_envs`` simulated multi-agent episodes, one model batch row each.

    Args:
        model: As for `WorldModelEnv` (e.g. a trained `JOPM`).
        components: Reward and termination functions over batched arrays; one left
            as ``None`` is taken from the model's heads.
        initial_obs: Draws one episode's per-agent observations (called per row).
        num_envs: Number of rows.
        max_cycles: Steps before a row's episode is truncated.
        deterministic: Use the model's deterministic predictions.
        continue_threshold: Without a ``done_fn``, agents terminate when the
            predicted continue probability is below this.

    Example:
        >>> envs = BatchedWorldModelEnv(jopm, components, sampler, num_envs=64)
        >>> obs, infos = envs.reset(seed=0)
        >>> obs, rewards, terms, truncs, infos = envs.step(envs.sample_actions())
    """

    def __init__(
        self,
        model: WorldModel,
        components: ComponentFunctions,
        initial_obs: InitialObsSampler,
        num_envs: int,
        *,
        max_cycles: int = 25,
        deterministic: bool = True,
        continue_threshold: float = 0.5,
    ) -> None:
        max_cycles = positive_int("BatchedWorldModelEnv", "max_cycles", max_cycles)
        # A WorldModelEnv checks the model and components and builds the per-agent spaces.
        self._single = WorldModelEnv(
            model,
            components,
            initial_obs,
            max_cycles=max_cycles,
            deterministic=deterministic,
            continue_threshold=continue_threshold,
        )
        num_envs = positive_int("BatchedWorldModelEnv", "num_envs", num_envs)
        self.model, self.components, self.initial_obs = model, components, initial_obs
        self.num_envs, self.max_cycles = num_envs, max_cycles
        self.deterministic, self.continue_threshold = deterministic, continue_threshold
        self.possible_agents = list(self._single.possible_agents)
        self._specs = self._single._act_specs
        self._rng = np.random.default_rng()
        self._draws = ModelDraws()
        self._state: State | None = None
        self._obs: _Arrays = {}
        self._live = np.zeros((num_envs, len(self.possible_agents)), np.bool_)
        self._ended = np.zeros(num_envs, np.bool_)
        self._steps = np.zeros(num_envs, np.int64)

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        """One agent's observation space for one row."""
        return self._single.observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space[Any]:
        """One agent's action space for one row."""
        return self._single.action_space(agent)

    def sample_actions(self) -> _Arrays:
        """Uniformly random actions ``{agent: [N, ...]}`` from the (seeded) action spaces."""
        return {
            name: np.stack([self.action_space(name).sample() for _ in range(self.num_envs)])
            for name in self.possible_agents
        }

    def live(self) -> _Arrays:
        """Which agents are still in their row's episode: ``{agent: bool [N]}``."""
        return {name: self._live[:, i].copy() for i, name in enumerate(self.possible_agents)}

    def _start(self, count: int) -> tuple[_Arrays, State]:
        draws = [self.initial_obs(self._rng) for _ in range(count)]
        obs = {
            name: np.stack([np.asarray(d[name], np.float32) for d in draws])
            for name in self.possible_agents
        }
        tensors = {name: torch.from_numpy(value) for name, value in obs.items()}
        self.model.validate_observation(tensors)
        with self._draws.active():
            state = self.model.encode(tensors, deterministic=self.deterministic)
        self._draws.commit()
        return obs, state

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[_Arrays, dict[str, dict[str, Any]]]:
        """Start every row's episode from sampled initial observations."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._draws.seed(seed)
            for offset, name in enumerate(self.possible_agents):
                self.action_space(name).seed(seed + offset)
        self._obs, self._state = self._start(self.num_envs)
        self._live[:], self._ended[:], self._steps[:] = True, False, 0
        return {k: v.copy() for k, v in self._obs.items()}, {n: {} for n in self.possible_agents}

    def _joint(self, actions: Mapping[str, Any]) -> ActionPayload:
        tensors = {}
        for i, name in enumerate(self.possible_agents):
            if name not in actions:
                raise ContractError(
                    f"actions is missing agent {name!r}; expected {self.possible_agents} "
                    "[BatchedWorldModelEnv.step]"
                )
            spec = self._specs[name]
            array = np.asarray(actions[name])
            want = (self.num_envs, *spec.sample_shape)
            if array.shape != want:
                raise ContractError(
                    f"actions[{name!r}] has shape {array.shape}; expected {want} "
                    "[BatchedWorldModelEnv.step]"
                )
            # Finished agents act as in WorldModelEnv: with zeros.
            array = np.where(
                self._live[:, i].reshape(-1, *([1] * len(spec.sample_shape))), array, 0
            )
            dtype = torch.float32 if spec.kind == "continuous" else torch.int64
            tensors[name] = torch.as_tensor(array, dtype=dtype)
        payload = ActionPayload(kind="joint", agents=tensors)
        self.model.validate_action(payload)
        return payload

    def _per_agent(self, values: Mapping[str, Any], source: str, dtype: Any) -> np.ndarray:
        columns = []
        for name in self.possible_agents:
            if name not in values:
                raise ContractError(
                    f"ComponentFunctions.{source} returned no value for agent {name!r}"
                )
            source_of = f"ComponentFunctions.{source} for agent {name!r}"
            columns.append(per_row(_WHERE, source_of, values[name], self.num_envs, dtype))
        return np.stack(columns, axis=1)

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[_Arrays, _Arrays, _Arrays, _Arrays, dict[str, dict[str, Any]]]:
        """Step every row with one model call; returns per-agent arrays ``[N, ...]``."""
        where = _WHERE
        if self._state is None:
            raise ContractError(f"step called before reset() [{where}]")
        payload = self._joint(actions)
        with self._draws.active():
            state = self.model.transition(self._state, payload, deterministic=self.deterministic)
            decoded = self.model.decode(state).predictions
        nxt = {
            n: finite(where, f"obs[{n!r}]", decoded[n].numpy().astype(np.float32))
            for n in self.possible_agents
        }
        chosen = {n: np.asarray(actions[n]) for n in self.possible_agents}
        reward_fn, done_fn = self.components.reward_fn, self.components.done_fn
        contract = self.model.contract()
        if reward_fn is None:
            rewards = predicted_rewards(contract, decoded, self.num_envs, where)
        else:
            rewards = self._per_agent(reward_fn(self._obs, chosen, nxt), "reward_fn", np.float64)
        if done_fn is None:
            threshold = self.continue_threshold
            terms = predicted_terminations(contract, decoded, self.num_envs, threshold, where)
        else:
            terms = self._per_agent(done_fn(self._obs, chosen, nxt), "done_fn", np.bool_)
        found = (
            spreads(where, decoded, self.possible_agents, self.num_envs)
            if self.model.supports(Capability.EPISTEMIC_UNCERTAINTY)
            else None
        )
        self._state, self._obs = state, nxt
        self._draws.commit()
        self._steps += 1
        truncs = np.repeat((self._steps >= self.max_cycles)[:, None], terms.shape[1], 1)
        live = self._live.copy()
        terms, truncs, rewards = terms & live, truncs & live & ~terms, np.where(live, rewards, 0.0)
        self._live = live & ~(terms | truncs)
        rows = self._ended
        if rows.any():
            obs, fresh = self._start(int(rows.sum()))
            for name in self.possible_agents:
                self._obs[name][rows] = obs[name]
            self._state = rows_of(self._state, rows, fresh)
            self._live[rows], self._steps[rows] = True, 0
            rewards[rows], terms[rows], truncs[rows] = 0.0, False, False
        self._ended = np.logical_not(self._live.any(axis=1))
        return (
            {n: v.copy() for n, v in self._obs.items()},
            {n: rewards[:, i] for i, n in enumerate(self.possible_agents)},
            {n: terms[:, i] for i, n in enumerate(self.possible_agents)},
            {n: truncs[:, i] for i, n in enumerate(self.possible_agents)},
            self._infos(found, live),
        )

    def _infos(
        self, found: dict[str, np.ndarray] | None, live: np.ndarray
    ) -> dict[str, dict[str, Any]]:
        """Per agent: ``disagreement`` ``[N]`` on its next observation, and its mask.

        Empty unless the model declares ``epistemic_uncertainty`` (``found`` holds each
        agent's disagreement then). Only agents that played the step (``live``
        ``[N, A]`` before it) have one: an agent that had finished, and every agent of
        a row this step restarted, has ``_disagreement`` False, as `WorldModelEnv`
        reports live agents only.
        """
        if found is None:
            return {n: {} for n in self.possible_agents}
        infos: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(self.possible_agents):
            valid = live[:, i].copy()
            spread = np.where(valid, found[name], 0.0)
            infos[name] = {"disagreement": spread, "_disagreement": valid}
        return infos

    def close(self) -> None:
        """Release the batch state."""
        self._state = None
