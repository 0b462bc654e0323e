"""Trace reading holds the file's text plus one step, never a decoded copy of the whole file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from worldmodel_sdk.data import AgentSpec, DatasetSpec, read_trace
from worldmodel_sdk.errors import ContractError, SerializationError

SPEC = DatasetSpec.from_agents(
    [
        AgentSpec(name="agent_0", obs_size=2, action_kind="discrete", action_size=5),
        AgentSpec(name="agent_1", obs_size=3, action_kind="continuous", action_size=2),
    ]
)
GOOD_STEP = [[[0.0, 1.0], [2.0, 3.0, 4.0]], [1, [0.5, -0.5]]]

# The child maps what it needs first, then caps its address space at what it has plus
# three times the largest file and 64 MiB, then reads: an allocation past that is a
# MemoryError instead of a refusal or a result.
CAPPED_READER = """
import resource, sys
from pathlib import Path
from worldmodel_sdk.data import AgentSpec, DatasetSpec, read_trace, read_traces
from worldmodel_sdk.errors import ContractError

spec = DatasetSpec.from_agents([
    AgentSpec(name="agent_0", obs_size=2, action_kind="discrete", action_size=5),
    AgentSpec(name="agent_1", obs_size=3, action_kind="continuous", action_size=2),
])
small, *paths = map(Path, sys.argv[1:])
read_traces(small)  # warm up every code path on a small file
pages = int(Path("/proc/self/statm").read_text().split()[0])
largest = max(path.stat().st_size for path in paths)
limit = pages * resource.getpagesize() + 3 * largest + (64 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for path in paths:
    for read in (lambda: read_trace(path, spec).length, lambda: len(read_traces(path.parent))):
        try:
            print("read:", read())
        except ContractError as exc:
            print("refused:", str(exc).replace(str(path), "<file>"))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_trace_reading_stays_within_a_memory_cap(tmp_path):
    files = []
    for name, text in [
        ("small", json.dumps([GOOD_STEP] * 3)),
        # 15 MB of "[]," decoded at once costs ~375 MB of Python lists.
        ("hostile", "[" + "[]," * 5_000_000 + "[]]"),
        ("valid", json.dumps([[[[0.125, 1.5], [2.25, 3.0, -4.5]], [1, [0.5, -0.5]]]] * 20_000)),
    ]:
        (tmp_path / name).mkdir()
        files.append(tmp_path / name / "joint_history_0.json")
        files[-1].write_text(text)
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CAPPED_READER), str(tmp_path / "small"),
         str(files[1]), str(files[2])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.splitlines() == [
        "refused: <file>, step 0: expected a [joint observation, joint action] pair, optionally "
        "followed by the joint reward, or by the joint reward, joint terminated and joint "
        "truncated (2, 3 or 5 items); got a list of 0 items",
        "refused: <file>, step 0: expected a [joint observation, joint action] pair, optionally "
        "followed by the joint reward, or by the joint reward, joint terminated and joint "
        "truncated (2, 3 or 5 items); got a list of 0 items",
        "read: 19999",
        "read: 1",
    ]


def _one_step_file(tmp_path: Path, step: str) -> Path:
    path = tmp_path / "joint_history_0.json"
    path.write_text(f"[{json.dumps(GOOD_STEP)}, {step}]")
    return path


def test_a_step_with_too_many_lists_is_refused_undecoded(tmp_path):
    path = _one_step_file(tmp_path, "[" + "[]," * 200 + "[]]")
    message = f"{path}, step 1: the step holds more than 100 lists or objects"
    with pytest.raises(ContractError, match=f"^{re.escape(message)}$"):
        read_trace(path, SPEC)


def test_a_step_with_too_many_values_is_refused_undecoded(tmp_path):
    path = _one_step_file(tmp_path, "[[[0.0, " + "1, " * 130 + "1], [2, 3, 4]], [1, [0, 0]]]")
    message = f"{path}, step 1: the step holds more than 120 values"
    with pytest.raises(ContractError, match=f"^{re.escape(message)}$"):
        read_trace(path, SPEC)
    path = _one_step_file(tmp_path, "[[[0.0, " + '"x", ' * 200 + "1], [2, 3, 4]], [1, [0, 0]]]")
    message = f"{path}, step 1: the step holds more than 120 strings"
    with pytest.raises(ContractError, match=f"^{re.escape(message)}$"):
        read_trace(path, SPEC)


@pytest.mark.parametrize(
    "text",
    [
        "[[[[0.0, 1.0]",
        f"[{json.dumps(GOOD_STEP)},]",
        f"[{json.dumps(GOOD_STEP)}] []",
        f"[{json.dumps(GOOD_STEP)}",
        f"[{json.dumps(GOOD_STEP)},\n {json.dumps(GOOD_STEP)[:-3]}",
    ],
)
def test_json_errors_found_while_streaming_match_json_loads(tmp_path, text):
    path = tmp_path / "joint_history_0.json"
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError) as whole:
        json.loads(text)
    error = whole.value
    message = f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    with pytest.raises(SerializationError, match=f"^{re.escape(message)}$"):
        read_trace(path, SPEC)


def test_a_huge_top_level_string_is_named_not_decoded(tmp_path):
    path = tmp_path / "joint_history_0.json"
    path.write_text('"' + "x" * 1000 + '"')
    expected = (
        f"{path}: expected a non-empty list of [joint observation, joint action] pairs; got a str"
    )
    with pytest.raises(ContractError, match=f"^{re.escape(expected)}$"):
        read_trace(path, SPEC)


@pytest.mark.timeout(20)
def test_special_files_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "joint_history_0.json")
    message = f"{tmp_path / 'joint_history_0.json'} is a FIFO, not a regular file"
    with pytest.raises(SerializationError, match=re.escape(message)):
        read_trace(tmp_path / "joint_history_0.json", SPEC)
    (tmp_path / "joint_history_0.json").unlink()
    (tmp_path / "joint_history_0.json").symlink_to("/dev/zero")
    with pytest.raises(SerializationError, match="is a character device, not a regular file"):
        read_trace(tmp_path / "joint_history_0.json", SPEC)
