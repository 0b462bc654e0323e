"""A palaestrAI ``Environment`` simulated by a trained world model.

palaestrAI runs agents (brain + muscle) against environments that publish sensors,
take actuator setpoints and hand out rewards. `WorldModelEnvironment` publishes a
multi-agent world model that way, with these uid conventions (palaestrAI prefixes
every sensor with the environment's uid, ``<env>.``):

- sensor ``<agent>.obs.<i>``: value ``i`` of the agent's observation, a float in a
  ``Box`` of shape ``()``;
- actuator ``<agent>.action``: ``Discrete(n)`` or a ``Box`` of the action's shape;
- reward ``<agent>.reward``: that agent's reward. palaestrAI hands every reward to
  every agent; an agent's objective picks its own by uid (for example
  ``AggregateRewardsObjective`` with ``rewards: [<agent>.reward]``).

The model's latent state, recurrent memory included, is the environment's
``world_state``: one wire-format envelope in base64 text, which palaestrAI's store
keeps. The environment is built from files so that an experiment file can name it:
``model`` is a `save_pretrained` directory and ``starts`` a saved `EpisodeDataset`
whose first observations start the episodes. Needs the ``palaestrai`` extra.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Mapping, Sequence
from typing import Any, final

import numpy as np
import torch

from ..capabilities import Capability
from ..data.dataset import EpisodeDataset
from ..errors import ContractError
from ..payloads.state import State
from ..registry import load_pretrained
from ._common import OutcomeFn, import_framework, joint_payload, obs_batch, step_outcome

_INSTALL = {"extra": "palaestrai", "bridge": "palaestrai"}
_environment = import_framework("palaestrai.environment", **_INSTALL)
_agent = import_framework("palaestrai.agent", **_INSTALL)
_types = import_framework("palaestrai.types", **_INSTALL)
_Environment: Any = _environment.Environment

__all__ = ["WorldModelEnvironment", "decode_world_state", "encode_world_state"]

_LIMIT = float(np.finfo(np.float32).max)


def encode_world_state(state: State) -> str:
    """A latent state as base64 text of its wire-format envelope."""
    return base64.b64encode(state.serialize()).decode("ascii")


def decode_world_state(text: str) -> State:
    """The latent state in a ``world_state`` written by `WorldModelEnvironment`."""
    return State.deserialize(base64.b64decode(text.encode("ascii"), validate=True), copy=True)


def _scalar_box() -> Any:
    # Values cross as Python floats (float64: every float32 value exactly), and
    # palaestrAI checks them against the space's dtype.
    return _types.Box(low=-np.inf, high=np.inf, shape=(), dtype=np.float64)


def _function(path: str | None, where: str) -> OutcomeFn | None:
    if path is None:
        return None
    module, _, name = path.partition(":")
    try:
        function: OutcomeFn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ContractError(
            f"{where}: cannot import {path!r}; expected 'module:function'"
        ) from None
    return function


@final
class WorldModelEnvironment(_Environment):  # type: ignore[misc]
    """A palaestrAI environment whose dynamics are a trained multi-agent world model.

    Each ``update`` applies every agent's ``<agent>.action`` setpoint as one joint
    action (an agent whose actuator nobody set acts with zeros), advances the
    model's latent state by one ``transition`` and publishes the decoded
    observations. Rewards come from ``reward_fn`` or the model's ``reward``
    prediction (a team reward goes to every agent, a per-agent reward to each); the
    episode terminates when ``done_fn`` says so for any agent, or the model's
    ``continue`` prediction (of the team or of any agent) falls below
    ``continue_threshold``, and is truncated after ``max_steps`` updates.

    Args:
        uid: The environment's uid (palaestrAI's).
        seed: palaestrAI's seed; seeds the draw of start observations.
        model: Directory written by ``save_pretrained`` of a model with
            representation, latent_dynamics, obs_decoder and multi_agent.
        starts: Directory of a saved `EpisodeDataset`; each episode starts from the
            first observations of one of its episodes, drawn at random.
        max_steps: Updates before the episode is truncated.
        reward_fn: ``"module:function"``, ``(obs, actions, next_obs) -> {agent: reward}``.
        done_fn: ``"module:function"``, ``(obs, actions, next_obs) -> {agent: bool}``.
        deterministic: Use the model's deterministic predictions.
        continue_threshold: Without a ``done_fn``, terminate below this.

    Raises:
        CapabilityError: if the model lacks a needed capability.
    """

    def __init__(
        self,
        uid: str,
        seed: int = 0,
        *,
        model: str,
        starts: str,
        max_steps: int = 100,
        reward_fn: str | None = None,
        done_fn: str | None = None,
        deterministic: bool = True,
        continue_threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(uid, seed=seed, **kwargs)
        self.model = load_pretrained(model)
        for capability in (
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
            Capability.MULTI_AGENT,
        ):
            self.model.require(capability, "WorldModelEnvironment")
        self.reward_fn = _function(reward_fn, "WorldModelEnvironment reward_fn")
        self.done_fn = _function(done_fn, "WorldModelEnvironment done_fn")
        if self.reward_fn is None:
            self.model.require(Capability.REWARD_PRED, "WorldModelEnvironment without a reward_fn")
        if self.done_fn is None:
            self.model.require(Capability.CONTINUE_PRED, "WorldModelEnvironment without a done_fn")
        self.starts = EpisodeDataset.load(starts)
        self.max_steps, self.deterministic = max_steps, deterministic
        self.continue_threshold = continue_threshold
        contract = self.model.contract()
        self.agent_names = list(contract.agents)
        assert contract.action is not None and contract.action.agents is not None
        self._act_specs = contract.action.agents
        self._rng = np.random.default_rng(seed)
        self._state: State | None = None
        self._obs: dict[str, np.ndarray] = {}
        self._steps = 0

    # -- what palaestrAI sees --------------------------------------------------------------

    def _sensors(self, obs: Mapping[str, np.ndarray]) -> list[Any]:
        box = _scalar_box()
        return [
            _agent.SensorInformation(value=float(value), space=box, uid=f"{name}.obs.{i}")
            for name in self.agent_names
            for i, value in enumerate(obs[name].reshape(-1).tolist())
        ]

    def _actuators(self) -> list[Any]:
        actuators = []
        for name in self.agent_names:
            spec = self._act_specs[name]
            value: Any
            if spec.kind == "discrete":
                space, value = _types.Discrete(int(spec.num_actions or 1)), 0
            else:
                low = -_LIMIT if spec.low is None else spec.low
                high = _LIMIT if spec.high is None else spec.high
                space = _types.Box(low=low, high=high, shape=spec.shape, dtype=np.float32)
                value = np.zeros(spec.shape, dtype=np.float32)
            actuators.append(
                _agent.ActuatorInformation(value=value, space=space, uid=f"{name}.action")
            )
        return actuators

    def start_environment(self) -> Any:
        """Draw start observations, encode them and publish sensors and actuators."""
        episode = self.starts[int(self._rng.integers(len(self.starts)))]
        obs = {name: episode.obs[name][0].numpy().astype(np.float32) for name in self.agent_names}
        batch = obs_batch(obs)
        self.model.validate_observation(batch)
        with torch.no_grad():
            self._state = self.model.encode(batch, deterministic=self.deterministic)
        self._obs, self._steps = obs, 0
        contract = self.model.contract()
        return _environment.EnvironmentBaseline(
            sensors_available=self._sensors(obs),
            actuators_available=self._actuators(),
            simtime=_types.SimTime(simtime_ticks=0),
            static_world_model={
                "model_type": self.model.model_type,
                "contract_fingerprint": contract.fingerprint,
                "agents": self.agent_names,
            },
        )

    def _actions(self, actuators: Sequence[Any]) -> dict[str, Any]:
        given = {str(actuator.uid): actuator.value for actuator in actuators}
        actions = {}
        for name in self.agent_names:
            value = given.get(f"{name}.action")
            if value is None:
                value = np.zeros(self._act_specs[name].sample_shape)
            actions[name] = np.asarray(value)
        return actions

    def update(self, actuators: list[Any]) -> Any:
        """Advance the model by one step under the agents' setpoints."""
        if self._state is None:
            raise ContractError("WorldModelEnvironment.update called before start_environment()")
        actions = self._actions(actuators)
        payload = joint_payload(self.model.contract(), actions)
        self.model.validate_action(payload)
        with torch.no_grad():
            self._state = self.model.transition(
                self._state, payload, deterministic=self.deterministic
            )
            decoded = self.model.decode(self._state).predictions
        nxt = {name: decoded[name][0].numpy() for name in self.agent_names}
        for name, value in nxt.items():
            if not np.isfinite(value).all():
                raise ContractError(
                    f"the model predicted NaN or inf in obs[{name!r}] [WorldModelEnvironment]"
                )
        rewards, terminated = step_outcome(
            self.model.contract(),
            decoded,
            (self._obs, actions, nxt),
            reward_fn=self.reward_fn,
            done_fn=self.done_fn,
            continue_threshold=self.continue_threshold,
            where="WorldModelEnvironment",
        )
        self._obs, self._steps = nxt, self._steps + 1
        truncated = not terminated and self._steps >= self.max_steps
        box = _scalar_box()
        return _environment.EnvironmentState(
            sensor_information=self._sensors(nxt),
            rewards=[
                _agent.RewardInformation(value=rewards[name], space=box, uid=f"{name}.reward")
                for name in self.agent_names
            ],
            done=terminated or truncated,
            world_state=encode_world_state(self._state),
            simtime=_types.SimTime(simtime_ticks=self._steps),
            terminated=terminated,
            truncated=truncated,
        )
