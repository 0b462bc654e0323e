"""``wmsdk check``: table, exit status, reports, --only, --xfail, bad targets."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from worldmodel_sdk.conformance.cli import check

from .broken import SPEC

app = typer.Typer()
app.command("check")(check)


@app.callback()
def main() -> None:
    """Test app."""


runner = CliRunner()


def test_passing_target_exits_zero_and_prints_a_table(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["check", f"{SPEC}:tiny", "--only", "rollout", "--json", str(tmp_path / "r.json")],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "rollout.horizon" in result.output and "passed" in result.output
    assert f"OK {SPEC}:tiny: 9 passed" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is True


def test_failing_target_exits_one_with_the_reproduction(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            f"{SPEC}:rollout_off_by_one",
            "--only",
            "rollout.horizon",
            "--junit-xml",
            str(tmp_path / "r.xml"),
            "--max-examples",
            "2",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 1
    assert f"FAILED {SPEC}:rollout_off_by_one: 1 failed" in result.output
    assert f"wmsdk check {SPEC}:rollout_off_by_one --only rollout.horizon" in result.output
    assert 'failures="1"' in (tmp_path / "r.xml").read_text()


def test_xfail_option_turns_the_failure_into_xfail() -> None:
    result = runner.invoke(
        app,
        [
            "check",
            f"{SPEC}:loss_not_finite",
            "--only",
            "loss.finite",
            "--xfail",
            "loss.finite=tracked upstream",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "xfail" in result.output


def test_bad_target_exits_two() -> None:
    result = runner.invoke(app, ["check", "nowhere.at.all:f"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "cannot load target 'nowhere.at.all:f'" in result.output


def test_unknown_check_is_a_usage_error() -> None:
    result = runner.invoke(app, ["check", f"{SPEC}:tiny", "--only", "rollout.horizn"])
    assert result.exit_code == 2


def test_bad_xfail_is_a_usage_error() -> None:
    result = runner.invoke(app, ["check", f"{SPEC}:tiny", "--xfail", "loss.finite"])
    assert result.exit_code == 2
