"""Trajectory data: episodes, datasets on disk, trace files and collection from real envs.

The pieces, one concept per module:

- `naming`: `natural_sort_key` / `natural_sorted` (``agent_2`` before ``agent_10``);
- `spec`: `AgentSpec`, `DatasetSpec` (per-agent observation and action sizes);
- `episode`: `Episode` (per-agent tensors of one episode);
- `checks`: small named checks raising `ContractError`;
- `dataset`: `EpisodeDataset` (in memory, split by episode, fixed-length windows);
- `windows`: `WindowBatch`, `build_windows`;
- `joint`: joint observation / action vectors and back;
- `storage`: safetensors shards + ``index.json`` on disk;
- `traces`: the per-episode JSON trace files of the original pipeline;
- `policies`, `collect`: collecting episodes from PettingZoo and Gymnasium envs.
"""

from __future__ import annotations

from ..naming import natural_sort_key, natural_sorted
from .checks import check_agent_names, check_episode, check_finite, check_step_observations
from .collect import collect_gym, collect_parallel, spec_from_gym_env, spec_from_parallel_env
from .dataset import EpisodeDataset
from .episode import Episode, TensorsByAgent
from .joint import concat_joint_obs, decode_joint_action, encode_joint_action, split_joint_obs
from .policies import JointPolicy, RandomJointPolicy
from .spaces import action_from_env, action_to_env, agent_spec_from_spaces, flatten_observation
from .spec import ActionKind, AgentSpec, DatasetSpec
from .storage import DatasetIndex, EpisodeEntry, load_dataset, read_index, save_dataset
from .traces import (
    TRACE_PREFIX,
    infer_trace_spec,
    read_trace,
    read_traces,
    trace_files,
    trace_pairs,
    write_trace,
    write_traces,
)
from .windows import WindowBatch, build_windows

__all__ = [
    "ActionKind",
    "AgentSpec",
    "DatasetIndex",
    "DatasetSpec",
    "Episode",
    "EpisodeDataset",
    "EpisodeEntry",
    "JointPolicy",
    "RandomJointPolicy",
    "TRACE_PREFIX",
    "TensorsByAgent",
    "WindowBatch",
    "action_from_env",
    "action_to_env",
    "agent_spec_from_spaces",
    "build_windows",
    "check_agent_names",
    "check_episode",
    "check_finite",
    "check_step_observations",
    "collect_gym",
    "collect_parallel",
    "concat_joint_obs",
    "decode_joint_action",
    "encode_joint_action",
    "flatten_observation",
    "infer_trace_spec",
    "load_dataset",
    "natural_sort_key",
    "natural_sorted",
    "read_index",
    "read_trace",
    "read_traces",
    "save_dataset",
    "spec_from_gym_env",
    "spec_from_parallel_env",
    "split_joint_obs",
    "trace_files",
    "trace_pairs",
    "write_trace",
    "write_traces",
]
