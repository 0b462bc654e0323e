"""``wmsdk``: commands, and user errors as one line on stderr with exit status 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worldmodel_sdk import ContractError, __version__
from worldmodel_sdk._cli_errors import CliError, run_guarded
from worldmodel_sdk.cli import app, run

runner = CliRunner()


def user_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``wmsdk argv``, check it is a one-line user error, and return that line."""
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("wmsdk: error: ")
    return err[len("wmsdk: error: ") : -1]


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_version_option(capsys) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"worldmodel-sdk {__version__}\n"


def test_models_list_shows_builtins():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "example" in result.output and "latent_dynamics" in result.output


def test_unknown_command_suggests_the_closest(capsys) -> None:
    assert user_error(capsys, ["chek"]) == (
        "No such command 'chek'. Did you mean 'check'? (see 'wmsdk --help')"
    )


def test_unknown_option_names_the_command(capsys) -> None:
    assert user_error(capsys, ["version", "--bogus"]) == (
        "No such option: --bogus (see 'wmsdk version --help')"
    )


def test_option_of_the_wrong_type(capsys) -> None:
    message = user_error(capsys, ["quickstart", "--episodes", "many"])
    assert message.startswith("Invalid value for '--episodes': ")  # typer words the rest
    assert message.endswith(" (see 'wmsdk quickstart --help')")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--episodes", "1"], "--episodes is 1; input should be greater than or equal to 2"),
        (
            ["--eval-episodes", "0"],
            "--eval-episodes is 0; input should be greater than or equal to 1",
        ),
        (["--epochs", "0"], "--epochs is 0; input should be greater than or equal to 1"),
    ],
)
def test_quickstart_settings_out_of_range(capsys, tmp_path, argv, message) -> None:
    out_dir = tmp_path / "run"
    assert user_error(capsys, ["quickstart", "--out-dir", str(out_dir), *argv]) == message
    assert not out_dir.exists()


def test_quickstart_out_dir_is_a_file(capsys, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    assert user_error(capsys, ["quickstart", "--out-dir", str(target)]) == (
        f"--out-dir {str(target)!r} is a file; give a directory (created if missing)"
    )
    assert target.read_text() == "keep me"


def test_quickstart_out_dir_below_a_file(capsys, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    target = tmp_path / "taken" / "run"
    assert user_error(capsys, ["quickstart", "--out-dir", str(target)]) == (
        f"--out-dir {str(target)!r} cannot be created (Not a directory); give a writable directory"
    )


@pytest.mark.parametrize("module", ["mpe2", "pettingzoo", "matplotlib"])
def test_quickstart_without_the_envs_extra(capsys, monkeypatch, tmp_path, module) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # find_spec and import see it as missing
    assert user_error(capsys, ["quickstart", "--out-dir", str(tmp_path)]) == (
        f"the quickstart needs the 'envs' extra (module {module!r} is not installed); "
        "install it with: pip install 'worldmodel-sdk[envs]'"
    )


@pytest.mark.parametrize(
    "argv", [["check", "--only", "rolout"], ["check", "--xfail", "no-reason"]], ids=" ".join
)
def test_check_usage_errors_are_one_line(capsys, argv) -> None:
    message = user_error(capsys, argv)
    assert message.endswith("(see 'wmsdk check --help')")


def test_sdk_errors_are_user_errors(capsys) -> None:
    def refuse() -> None:
        raise ContractError("obs['x'] has shape (2,); contract expects (B, 3) [M.encode]")

    assert run_guarded(refuse, debug=False) == 2
    assert capsys.readouterr().err == (
        "wmsdk: error: obs['x'] has shape (2,); contract expects (B, 3) [M.encode]\n"
    )


@pytest.mark.parametrize(("module", "extra"), [("optuna", "hpo"), ("gymnasium.spaces", "envs")])
def test_a_missing_optional_module_names_its_extra(capsys, module, extra) -> None:
    def needs() -> None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    assert run_guarded(needs, debug=False) == 2
    top = module.partition(".")[0]
    assert capsys.readouterr().err == (
        f"wmsdk: error: this needs the {extra!r} extra (module {top!r} is not installed); "
        f"install it with: pip install 'worldmodel-sdk[{extra}]'\n"
    )


def test_other_errors_keep_their_traceback() -> None:
    def bug() -> None:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_guarded(bug, debug=False)
    with pytest.raises(ModuleNotFoundError):
        run_guarded(lambda: __import__("not_an_sdk_extra_module"), debug=False)


def test_interrupt_is_one_line(capsys) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    assert run_guarded(interrupted, debug=False) == 130
    assert capsys.readouterr().err == "wmsdk: interrupted\n"


def test_debug_flag_and_variable_show_the_traceback(monkeypatch) -> None:
    with pytest.raises(CliError, match=re.escape("--episodes is 1")):
        run(["--debug", "quickstart", "--episodes", "1"])
    monkeypatch.setenv("WMSDK_DEBUG", "1")
    with pytest.raises(CliError, match=re.escape("--episodes is 1")):
        run(["quickstart", "--episodes", "1"])


def test_console_script_prints_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worldmodel_sdk.cli", "quickstart", "--episodes", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "wmsdk: error: --episodes is 1; input should be greater than or equal to 2\n"
    )
