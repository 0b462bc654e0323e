"""Simulated environments built from trained world models.

- `WorldModelEnv`: a PettingZoo ``ParallelEnv`` driven by a multi-agent model;
- `SingleAgentEnv`: one of its agents as a Gymnasium ``Env``;
- `ComponentFunctions`: the user's reward, termination and rendering functions;
- `EpisodeStartSampler`: initial observations drawn from recorded episodes;
- `save_env` / ``WorldModelEnv.from_pretrained``: a model directory that holds what
  the env needs (recorded starts, settings, the task's components by name).

Needs the ``envs`` extra (gymnasium, pettingzoo).
"""

from __future__ import annotations

from .components import (
    ComponentFunctions,
    EpisodeStartSampler,
    InitialObsSampler,
    JointAction,
    JointObs,
)
from .pretrained import RecordedStarts, register_components, save_env
from .single_agent import OthersPolicy, SingleAgentEnv
from .world_model_env import WorldModelEnv

__all__ = [
    "ComponentFunctions",
    "EpisodeStartSampler",
    "InitialObsSampler",
    "JointAction",
    "JointObs",
    "OthersPolicy",
    "RecordedStarts",
    "SingleAgentEnv",
    "WorldModelEnv",
    "register_components",
    "save_env",
]
