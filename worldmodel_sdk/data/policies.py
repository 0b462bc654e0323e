"""Joint policies: callables from per-agent observations to per-agent env actions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import numpy as np

from ..errors import ContractError
from .spaces import import_gymnasium

__all__ = ["JointPolicy", "RandomJointPolicy"]

JointPolicy = Callable[[Mapping[str, np.ndarray]], Mapping[str, Any]]
"""A policy maps ``{agent: flat float32 observation}`` to ``{agent: env action}``.

Env actions are what the environment's ``step`` accepts: an ``int`` for a
``Discrete`` space, an array of the space's shape for a ``Box`` space. A policy
that needs randomness should own a seeded generator, like `RandomJointPolicy`.
"""


@final
class RandomJointPolicy:
    """Uniformly random actions for every agent, reproducible from ``seed``.

    ``Discrete(n, start)`` agents draw an integer in ``[start, start + n)``. ``Box``
    agents draw uniformly within finite bounds and from a standard normal along
    unbounded dimensions.

    Args:
        action_spaces: Each agent's Gymnasium action space.
        seed: Seed of the policy's own ``numpy`` generator.

    Raises:
        ContractError: if an action space is neither ``Discrete`` nor ``Box``.

    Example:
        >>> policy = RandomJointPolicy({"agent_0": Discrete(5)}, seed=0)
        >>> policy({"agent_0": np.zeros(3, dtype=np.float32)})
        {'agent_0': 4}
    """

    __slots__ = ("_discrete", "_rng", "_spaces")

    def __init__(self, action_spaces: Mapping[str, Any], *, seed: int) -> None:
        spaces = import_gymnasium().spaces
        for name, space in action_spaces.items():
            if not isinstance(space, (spaces.Discrete, spaces.Box)):
                raise ContractError(
                    f"RandomJointPolicy: agent {name!r} has action space {space}; "
                    "expected Discrete or Box"
                )
        self._spaces = dict(action_spaces)
        self._discrete = {
            name: isinstance(space, spaces.Discrete) for name, space in action_spaces.items()
        }
        self._rng = np.random.default_rng(seed)

    def __call__(self, observations: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Draw one action for every agent present in ``observations``."""
        return {name: self._sample(name) for name in observations}

    def _sample(self, name: str) -> Any:
        space = self._spaces[name]
        if self._discrete[name]:
            return int(space.start) + int(self._rng.integers(int(space.n)))
        low = np.asarray(space.low, dtype=np.float64)
        high = np.asarray(space.high, dtype=np.float64)
        bounded = np.isfinite(low) & np.isfinite(high)
        uniform = self._rng.uniform(np.where(bounded, low, 0.0), np.where(bounded, high, 1.0))
        normal = self._rng.standard_normal(space.shape)
        return np.where(bounded, uniform, normal).astype(space.dtype)
