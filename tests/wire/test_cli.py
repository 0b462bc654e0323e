"""``wmsdk inspect``: reads without torch, always verifies, and user errors are one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from worldmodel_sdk.cli import run
from worldmodel_sdk.payloads.state import State
from worldmodel_sdk.wire import _inspect

PROBE = """
import sys
from worldmodel_sdk.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH")
sys.exit(code)
"""
WANT = "give the path of a file holding one wire envelope"


def make_state() -> State:
    return State(
        {"h": torch.arange(32.0).reshape(4, 8), "z": torch.zeros(4, dtype=torch.bfloat16)},
        meta={"seed": 0},
    )


def inspect_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_inspect_reads_and_verifies_without_importing_torch(tmp_path: Path) -> None:
    path = tmp_path / "s.wms"
    path.write_bytes(make_state().serialize())
    result = inspect_in_child(path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for text in ("float32", "bfloat16", "(4, 8)", "(4,)", "checksum: ok", "{'seed': 0}"):
        assert text in result.stdout
    assert result.stdout.rstrip().endswith("NO-TORCH")


def test_inspect_of_a_damaged_file_fails_its_checksum_without_torch(tmp_path: Path) -> None:
    path = tmp_path / "s.wms"
    payload = bytearray(make_state().serialize())
    payload[-9] ^= 1  # a data byte: the structure stays valid
    path.write_bytes(payload)
    result = inspect_in_child(path)
    assert result.returncode == 2
    assert "checksum: mismatch" in result.stdout and "NO-TORCH" in result.stdout
    assert result.stderr == (
        f"wmsdk: error: {str(path)!r} fails its checksum: its bytes changed after they were "
        "written; write or copy the file again\n"
    )


def _error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = run(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    return status, err.rstrip("\n")


def test_inspect_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "missing.wms"
    assert _error_of(["inspect", str(path)], capsys) == (
        2,
        f"wmsdk: error: {str(path)!r} does not exist; {WANT}",
    )


def test_inspect_of_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _error_of(["inspect", str(tmp_path)], capsys) == (
        2,
        f"wmsdk: error: {str(tmp_path)!r} is a directory, not a file; {WANT}",
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            b"not an envelope at all.....",
            "bad magic: expected b'\\x89WMS\\r\\n\\x1a\\n', got b'not an e'",
        ),
        (b"", "truncated at offset 0: the preamble needs 24 bytes"),
        (None, "truncated at offset 100: the header ends at offset 192"),
    ],
    ids=["text", "empty", "truncated"],
)
def test_inspect_of_a_file_that_is_no_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, problem: str
) -> None:
    path = tmp_path / "x.wms"
    path.write_bytes(make_state().serialize()[:100] if content is None else content)
    status, err = _error_of(["inspect", str(path)], capsys)
    assert status == 2
    assert err == (
        f"wmsdk: error: {str(path)!r} is not a valid wire envelope ({problem}); give a file "
        "written by State.serialize or write_state"
    )


def test_inspect_of_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Permission bits do not stop root (as in many CI containers): refuse the open itself.
    path = tmp_path / "s.wms"
    path.write_bytes(make_state().serialize())

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_inspect, "open", refuse, raising=False)
    assert _error_of(["inspect", str(path)], capsys) == (
        2,
        f"wmsdk: error: {str(path)!r} cannot be read (Permission denied); check the path and "
        "its permissions",
    )


def test_inspect_through_a_file_where_a_directory_should_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = tmp_path / "s.wms"
    parent.write_bytes(b"")
    path = parent / "inner.wms"
    assert _error_of(["inspect", str(path)], capsys) == (
        2,
        f"wmsdk: error: {str(path)!r} cannot be read (Not a directory); check the path and its "
        "permissions",
    )


def test_inspect_has_no_switch_to_skip_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.wms"
    path.write_bytes(make_state().serialize())
    status, err = _error_of(["inspect", str(path), "--no-verify"], capsys)
    assert status == 2 and re.search("No such option: --no-verify", err)
