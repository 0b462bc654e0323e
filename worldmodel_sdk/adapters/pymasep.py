"""A pymasep ``Game`` whose rules come from a world model, and episode collection from pymasep.

pymasep (a multi-agent system engine) asks its ``Game`` for the next state under the
agents' actions, the rewards, whether a state is final and what an agent observes.
`WorldModelGame` answers with a trained multi-agent world model: each agent object
holds its observation, and a ``WorldModel`` object holds the model's latent state,
recurrent memory included, so that every ``next_state`` continues from where the
last one ended. `collect_episodes` drives any pymasep game through its
``Environment`` and records the episodes as an `EpisodeDataset` to train a model on.

pymasep's XML form keeps no floats, so the latent state and the exact observations
travel as one wire-format envelope in base64 text (the ``Envelope`` characteristic);
the per-agent ``Observation`` lists are a readable copy. Needs the ``pymasep`` extra.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from typing import Any, final

import numpy as np
import torch

from ..capabilities import Capability
from ..data.dataset import EpisodeDataset
from ..data.episode import Episode
from ..data.spec import DatasetSpec
from ..errors import ContractError, SerializationError
from ..model import WorldModel
from ..payloads.state import State
from ._common import OutcomeFn, import_framework, joint_payload, obs_batch, step_outcome

# pygame (imported by pymasep) greets on stdout at import unless told not to.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# pymasep pins pytest and pulls GUI packages as runtime dependencies; the extra installs
# what it imports, and pymasep itself goes in without its pins.
_INSTALL = {"extra": "pymasep", "bridge": "pymasep", "then": "pip install --no-deps 'pymasep==0.2'"}
_common = import_framework("pymasep.common", **_INSTALL)
_Game: Any = _common.Game
_Template = import_framework("pymasep.common.template", **_INSTALL).Template
_OmegaConf = import_framework("omegaconf", **_INSTALL).OmegaConf

__all__ = [
    "ACTION_VALUE",
    "WorldModelGame",
    "collect_episodes",
    "latent_state",
    "make_action",
    "observation",
]

ACTION_VALUE = 1
"""The pymasep action type whose ``value`` parameter holds an agent's action."""

_OBS = "obs."
_TEMPLATES = (
    {"name": "Observation", "created_class": "Characteristic", "value_type": "list"},
    {"name": "Envelope", "created_class": "Characteristic", "value_type": "str"},
    {"name": "Rewards", "created_class": "Characteristic", "value_type": "dict"},
    {"name": "Done", "created_class": "Characteristic", "value_type": "bool"},
    {"name": "WorldModelAgentState", "created_class": "ObjectState",
     "subclass_templates": ["Observation"]},
    {"name": "WorldModelAgent", "created_class": "Agent",
     "controller": "pymasep.common.Controller", "subclass_templates": ["WorldModelAgentState"]},
    {"name": "WorldModelObjectState", "created_class": "ObjectState",
     "subclass_templates": ["Envelope", "Rewards", "Done"]},
    {"name": "WorldModelObject", "name_base_object": "WorldModel", "created_class": "Object",
     "subclass_templates": ["WorldModelObjectState"]},
)  # fmt: skip


def _characteristics(state: Any, key: str, where: str) -> dict[str, Any]:
    try:
        return dict(state.objects[key].object_state.characteristics)
    except (AttributeError, KeyError):
        raise ContractError(f"{where}: the pymasep state has no object {key!r}") from None


def _envelope(state: Any, where: str) -> State:
    text = _characteristics(state, "State.WorldModel", where)["Envelope"].value
    try:
        raw = base64.b64decode(str(text).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SerializationError(
            f"{where}: the Envelope characteristic is not base64 text"
        ) from None
    return State.deserialize(raw, copy=True)


def latent_state(state: Any) -> State:
    """The world model's latent state stored in a `WorldModelGame` state."""
    whole = _envelope(state, "latent_state")
    return State({k: v for k, v in whole.tensors.items() if not k.startswith(_OBS)}, whole.meta)


def observation(state: Any, agent: str) -> np.ndarray:
    """Agent ``agent``'s observation in a `WorldModelGame` state, exactly as predicted."""
    tensors = _envelope(state, "observation").tensors
    if _OBS + agent not in tensors:
        known = [k.removeprefix(_OBS) for k in tensors if k.startswith(_OBS)]
        raise ContractError(f"observation: unknown agent {agent!r}; expected one of {known}")
    return tensors[_OBS + agent][0].numpy()


def make_action(environment: Any, value: Any) -> Any:
    """A pymasep ``Action`` of type `ACTION_VALUE` carrying ``value`` (an index or a vector)."""
    action = environment.create_action(action_type=ACTION_VALUE)
    array = np.asarray(value)
    action.add_parameter("value", array.tolist() if array.ndim else array.item())
    return action


@final
class WorldModelGame(_Game):  # type: ignore[misc]
    """A pymasep ``Game`` simulated by a multi-agent world model.

    All agents act at once (``MULTIPLAYER_COORDINATION_WAITING_ALL``); each passes
    an ``Action`` of type `ACTION_VALUE` whose ``value`` parameter is its action
    (see `make_action`). ``next_state`` encodes nothing again: it continues from
    the latent state stored in the current state, so the model's recurrent memory
    is carried from call to call (and through pymasep's XML form). Rewards and the
    end of the episode are computed with the step and stored in the state:
    ``reward`` and ``is_final`` read them back.

    Args:
        model: A model with representation, latent_dynamics, obs_decoder and
            multi_agent capabilities (e.g. a trained `JOPMWithHeads`).
        initial_obs: Draws ``{agent: observation}`` for a new episode.
        reward_fn: ``(obs, actions, next_obs) -> {agent: reward}``; ``None`` uses the
            model's ``reward`` prediction (a team reward for every agent, or each agent's own).
        done_fn: ``(obs, actions, next_obs) -> {agent: terminated}`` (the episode ends
            when any agent terminates); ``None`` uses the model's ``continue``
            prediction against ``continue_threshold``.
        deterministic: Use the model's deterministic predictions.
        continue_threshold: Without a ``done_fn``, the episode ends below this.
        seed: Seeds ``initial_obs``.
        cfg: pymasep's game configuration (``root_path`` defaults to this package).

    Raises:
        CapabilityError: if the model lacks a needed capability.

    Example:
        >>> environment = pymasep.common.Environment()
        >>> environment.game = WorldModelGame(model, sampler)
        >>> environment.current_state = environment.game.initialize_state(environment)
        >>> environment.next_action = {"State.agent_0": make_action(environment, 1), ...}
        >>> environment.calculate_next_state()
    """

    def __init__(
        self,
        model: WorldModel,
        initial_obs: Callable[[np.random.Generator], Mapping[str, np.ndarray]],
        *,
        reward_fn: OutcomeFn | None = None,
        done_fn: OutcomeFn | None = None,
        deterministic: bool = True,
        continue_threshold: float = 0.5,
        seed: int = 0,
        cfg: Any = None,
    ) -> None:
        where = "WorldModelGame"
        for capability in (
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
            Capability.MULTI_AGENT,
        ):
            model.require(capability, where)
        if reward_fn is None:
            model.require(Capability.REWARD_PRED, "WorldModelGame without a reward_fn")
        if done_fn is None:
            model.require(Capability.CONTINUE_PRED, "WorldModelGame without a done_fn")
        self.model, self.initial_obs = model, initial_obs
        self.reward_fn, self.done_fn = reward_fn, done_fn
        self.deterministic, self.continue_threshold = deterministic, continue_threshold
        self.agent_names = list(model.contract().agents)
        self._rng = np.random.default_rng(seed)
        config = _OmegaConf.create({"root_path": os.path.dirname(__file__)})
        super().__init__(_OmegaConf.merge(config, cfg) if cfg is not None else config)

    def add_templates(self) -> None:
        """The templates of pymasep, of the agents and of the world-model object."""
        super().add_templates()
        for template in _TEMPLATES:
            self.add_template(_Template(self, template))

    def define_coord_methods(self) -> None:
        """Every agent acts at every step."""
        self.coord_method["play"] = _Game.MULTIPLAYER_COORDINATION_WAITING_ALL

    def init_state(self, environment: Any) -> Any:
        """A first state from ``initial_obs``, encoded by the model."""
        drawn = self.initial_obs(self._rng)
        obs = obs_batch({name: drawn[name] for name in self.agent_names})
        self.model.validate_observation(obs)
        with torch.no_grad():
            latent = self.model.encode(obs, deterministic=self.deterministic)
        return self._build(environment, latent, obs, {}, False)

    def _build(
        self,
        environment: Any,
        latent: State,
        obs: Mapping[str, torch.Tensor],
        rewards: Mapping[str, float],
        done: bool,
    ) -> Any:
        templates = self.templates
        state = environment.create_object(
            name="State", template=templates["SystemStateTemplate"], parent=None
        )
        for name in self.agent_names:
            agent = environment.create_object(
                name=name, template=templates["WorldModelAgent"], parent=state
            )
            agent.object_state.characteristics["Observation"].value = obs[name][0].tolist()
            state.add_object(agent)
        world = environment.create_object(
            name="WorldModel", template=templates["WorldModelObject"], parent=state
        )
        tensors = {**latent.tensors, **{_OBS + name: obs[name] for name in self.agent_names}}
        envelope = State(tensors, latent.meta).serialize()
        characteristics = world.object_state.characteristics
        characteristics["Envelope"].value = base64.b64encode(envelope).decode("ascii")
        characteristics["Rewards"].value = {f"State.{k}": v for k, v in rewards.items()}
        characteristics["Done"].value = done
        state.add_object(world)
        return state

    def _actions(self, actions: Mapping[str, Any]) -> dict[str, Any]:
        values = {}
        for name in self.agent_names:
            action = actions.get(f"State.{name}")
            if action is None or "value" not in getattr(action, "params", {}):
                raise ContractError(
                    f"WorldModelGame.next_state: no action with a 'value' parameter for agent "
                    f"'State.{name}'; got actions for {sorted(actions)}"
                )
            values[name] = action.params["value"]
        return values

    def next_state(
        self, current_state: Any, actions: Mapping[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        """The model's next state under the agents' actions, with rewards and the end flag."""
        where = "WorldModelGame.next_state"
        values = self._actions(actions)
        whole = _envelope(current_state, where)
        prev = {name: whole.tensors[_OBS + name][0].numpy() for name in self.agent_names}
        latent = State(
            {k: v for k, v in whole.tensors.items() if not k.startswith(_OBS)}, whole.meta
        )
        payload = joint_payload(self.model.contract(), values)
        self.model.validate_action(payload)
        with torch.no_grad():
            latent = self.model.transition(latent, payload, deterministic=self.deterministic)
            decoded = self.model.decode(latent).predictions
        obs = {name: decoded[name].detach() for name in self.agent_names}
        nxt = {name: value[0].numpy() for name, value in obs.items()}
        for name, value in nxt.items():
            if not np.isfinite(value).all():
                raise ContractError(f"the model predicted NaN or inf in obs[{name!r}] [{where}]")
        rewards, done = step_outcome(
            self.model.contract(),
            decoded,
            (prev, values, nxt),
            reward_fn=self.reward_fn,
            done_fn=self.done_fn,
            continue_threshold=self.continue_threshold,
            where=where,
        )
        state = self._build(current_state.environment, latent, obs, rewards, done)
        return state, {"state_changed": True}

    def reward(
        self, previous_state: Any, actions: Mapping[str, Any] | None, next_state: Any
    ) -> dict[str, float]:
        """``{agent full name: reward}`` of the step that led to ``next_state``."""
        rewards = _characteristics(next_state, "State.WorldModel", "WorldModelGame.reward")
        return dict(rewards["Rewards"].value)

    def is_final(self, state: Any) -> bool:
        """Whether the step that led to ``state`` ended the episode."""
        return bool(
            _characteristics(state, "State.WorldModel", "WorldModelGame.is_final")["Done"].value
        )

    @classmethod
    def observe_state(cls, state: Any, agent_fname: str) -> Any:
        """A copy of ``state`` without the model's latent; other agents' observations are empty."""
        seen = super().observe_state(state, agent_fname)
        seen.objects.pop("State.WorldModel", None)
        for key, obj in seen.objects.items():
            if key != agent_fname and "Observation" in getattr(
                obj.object_state, "characteristics", {}
            ):
                obj.object_state.characteristics["Observation"].value = []
        return seen


def collect_episodes(
    environment: Any,
    spec: DatasetSpec,
    *,
    episodes: int,
    policy: Callable[[Mapping[str, np.ndarray], np.random.Generator], Mapping[str, Any]],
    observe: Callable[[Any, str], Any],
    act: Callable[[Any, str, Any], Any] | None = None,
    max_steps: int = 100,
    seed: int = 0,
) -> EpisodeDataset:
    """Run a pymasep game through its ``Environment`` and record the episodes.

    Each episode starts from ``environment.game.initialize_state(environment)``; at
    every step ``policy`` chooses each agent's action from the observations, pymasep
    computes the next state (``calculate_next_state``), the rewards
    (``calculate_reward``) and the end of the episode (``calculate_end_episode``). An
    episode ends when the game says so (recorded as a termination) or after
    ``max_steps`` steps (a truncation).

    Args:
        environment: A pymasep ``Environment`` whose ``game`` is set.
        spec: The agents (by name, without the ``State.`` prefix) and their sizes.
        episodes: Number of episodes.
        policy: ``(observations, generator) -> {agent: action value}``.
        observe: ``(pymasep state, agent) -> observation vector``.
        act: ``(environment, agent, value) -> pymasep Action``; by default `make_action`.
        max_steps: Steps after which an episode is cut off.
        seed: Seeds the policy's generator.
    """
    if max_steps < 1:
        raise ContractError(f"collect_episodes: max_steps must be at least 1; got {max_steps}")
    rng = np.random.default_rng(seed)
    make = act if act is not None else (lambda env, _agent, value: make_action(env, value))
    names = spec.agent_names
    recorded = []
    for _ in range(episodes):
        environment.clear_all_state_elements()
        environment.current_state = environment.game.initialize_state(environment)
        obs = {n: [np.asarray(observe(environment.current_state, n), np.float32)] for n in names}
        actions: dict[str, list[Any]] = {n: [] for n in names}
        rewards: dict[str, list[float]] = {n: [] for n in names}
        ended = False
        while not ended and len(rewards[names[0]]) < max_steps:
            chosen = policy({n: obs[n][-1] for n in names}, rng)
            environment.next_action = {f"State.{n}": make(environment, n, chosen[n]) for n in names}
            environment.calculate_next_state()
            environment.calculate_reward()
            environment.calculate_end_episode()
            ended = bool(environment.end_episode)
            given = environment.current_additional_info.get("reward") or {}
            for n in names:
                obs[n].append(np.asarray(observe(environment.current_state, n), np.float32))
                actions[n].append(chosen[n])
                rewards[n].append(float(given.get(f"State.{n}", 0.0)))
        recorded.append(_episode(spec, obs, actions, rewards, ended))
    return EpisodeDataset(spec, recorded, meta={"source": "pymasep"})


def _episode(
    spec: DatasetSpec,
    obs: Mapping[str, list[np.ndarray]],
    actions: Mapping[str, list[Any]],
    rewards: Mapping[str, list[float]],
    ended: bool,
) -> Episode:
    steps = len(rewards[spec.agent_names[0]])
    flags = [False] * steps
    last = {n: torch.tensor(flags[:-1] + [True], dtype=torch.bool) for n in spec.agent_names}
    none = {n: torch.tensor(flags, dtype=torch.bool) for n in spec.agent_names}

    def action_tensor(name: str) -> torch.Tensor:
        if spec.agent(name).action_kind == "discrete":
            return torch.tensor([int(v) for v in actions[name]], dtype=torch.int64)
        return torch.tensor(np.asarray(actions[name], dtype=np.float32).reshape(steps, -1))

    return Episode(
        obs={n: torch.from_numpy(np.stack(obs[n])) for n in spec.agent_names},
        actions={n: action_tensor(n) for n in spec.agent_names},
        rewards={n: torch.tensor(rewards[n], dtype=torch.float32) for n in spec.agent_names},
        terminated=last if ended else none,
        truncated=none if ended else last,
    )
