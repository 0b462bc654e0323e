"""`SB3VecEnv`: a `WorldModelVectorEnv` behind Stable-Baselines3's ``VecEnv`` interface.

Stable-Baselines3 speaks its own vector API (same-step autoreset, the last
observation of an ended episode in ``infos[i]["terminal_observation"]``, a list
of per-env info dicts). This adapter runs the vector env in ``same_step`` mode
and translates, so ``PPO("MlpPolicy", SB3VecEnv(envs))`` trains on imagined
experience. Needs the ``rl`` extra (stable-baselines3).
"""

from __future__ import annotations

from typing import Any, final

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

try:
    from stable_baselines3.common.vec_env import VecEnv
    from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "worldmodel_sdk.envs.sb3 needs stable-baselines3: pip install 'worldmodel-sdk[rl]'"
    ) from exc

from ..errors import ContractError
from .vector import WorldModelVectorEnv
from .world_model_env import _LIMIT

__all__ = ["SB3VecEnv"]


def _finite(space: spaces.Space[Any]) -> spaces.Space[Any]:
    """``space``, with an unbounded Box's infinite bounds as the float32 limits.

    Gymnasium marks an unbounded Box with infinite bounds; Stable-Baselines3 refuses
    those. The float32 limits bound every finite action, so its clipping changes none.
    """
    if not isinstance(space, spaces.Box) or np.isfinite([space.low, space.high]).all():
        return space
    low = np.clip(space.low, -_LIMIT, _LIMIT)
    high = np.clip(space.high, -_LIMIT, _LIMIT)
    return spaces.Box(low=low, high=high, shape=space.shape, dtype=space.dtype)


@final
class SB3VecEnv(VecEnv):
    """Stable-Baselines3 view of a `WorldModelVectorEnv` built with ``same_step`` autoreset.

    Args:
        envs: The vector env; its ``autoreset_mode`` must be ``same_step``.

    Raises:
        ContractError: if ``envs`` resets on the next step.

    Example:
        >>> envs = WorldModelVectorEnv(model, 16, sampler, done_fn=done, autoreset_mode="same_step")
        >>> PPO("MlpPolicy", SB3VecEnv(envs), n_steps=64).learn(1024)
    """

    def __init__(self, envs: WorldModelVectorEnv) -> None:
        if envs.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ContractError(
                "SB3VecEnv needs a WorldModelVectorEnv with autoreset_mode='same_step'; got "
                f"{envs.autoreset_mode}"
            )
        self.envs = envs
        self.render_mode = None
        self._actions: np.ndarray | None = None
        super().__init__(
            envs.num_envs, envs.single_observation_space, _finite(envs.single_action_space)
        )

    def reset(self) -> np.ndarray:
        """Reset every row (with the seed given through ``seed()``, if any)."""
        seed = self._seeds[0]
        obs, _ = self.envs.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions of the next ``step_wait``."""
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """One model step for all rows, in Stable-Baselines3's return format."""
        obs, rewards, terms, truncs, infos = self.envs.step(self._actions)
        dones = terms | truncs
        per_env: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            per_env[i]["terminal_observation"] = infos["final_obs"][i]
            per_env[i]["TimeLimit.truncated"] = bool(truncs[i] and not terms[i])
        return obs, rewards.astype(np.float32), dones, per_env

    def close(self) -> None:
        """Close the vector env."""
        self.envs.close()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """An attribute of the vector env, once per requested row."""
        if attr_name == "render_mode":
            return [None for _ in self._indices(indices)]
        return [getattr(self.envs, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the vector env (rows share it)."""
        setattr(self.envs, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call a method of the vector env, once per requested row."""
        method = getattr(self.envs, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[Any], indices: VecEnvIndices = None) -> list[bool]:
        """Rows are not gymnasium-wrapped envs."""
        return [False for _ in self._indices(indices)]
