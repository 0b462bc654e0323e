"""``wmsdk check``: table, exit status, reports, --only, --xfail, bad targets."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from worldmodel_sdk.conformance import get_check
from worldmodel_sdk.conformance.cli import check
from worldmodel_sdk.registry import create_model

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
    assert f"OK {SPEC}:tiny: 6 passed" in result.output
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


def _one_error_line(result: Any, message: str) -> None:
    assert result.exit_code == 2
    assert result.stderr == f"wmsdk: error: {message}\n"
    assert "Traceback" not in result.output


def test_bad_target_exits_two_with_one_line_on_stderr() -> None:
    result = runner.invoke(app, ["check", "nowhere.at.all:f"], env={"COLUMNS": "200"})
    _one_error_line(
        result,
        "cannot load target 'nowhere.at.all:f': ValueError: cannot import 'nowhere.at.all' for "
        "target 'nowhere.at.all:f': No module named 'nowhere'",
    )


def test_a_factory_that_raises_is_a_load_error_not_a_traceback() -> None:
    result = runner.invoke(app, ["check", f"{SPEC}:SPEC.upper"], env={"COLUMNS": "200"})
    _one_error_line(
        result,
        f"cannot load target '{SPEC}:SPEC.upper': TypeError: {SPEC}:SPEC.upper must return a "
        "WorldModel, a (WorldModel, WorldModelInput) pair or a Target; got str",
    )


def test_unknown_check_suggests_the_closest_names() -> None:
    result = runner.invoke(app, ["check", f"{SPEC}:tiny", "--only", "rollout.horizn"])
    _one_error_line(
        result,
        "--only: unknown check 'rollout.horizn'. Did you mean 'rollout.horizon', "
        "'rollout.trajectory'?",
    )


def test_xfail_names_are_checked_too() -> None:
    result = runner.invoke(app, ["check", f"{SPEC}:tiny", "--xfail", "loss.finit=reason"])
    _one_error_line(
        result,
        "--xfail: unknown check 'loss.finit'. Did you mean 'loss.finite', 'loss.gradients'?",
    )


def test_bad_xfail_is_a_usage_error() -> None:
    result = runner.invoke(app, ["check", f"{SPEC}:tiny", "--xfail", "loss.finite"])
    _one_error_line(result, "--xfail: expected CHECK=REASON; got 'loss.finite'")


def test_check_a_saved_model_directory(tmp_path: Path) -> None:
    create_model("rdlm").save_pretrained(tmp_path / "saved")
    result = runner.invoke(
        app, ["check", str(tmp_path / "saved"), "--only", "rollout"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    assert f"OK {tmp_path / 'saved'}: 6 passed" in result.output


def test_allow_missing_extras_turns_env_failures_into_not_applicable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    args = ["check", f"{SPEC}:multi_tiny", "--only", "env"]
    assert runner.invoke(app, args, env={"COLUMNS": "200"}).exit_code == 1
    result = runner.invoke(app, [*args, "--allow-missing-extras"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2 not_applicable" in result.output


def test_progress_is_shown_on_a_terminal_only() -> None:
    from rich.console import Console

    from worldmodel_sdk.conformance.cli import _progress

    quiet = Console(file=io.StringIO(), force_terminal=False)
    with _progress(quiet, "t") as callbacks:
        assert callbacks == (None, None)
    out = io.StringIO()
    tty = Console(file=out, force_terminal=True, width=80)
    with _progress(tty, "t") as (on_start, on_result):
        assert on_start is not None and on_result is not None
        on_start(get_check("loss.scalar"), 0, 2)
    assert "t: loss.scalar" in out.getvalue()
