"""``wmsdk check``: table, exit status, reports, --only, --xfail, bad targets."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from worldmodel_sdk.cli import run
from worldmodel_sdk.conformance import __main__ as conformance_main
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


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert run(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"wmsdk: error: {message}\n"


def test_bad_target_exits_two_with_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _one_error_line(
        capsys,
        ["check", "nowhere.at.all:f"],
        "cannot load target 'nowhere.at.all:f': ValueError: cannot import 'nowhere.at.all' for "
        "target 'nowhere.at.all:f': No module named 'nowhere'; give pkg.module:factory, a "
        "registered model name (wmsdk models list) or a save_pretrained directory",
    )


def test_a_factory_returning_junk_is_a_load_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _one_error_line(
        capsys,
        ["check", f"{SPEC}:SPEC.upper"],
        f"cannot load target '{SPEC}:SPEC.upper': TypeError: {SPEC}:SPEC.upper must return a "
        "WorldModel, a (WorldModel, WorldModelInput) pair or a Target; got str; give "
        "pkg.module:factory, a registered model name (wmsdk models list) or a save_pretrained "
        "directory",
    )


def test_unknown_check_suggests_the_closest_names(capsys: pytest.CaptureFixture[str]) -> None:
    _one_error_line(
        capsys,
        ["check", f"{SPEC}:tiny", "--only", "rollout.horizn"],
        "Invalid value for --only: unknown check 'rollout.horizn'. Did you mean "
        "'rollout.horizon', 'rollout.trajectory'? (see 'wmsdk check --help')",
    )


def test_xfail_names_are_checked_too(capsys: pytest.CaptureFixture[str]) -> None:
    _one_error_line(
        capsys,
        ["check", f"{SPEC}:tiny", "--xfail", "loss.finit=reason"],
        "Invalid value for --xfail: unknown check 'loss.finit'. Did you mean 'loss.finite', "
        "'loss.gradients'? (see 'wmsdk check --help')",
    )


def test_bad_xfail_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    _one_error_line(
        capsys,
        ["check", f"{SPEC}:tiny", "--xfail", "loss.finite"],
        "Invalid value for --xfail: expected CHECK=REASON; got 'loss.finite' (see 'wmsdk check "
        "--help')",
    )


def test_the_module_entry_point_reports_errors_the_same_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert conformance_main.run(["check", f"{SPEC}:tiny", "--only", "nope.nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wmsdk: error: Invalid value for --only: unknown check 'nope.nope'.")
    assert err.endswith("(see 'python -m worldmodel_sdk.conformance check --help')\n")


def test_check_a_saved_model_directory(tmp_path: Path) -> None:
    create_model("rdlm").save_pretrained(tmp_path / "saved")
    result = runner.invoke(
        app, ["check", str(tmp_path / "saved"), "--only", "rollout"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    assert f"OK {tmp_path / 'saved'}: 9 passed" in result.output


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
