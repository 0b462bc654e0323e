from __future__ import annotations

import worldmodel_sdk.data

EXPECTED = [
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


def test_public_surface_is_pinned() -> None:
    assert sorted(worldmodel_sdk.data.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(worldmodel_sdk.data, name), name


def test_no_pickle_in_the_package() -> None:
    from pathlib import Path

    package = Path(worldmodel_sdk.data.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "import pickle" not in text and "torch.load(" not in text, source.name
