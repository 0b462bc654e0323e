"""A small real pymasep game to collect episodes from: agents drifting on a line."""

from __future__ import annotations

import os

import numpy as np
from omegaconf import OmegaConf
from pymasep.common import Environment, Game
from pymasep.common.template import Template

AGENTS = ["agent_2", "agent_10"]  # pymasep's creation order; natural order puts agent_2 first


class DriftGame(Game):
    """Each agent has a position and a velocity; actions 0/1/2 push left/none/right.

    Reward: minus the distance to 0. The episode ends when any agent leaves [-1.5, 1.5].
    """

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        super().__init__(OmegaConf.create({"root_path": os.path.dirname(__file__)}))

    def add_templates(self) -> None:
        super().add_templates()
        for template in (
            {"name": "Position", "created_class": "Characteristic", "value_type": "list"},
            {
                "name": "DriftAgentState",
                "created_class": "ObjectState",
                "subclass_templates": ["Position"],
            },
            {
                "name": "DriftAgent",
                "created_class": "Agent",
                "controller": "pymasep.common.Controller",
                "subclass_templates": ["DriftAgentState"],
            },
        ):
            self.add_template(Template(self, template))

    def define_coord_methods(self) -> None:
        self.coord_method["play"] = Game.MULTIPLAYER_COORDINATION_WAITING_ALL

    def _state(self, environment, positions):
        state = environment.create_object(
            name="State", template=self.templates["SystemStateTemplate"], parent=None
        )
        for name in AGENTS:
            agent = environment.create_object(
                name=name, template=self.templates["DriftAgent"], parent=state
            )
            agent.object_state.characteristics["Position"].value = positions[name]
            state.add_object(agent)
        return state

    def init_state(self, environment):
        return self._state(
            environment, {n: [float(self.rng.uniform(-0.5, 0.5)), 0.0] for n in AGENTS}
        )

    def next_state(self, current_state, actions):
        positions = {}
        for name in AGENTS:
            x, v = (
                current_state.objects[f"State.{name}"]
                .object_state.characteristics["Position"]
                .value
            )
            v = 0.9 * v + 0.05 * (actions[f"State.{name}"].params["value"] - 1)
            positions[name] = [x + v, v]
        return self._state(current_state.environment, positions), {"state_changed": True}

    def reward(self, previous_state, actions, next_state):
        return {f"State.{n}": -abs(position(next_state, n)[0]) for n in AGENTS}

    def is_final(self, state):
        return any(abs(position(state, n)[0]) > 1.5 for n in AGENTS)


def position(state, agent: str) -> list[float]:
    return state.objects[f"State.{agent}"].object_state.characteristics["Position"].value


def environment(game: Game) -> Environment:
    env = Environment(cfg=OmegaConf.create({}))
    env.game = game
    return env
