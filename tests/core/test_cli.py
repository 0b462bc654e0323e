from typer.testing import CliRunner

from worldmodel_sdk import __version__
from worldmodel_sdk.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_models_list_shows_builtins():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "example" in result.output and "latent_dynamics" in result.output
