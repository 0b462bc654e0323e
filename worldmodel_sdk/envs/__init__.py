"""Simulated environments built from trained world models.

- `WorldModelEnv`: a PettingZoo ``ParallelEnv`` driven by a multi-agent model;
- `SingleAgentEnv`: one of its agents as a Gymnasium ``Env``;
- `ComponentFunctions`: the user's reward, termination and rendering functions;
- `EpisodeStartSampler`: initial observations drawn from recorded episodes;
- `save_env` / ``WorldModelEnv.from_pretrained``: a model directory that holds what
  the env needs (recorded starts, settings, the task's components by name);
- `WorldModelVectorEnv`: a Gymnasium vector env, one row of a single-agent model's
  batch per sub-environment, one model step per env step;
- `BatchedWorldModelEnv`: ``num_envs`` copies of a `WorldModelEnv` as one model batch.

Needs the ``envs`` extra (gymnasium, pettingzoo). `worldmodel_sdk.envs.sb3.SB3VecEnv`
(the ``rl`` extra) hands a vector env to Stable-Baselines3.
"""

from __future__ import annotations

from .batched import BatchedWorldModelEnv
from .components import (
    ComponentFunctions,
    EpisodeStartSampler,
    InitialObsSampler,
    JointAction,
    JointObs,
)
from .pretrained import RecordedStarts, register_components, save_env
from .single_agent import OthersPolicy, SingleAgentEnv
from .vector import BatchInitialObs, BatchStepFn, WorldModelVectorEnv
from .world_model_env import WorldModelEnv

__all__ = [
    "BatchInitialObs",
    "BatchStepFn",
    "BatchedWorldModelEnv",
    "ComponentFunctions",
    "EpisodeStartSampler",
    "InitialObsSampler",
    "JointAction",
    "JointObs",
    "OthersPolicy",
    "RecordedStarts",
    "SingleAgentEnv",
    "WorldModelEnv",
    "WorldModelVectorEnv",
    "register_components",
    "save_env",
]
