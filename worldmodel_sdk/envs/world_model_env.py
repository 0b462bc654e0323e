"""`WorldModelEnv`: a PettingZoo ``ParallelEnv`` simulated by a trained multi-agent world model.

``reset`` draws initial observations and encodes them; ``step`` advances the
model's state under the joint action (its recurrent memory carried from step to
step) and decodes the next per-agent observations. Rewards and terminations
come from the user's `ComponentFunctions`, or, for a function left as ``None``,
from the model's ``reward`` and ``continue`` predictions (a model declaring
``reward_pred`` / ``continue_pred``, such as `JOPMWithHeads`). A team prediction
(contract shape ``(B,)``) gives every live agent the same reward and terminates every
agent when the continue probability falls below ``continue_threshold``; a per-agent
prediction (``(B, A)``, agents in the contract's order) gives each agent its own
reward and terminates each agent on its own continue probability. An episode is
truncated after ``max_cycles`` steps.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, final

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .._outcomes import predicted_rewards, predicted_terminations
from ..capabilities import Capability
from ..contract import ActionSpec, TensorSpec
from ..errors import ContractError
from ..model import WorldModel
from ..payloads.action import ActionPayload
from ..payloads.state import State
from ._rows import ModelDraws, per_row, positive_int, spreads
from .components import ComponentFunctions, InitialObsSampler, JointObs

__all__ = ["WorldModelEnv"]

# Finite bounds that hold every finite float32: predictions are checked to be finite.
_LIMIT = float(np.finfo(np.float32).max)
_NEEDS = (
    Capability.REPRESENTATION,
    Capability.LATENT_DYNAMICS,
    Capability.OBS_DECODER,
    Capability.MULTI_AGENT,
)


def _sample_shape(agent: str, spec: TensorSpec) -> tuple[int, ...]:
    """The per-sample observation shape: every axis after the leading batch axis ``B``."""
    shape = spec.shape
    if not shape or shape[0] != "B" or not all(isinstance(axis, int) for axis in shape[1:]):
        raise ContractError(
            f"WorldModelEnv: observation of agent {agent!r} has contract shape {spec.show()}; "
            "expected (B, <fixed sizes>) to build its observation space"
        )
    return tuple(int(axis) for axis in shape[1:])


def _check_index_range(agent: str, array: np.ndarray, spec: ActionSpec) -> None:
    """Indices in ``[0, n)`` before any cast to int64 (which would wrap huge values)."""
    bound = spec.behaviour.index_bound(spec)
    if array.size and ((array < 0).any() or (array >= np.asarray(bound)).any()):
        low, high = array.min(), array.max()
        raise ContractError(
            f"action[{agent!r}] is out of range: expected 0 <= action < {bound}; got min "
            f"{int(low)}, max {int(high)}"
        )


def _action_array(agent: str, value: Any, spec: ActionSpec) -> np.ndarray:
    """One agent's action as an array of the spec's per-sample size, or a ContractError."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = np.asarray(None)
    if array.dtype.kind == "O" and spec.behaviour.integer and _python_ints(array):
        _check_index_range(agent, array, spec)  # integers past int64: always out of range
    if array.dtype.kind not in "iubf":
        raise ContractError(
            f"action[{agent!r}] is {value!r}; expected "
            + ("an integer index" if spec.behaviour.integer else "numbers")
        )
    want = spec.sample_shape
    size = math.prod(want)
    if array.size != size:
        raise ContractError(
            f"action[{agent!r}] has shape {array.shape} ({array.size} values); "
            f"expected shape {want} ({size} value{'s' if size != 1 else ''})"
        )
    return array.reshape(want)


def _python_ints(array: np.ndarray) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in array.reshape(-1))


@final
class WorldModelEnv(ParallelEnv[str, np.ndarray, Any]):  # type: ignore[misc]
    """A simulated multi-agent environment driven by a world model.

    Args:
        model: A model with representation, latent_dynamics, obs_decoder and
            multi_agent capabilities (e.g. a trained `JOPM`).
        components: Reward, termination and optional rendering functions; a reward or
            termination function left as ``None`` is taken from the model's heads.
        initial_obs: Draws the per-agent observations of a new episode (e.g.
            `EpisodeStartSampler` over recorded episodes).
        max_cycles: Steps before the episode is truncated.
        render_mode: ``None`` or ``"rgb_array"`` (needs ``components.render_fn``).
        deterministic: Use the model's deterministic predictions.
        continue_threshold: Without a ``done_fn``, agents terminate when the predicted
            continue probability is below this.

    Raises:
        CapabilityError: if the model lacks a needed capability, including
            ``reward_pred`` without a ``reward_fn`` and ``continue_pred`` without a
            ``done_fn``.

    Example:
        >>> env = WorldModelEnv(jopm, components, EpisodeStartSampler(dataset))
        >>> obs, infos = env.reset(seed=0)
        >>> obs, rewards, terms, truncs, infos = env.step({a: 0 for a in env.agents})
    """

    metadata = {
        "name": "worldmodel_env_v0",
        "render_modes": ["rgb_array"],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        model: WorldModel,
        components: ComponentFunctions,
        initial_obs: InitialObsSampler,
        *,
        max_cycles: int = 25,
        render_mode: str | None = None,
        deterministic: bool = True,
        continue_threshold: float = 0.5,
    ) -> None:
        for capability in _NEEDS:
            model.require(capability, "WorldModelEnv")
        if components.reward_fn is None:
            model.require(Capability.REWARD_PRED, "WorldModelEnv without a reward_fn")
        if components.done_fn is None:
            model.require(Capability.CONTINUE_PRED, "WorldModelEnv without a done_fn")
        if render_mode not in (None, "rgb_array"):
            raise ContractError(f"render_mode must be None or 'rgb_array'; got {render_mode!r}")
        contract = model.contract()
        assert contract.action is not None and contract.action.agents is not None
        self.model = model
        self.components = components
        self.initial_obs = initial_obs
        self.max_cycles = positive_int("WorldModelEnv", "max_cycles", max_cycles)
        self.render_mode = render_mode
        self.deterministic = deterministic
        self.continue_threshold = continue_threshold
        self.possible_agents = list(contract.agents)
        self.agents: list[str] = []
        self._obs_spaces = {
            name: spaces.Box(-_LIMIT, _LIMIT, _sample_shape(name, spec), np.float32)
            for name, spec in contract.observation.items()
        }
        self._act_specs = contract.action.agents
        self._act_spaces = {
            name: self._act_specs[name].behaviour.space(self._act_specs[name])
            for name in self.possible_agents
        }
        self._rng = np.random.default_rng()
        self._draws = ModelDraws()
        self._state: State | None = None
        self._obs: dict[str, np.ndarray] = {}
        self._last: tuple[JointObs, dict[str, Any], JointObs] | None = None
        self._steps = 0

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike[str],
        *,
        components: ComponentFunctions | None = None,
        **options: Any,
    ) -> WorldModelEnv:
        """Rebuild an env from a directory written by `save_env`: model, starts, settings.

        Args:
            directory: The saved directory.
            components: Overrides the components named in the directory.
            **options: Constructor options (``max_cycles`` defaults to the saved one).
        """
        from .pretrained import load_env

        return load_env(directory, components=components, **options)

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        """The observation space of ``agent`` (the same object on every call)."""
        return self._obs_spaces[self._known(agent)]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        """The action space of ``agent`` (the same object on every call)."""
        return self._act_spaces[self._known(agent)]

    def _known(self, agent: str) -> str:
        if agent not in self._obs_spaces:
            raise ContractError(
                f"unknown agent {agent!r}; expected one of {self.possible_agents} [WorldModelEnv]"
            )
        return agent

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode from sampled initial observations.

        Raises:
            ContractError: ``seed`` is not a non-negative int or None, or the sampled
                observations do not fit the model's contract.
        """
        if seed is not None and (
            not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0
        ):
            raise ContractError(
                f"WorldModelEnv.reset: seed must be a non-negative int or None; got {seed!r}"
            )
        if seed is not None:
            seed = int(seed)
            self._rng = np.random.default_rng(seed)
            self._draws.seed(seed)
            for offset, name in enumerate(self.possible_agents):
                self._act_spaces[name].seed(seed + offset)
        raw = self.initial_obs(self._rng)
        obs = {name: torch.as_tensor(np.asarray(value)).unsqueeze(0) for name, value in raw.items()}
        obs = {
            name: value.float() if value.is_floating_point() else value
            for name, value in obs.items()
        }
        self.model.validate_observation(obs)
        with self._draws.active():
            self._state = self.model.encode(obs, deterministic=self.deterministic)
        self._draws.commit()
        self._obs = {name: value[0].numpy().astype(np.float32) for name, value in obs.items()}
        self.agents = list(self.possible_agents)
        self._steps, self._last = 0, None
        return dict(self._obs), {name: {} for name in self.agents}

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Advance every live agent by one step under ``actions``.

        A step that is refused (a bad action, a non-finite prediction, a failing
        reward or termination function) raises before anything changes: state,
        observations, live agents and step count stay as they were.
        """
        if not isinstance(actions, Mapping):
            raise ContractError(
                "WorldModelEnv.step expects a dict of agent name to action; got "
                f"{type(actions).__name__}"
            )
        if self._state is None or not self.agents:
            raise ContractError(
                "WorldModelEnv.step called before reset() or after the episode ended"
            )
        payload = self._joint_action(actions)
        with self._draws.active():
            state = self.model.transition(self._state, payload, deterministic=self.deterministic)
            decoded = self.model.decode(state).predictions
        nxt = {name: decoded[name][0].numpy().astype(np.float32) for name in self.possible_agents}
        for name, value in nxt.items():
            if not np.isfinite(value).all():
                raise ContractError(
                    f"the model predicted NaN or inf in obs[{name!r}] [WorldModelEnv.step]"
                )
        chosen = {name: actions[name] for name in self.agents}
        prev, steps, live = self._obs, self._steps + 1, list(self.agents)
        rewards, terminations = self._outcomes(decoded, prev, chosen, nxt, live)
        truncations = {name: steps >= self.max_cycles for name in live}
        infos = self._infos(decoded, live)
        # Everything is computed: commit the step.
        self._state, self._obs, self._last, self._steps = state, nxt, (prev, chosen, nxt), steps
        self._draws.commit()
        self.agents = [n for n in live if not (terminations[n] or truncations[n])]
        return (
            {name: nxt[name] for name in live},
            rewards,
            terminations,
            truncations,
            infos,
        )

    def _outcomes(
        self,
        decoded: Mapping[str, torch.Tensor],
        prev: JointObs,
        chosen: dict[str, Any],
        nxt: JointObs,
        live: list[str],
    ) -> tuple[dict[str, float], dict[str, bool]]:
        """Rewards and terminations of a step, from the components or the model's heads."""
        reward_fn, done_fn = self.components.reward_fn, self.components.done_fn
        contract, where = self.model.contract(), "WorldModelEnv.step"
        if reward_fn is None:
            row = predicted_rewards(contract, decoded, 1, where)[0]
            rewards: Mapping[str, Any] = dict(zip(self.possible_agents, row.tolist(), strict=True))
        else:
            given = self._per_agent(reward_fn(prev, chosen, nxt), live, "reward_fn")
            rewards = {n: self._one(given[n], "reward_fn", n, np.float64) for n in live}
        if done_fn is None:
            ended = predicted_terminations(contract, decoded, 1, self.continue_threshold, where)
            dones: Mapping[str, Any] = dict(
                zip(self.possible_agents, ended[0].tolist(), strict=True)
            )
        else:
            given = self._per_agent(done_fn(prev, chosen, nxt), live, "done_fn")
            dones = {n: self._one(given[n], "done_fn", n, np.bool_) for n in live}
        return (
            {name: float(rewards[name]) for name in live},
            {name: bool(dones[name]) for name in live},
        )

    @staticmethod
    def _one(value: object, source: str, agent: str, dtype: type) -> Any:
        """One agent's value from a component function, checked like the batched env's."""
        where, source = "WorldModelEnv.step", f"ComponentFunctions.{source} for agent {agent!r}"
        return per_row(where, source, value, 1, dtype)[0]

    def _infos(
        self, decoded: Mapping[str, torch.Tensor], live: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Per agent: the model's disagreement on its next observation (mean over its entries).

        Empty unless the model declares ``epistemic_uncertainty`` (an `Ensemble`, say).
        """
        if not self.model.supports(Capability.EPISTEMIC_UNCERTAINTY):
            return {name: {} for name in live}
        found = spreads("WorldModelEnv.step", decoded, live, 1)
        return {name: {"disagreement": float(found[name][0])} for name in live}

    def _joint_action(self, actions: Mapping[str, Any]) -> ActionPayload:
        expected = ", ".join(self.agents)
        for name in actions:
            if name not in self.agents:
                raise ContractError(
                    f"actions has unknown or finished agent {name!r}; expected agents: {expected}"
                )
        for name in self.agents:
            if name not in actions:
                raise ContractError(
                    f"actions is missing agent {name!r}; expected agents: {expected}"
                )
        tensors = {}
        for name in self.possible_agents:
            spec = self._act_specs[name]
            value = actions[name] if name in actions else np.zeros(spec.sample_shape)
            array = _action_array(name, value, spec)
            if not spec.behaviour.integer:
                tensors[name] = torch.as_tensor(array, dtype=torch.float32).unsqueeze(0)
            elif array.dtype.kind == "f" and not (
                np.isfinite(array).all() and np.array_equal(array, np.round(array))
            ):
                raise ContractError(f"action[{name!r}] is {value!r}; expected an integer index")
            else:
                _check_index_range(name, array, spec)
                tensors[name] = torch.as_tensor(array.astype(np.int64)).unsqueeze(0)
        payload = ActionPayload(kind="joint", agents=tensors)
        self.model.validate_action(payload)
        return payload

    @staticmethod
    def _per_agent(values: Mapping[str, Any], live: list[str], source: str) -> Mapping[str, Any]:
        for name in live:
            if name not in values:
                raise ContractError(
                    f"ComponentFunctions.{source} returned no value for agent {name!r}"
                )
        return values

    def render(self) -> np.ndarray | None:
        """An RGB frame from ``components.render_fn`` (``render_mode="rgb_array"``), else None."""
        if self.render_mode != "rgb_array" or self.components.render_fn is None:
            return None
        if self._last is None:
            return self.components.render_fn(self._obs, {}, self._obs)
        return self.components.render_fn(*self._last)

    def close(self) -> None:
        """Release the episode state."""
        self._state = None
        self.agents = []
