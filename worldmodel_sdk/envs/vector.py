"""`WorldModelVectorEnv`: ``num_envs`` simulated episodes stepped as one model batch.

Each row of the model's batch axis is one sub-environment. ``step`` makes one
``transition`` and one ``decode`` for all rows; rows whose episode ended are
started again by encoding fresh initial observations for those rows only.
Autoreset follows Gymnasium 1.x: ``next_step`` (default; the step after an
episode ends resets that row, ignores its action and returns reward 0) or
``same_step`` (the row is reset at once; its last observation is in
``infos["final_obs"]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..capabilities import Capability
from ..errors import ContractError
from ..model import WorldModel
from ..payloads.state import State
from ._rows import ModelDraws, finite, per_row, positive_int, rows_of, spreads
from .world_model_env import _LIMIT, _sample_shape

__all__ = ["BatchInitialObs", "BatchStepFn", "WorldModelVectorEnv"]

BatchStepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``(obs [N, ...], actions [N, ...], next_obs [N, ...]) -> values [N]``."""
BatchInitialObs = Callable[[np.random.Generator, int], np.ndarray]
"""``(generator, count) -> count initial observations [count, ...]``."""

_MODES = {
    "next_step": AutoresetMode.NEXT_STEP,
    "nextstep": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    "samestep": AutoresetMode.SAME_STEP,
}
_NEEDS = (Capability.REPRESENTATION, Capability.LATENT_DYNAMICS, Capability.OBS_DECODER)


@final
class WorldModelVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """A Gymnasium vector env whose ``num_envs`` sub-environments are rows of one model batch.

    Args:
        model: A single-agent model with representation, latent_dynamics and
            obs_decoder capabilities and one observation tensor, which ``decode``
            predicts under the same name.
        num_envs: Number of sub-environments (the model's batch size).
        initial_obs: ``(generator, count) -> [count, ...]`` initial observations.
        reward_fn: ``(obs, actions, next_obs) -> [N]`` rewards; ``None`` takes the
            model's ``reward`` prediction (needs ``reward_pred``).
        done_fn: ``(obs, actions, next_obs) -> [N]`` terminations; ``None``
            terminates when the predicted ``continue`` is below ``continue_threshold``
            (needs ``continue_pred``).
        max_episode_steps: Steps before a row's episode is truncated.
        deterministic: Use the model's deterministic predictions.
        continue_threshold: See ``done_fn``.
        autoreset_mode: ``"next_step"`` (default) or ``"same_step"``.

    Raises:
        CapabilityError: if the model lacks a needed capability.
        ContractError: if the model is multi-agent or has several observation tensors.

    Example:
        >>> envs = WorldModelVectorEnv(model, 16, lambda rng, n: rng.normal(size=(n, 8)),
        ...                            done_fn=lambda o, a, n: np.abs(n).max(-1) > 3)
        >>> obs, infos = envs.reset(seed=0)
        >>> obs, rewards, terms, truncs, infos = envs.step(envs.action_space.sample())
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        model: WorldModel,
        num_envs: int,
        initial_obs: BatchInitialObs,
        *,
        reward_fn: BatchStepFn | None = None,
        done_fn: BatchStepFn | None = None,
        max_episode_steps: int = 100,
        deterministic: bool = True,
        continue_threshold: float = 0.5,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    ) -> None:
        where = "WorldModelVectorEnv"
        for capability in _NEEDS:
            model.require(capability, where)
        if model.supports(Capability.MULTI_AGENT):
            raise ContractError(
                f"{where} steps single-agent models; {type(model).__name__} is multi-agent "
                "(use BatchedWorldModelEnv)"
            )
        if reward_fn is None:
            model.require(Capability.REWARD_PRED, f"{where} without a reward_fn")
        if done_fn is None:
            model.require(Capability.CONTINUE_PRED, f"{where} without a done_fn")
        num_envs = positive_int(where, "num_envs", num_envs)
        mode = _MODES.get(str(autoreset_mode).lower()) if isinstance(autoreset_mode, str) else None
        if isinstance(autoreset_mode, AutoresetMode) and autoreset_mode != AutoresetMode.DISABLED:
            mode = autoreset_mode
        if mode is None:
            raise ContractError(
                f"autoreset_mode must be 'next_step' or 'same_step' (or the AutoresetMode); "
                f"got {autoreset_mode!r} [{where}]"
            )
        contract = model.contract()
        if len(contract.observation) != 1 or contract.action is None:
            raise ContractError(
                f"{where} needs one observation tensor and an action; the contract has "
                f"observations {list(contract.observation)}"
            )
        (self._key,) = contract.observation
        self.model, self.num_envs = model, num_envs
        self.initial_obs, self.reward_fn, self.done_fn = initial_obs, reward_fn, done_fn
        self.max_episode_steps = positive_int(where, "max_episode_steps", max_episode_steps)
        self.deterministic = deterministic
        self.continue_threshold, self.autoreset_mode = continue_threshold, mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        shape = self._shape = _sample_shape(self._key, contract.observation[self._key])
        self.single_observation_space = spaces.Box(-_LIMIT, _LIMIT, shape, np.float32)
        self.single_action_space = contract.action.behaviour.space(contract.action)
        self._stand_in = _valid_action(self.single_action_space)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._spec = contract.action
        self._rng = np.random.default_rng()
        self._draws = ModelDraws()
        self._state: State | None = None
        self._obs = np.zeros((num_envs, *shape), np.float32)
        self._steps = np.zeros(num_envs, np.int64)
        self._ended = np.zeros(num_envs, np.bool_)

    def _start(self, count: int) -> tuple[np.ndarray, State]:
        """Draw and encode ``count`` initial observations."""
        raw = np.asarray(self.initial_obs(self._rng, count), dtype=np.float32)
        want = (count, *self._shape)
        if raw.shape != want:
            raise ContractError(
                f"initial_obs returned shape {raw.shape}; expected {want} [WorldModelVectorEnv]"
            )
        obs = {self._key: torch.from_numpy(raw.copy())}
        self.model.validate_observation(obs)
        with self._draws.active():
            state = self.model.encode(obs, deterministic=self.deterministic)
        self._draws.commit()
        return raw, state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start every row (or the rows of ``options["reset_mask"]``) from fresh observations."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._draws.seed(seed)
            self.action_space.seed(seed)
        mask = (options or {}).get("reset_mask")
        if mask is None or self._state is None:
            self._obs, self._state = self._start(self.num_envs)
            rows = np.ones(self.num_envs, np.bool_)
        else:
            rows = np.asarray(mask, dtype=np.bool_)
            if rows.shape != (self.num_envs,):
                raise ContractError(
                    f"options['reset_mask'] has shape {rows.shape}; expected ({self.num_envs},) "
                    "[WorldModelVectorEnv.reset]"
                )
            self._reset_rows(rows)
        self._steps[rows], self._ended[rows] = 0, False
        return self._obs.copy(), {}

    def _reset_rows(self, rows: np.ndarray) -> None:
        assert self._state is not None
        obs, fresh = self._start(int(rows.sum()))
        self._obs[rows] = obs
        self._state = rows_of(self._state, rows, fresh)
        self._steps[rows] = 0

    def _actions(
        self, actions: Any, resetting: np.ndarray | None
    ) -> tuple[np.ndarray, torch.Tensor]:
        """The actions as an array and as the tensor the model gets (stand-ins substituted)."""
        array = np.asarray(actions)
        spec, want = self._spec, self.action_space.shape
        if array.shape != want:
            raise ContractError(
                f"actions has shape {array.shape}; expected {want} (num_envs first) "
                "[WorldModelVectorEnv.step]"
            )
        if resetting is not None and resetting.any():
            # Rows restarting on this step ignore their action: any value is accepted and a
            # valid stand-in steps the model (the row's step is discarded).
            array = array.astype(np.float32 if spec.kind == "continuous" else array.dtype)
            array[resetting] = self._stand_in
        tensor = torch.as_tensor(
            array, dtype=torch.float32 if spec.kind == "continuous" else torch.int64
        )
        if spec.kind != "continuous" and not np.array_equal(array, tensor.numpy()):
            raise ContractError(
                f"actions must hold integer indices; got {array.dtype} values "
                "[WorldModelVectorEnv.step]"
            )
        self.model.validate_action(tensor)
        return array, tensor

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every row with one model call; rows that ended are reset per the mode."""
        where = "WorldModelVectorEnv.step"
        if self._state is None:
            raise ContractError(f"step called before reset() [{where}]")
        resetting = self._ended.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        array, act = self._actions(actions, resetting)
        with self._draws.active():
            state = self.model.transition(self._state, act, deterministic=self.deterministic)
            decoded = self.model.decode(state).predictions
        nxt = finite(where, f"obs[{self._key!r}]", decoded[self._key].numpy().astype(np.float32))
        prev, n = self._obs, self.num_envs
        if self.reward_fn is None:
            rewards = decoded["reward"].reshape(self.num_envs).numpy().astype(np.float64)
            if resetting is not None:
                rewards[resetting] = 0.0  # a restarting row's step is discarded
            finite(where, "reward", rewards)
        else:  # checked by per_row, the stand-in action giving restarting rows a value
            rewards = per_row(where, "reward_fn", self.reward_fn(prev, array, nxt), n, np.float64)
        if self.done_fn is None:
            cont = decoded["continue"].reshape(self.num_envs).numpy()
            terms = cont < self.continue_threshold
        else:
            terms = per_row(where, "done_fn", self.done_fn(prev, array, nxt), n, np.bool_)
        found = (
            spreads(where, decoded, [self._key], self.num_envs)[self._key]
            if self.model.supports(Capability.EPISTEMIC_UNCERTAINTY)
            else None
        )
        self._state, self._obs = state, nxt
        self._draws.commit()
        self._steps += 1
        truncs = (self._steps >= self.max_episode_steps) & ~terms
        obs, rewards, terms, truncs, infos = self._finish(rewards, terms, truncs)
        if found is not None:
            valid = np.ones(self.num_envs, np.bool_) if resetting is None else ~resetting
            infos = {**infos, "disagreement": np.where(valid, found, 0.0), "_disagreement": valid}
        return obs, rewards, terms, truncs, infos

    def _finish(
        self, rewards: np.ndarray, terms: np.ndarray, truncs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        infos: dict[str, Any] = {}
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            rows = self._ended
            if rows.any():
                self._reset_rows(rows)
                rewards[rows], terms[rows], truncs[rows] = 0.0, False, False
            self._ended = terms | truncs
            return self._obs.copy(), rewards, terms, truncs, infos
        ended = terms | truncs
        if ended.any():
            final = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(ended):
                final[i] = self._obs[i].copy()
            infos = {"final_obs": final, "_final_obs": ended.copy()}
            self._reset_rows(ended)
        return self._obs.copy(), rewards, terms, truncs, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Release the batch state."""
        self._state = None


def _valid_action(space: spaces.Space[Any]) -> np.ndarray:
    """An action every contract accepts: zeros, clipped into a Box's bounds."""
    if isinstance(space, spaces.Box):
        return np.clip(np.zeros(space.shape, space.dtype), space.low, space.high)
    return np.zeros(space.shape or (), np.int64)
