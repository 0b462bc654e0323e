"""``wmsdk --help``, ``version``, ``--version``, sub-help and ``shm list/gc`` do not import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from worldmodel_sdk.cli import _Group, app

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


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["version"],
        ["--version"],
        ["models", "--help"],
        ["shm", "--help"],
        ["shm", "list", "--namespace", "wmsdk-startup-probe"],
        ["shm", "gc", "--dry-run", "--namespace", "wmsdk-startup-probe"],
    ],
    ids=" ".join,
)
def test_command_runs_without_importing_torch(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("NO-TORCH")
    assert result.stderr == ""


def test_deferred_commands_help_matches_their_own() -> None:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    for name, deferred in _Group.deferred.items():
        command = group.get_command(ctx, name)
        assert command.get_short_help_str(200) == deferred.help
        assert command.params, f"{name} was not loaded"
