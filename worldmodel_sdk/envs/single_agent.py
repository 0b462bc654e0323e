"""`SingleAgentEnv`: one agent of a `WorldModelEnv` as a Gymnasium ``Env``.

The controlled agent's observation, reward and flags are those of the
multi-agent env; the other agents act by a given joint policy or, by default,
uniformly at random from their action spaces (seeded through ``reset(seed=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, SupportsFloat, final

import gymnasium
import numpy as np

from ..errors import ContractError
from .world_model_env import WorldModelEnv

__all__ = ["OthersPolicy", "SingleAgentEnv"]

OthersPolicy = Callable[[Mapping[str, np.ndarray], np.random.Generator], Mapping[str, Any]]
"""``(observations of the other live agents, generator) -> {agent: action}``."""


@final
class SingleAgentEnv(gymnasium.Env[np.ndarray, Any]):
    """Control one agent of a `WorldModelEnv` through the Gymnasium API.

    Args:
        env: The multi-agent simulated environment.
        agent: The controlled agent (default: the first in natural order).
        others: Policy of the other agents (default: uniformly random actions).

    Raises:
        ContractError: if ``agent`` is not one of the env's agents.

    Example:
        >>> single = SingleAgentEnv(WorldModelEnv(jopm, components, sampler))
        >>> obs, info = single.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = single.step(single.action_space.sample())
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self, env: WorldModelEnv, *, agent: str | None = None, others: OthersPolicy | None = None
    ) -> None:
        self.env = env
        self.agent = agent if agent is not None else env.possible_agents[0]
        if self.agent not in env.possible_agents:
            raise ContractError(
                f"SingleAgentEnv: unknown agent {self.agent!r}; expected one of "
                f"{env.possible_agents}"
            )
        self.others = others
        self.observation_space = env.observation_space(self.agent)
        self.action_space = env.action_space(self.agent)
        self.render_mode = env.render_mode

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed`` makes it and the other agents' actions reproducible."""
        super().reset(seed=seed)
        obs, infos = self.env.reset(seed=int(self.np_random.integers(2**31 - 1)))
        self._obs = obs
        return obs[self.agent], infos[self.agent]

    def _other_actions(self) -> Mapping[str, Any]:
        live = [name for name in self.env.agents if name != self.agent]
        if self.others is not None:
            return self.others({name: self._obs[name] for name in live}, self.np_random)
        actions = {}
        for name in live:
            space = self.env.action_space(name)
            if isinstance(space, gymnasium.spaces.Discrete):
                actions[name] = int(space.start) + int(self.np_random.integers(int(space.n)))
            else:
                actions[name] = space.sample()
        return actions

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the controlled agent with ``action`` and the others with their policy."""
        obs, rewards, terms, truncs, infos = self.env.step(
            {**self._other_actions(), self.agent: action}
        )
        self._obs = obs
        return (
            obs[self.agent],
            float(rewards[self.agent]),
            bool(terms[self.agent]),
            bool(truncs[self.agent]),
            infos[self.agent],
        )

    def render(self) -> np.ndarray | None:
        """The wrapped env's frame."""
        return self.env.render()

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()
