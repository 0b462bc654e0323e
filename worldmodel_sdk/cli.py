"""The ``wmsdk`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ._version import __version__
from .conformance.cli import check
from .wire.cli import inspect_command, shm_app

__all__ = ["app", "main", "models_app", "models_list", "quickstart", "version"]

app = typer.Typer(
    name="wmsdk",
    help="worldmodel-sdk: typed world models, their wire format and their conformance checks.",
    no_args_is_help=True,
    add_completion=False,
)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(shm_app, name="shm")
app.command("inspect")(inspect_command)
app.command("check")(check)

_console = Console()


@app.command()
def version() -> None:
    """Print the SDK version."""
    _console.print(f"worldmodel-sdk {__version__}")


@app.command()
def quickstart(
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Where the model and the plot are written.")
    ] = Path("wmsdk-quickstart"),
    episodes: Annotated[int, typer.Option(help="Random-policy training episodes.")] = 300,
    eval_episodes: Annotated[
        int, typer.Option(help="Held-out evaluation episodes (other seeds).")
    ] = 50,
    epochs: Annotated[
        int, typer.Option(help="Maximum epochs (early stopping may end sooner).")
    ] = 30,
    seed: Annotated[int, typer.Option(help="Seed of collection, split and training.")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Collect simple_spread episodes, train JOPM, compare it with copy-last, save, reload, play."""
    from .quickstart import QuickstartSettings, results_table, run_quickstart

    settings = QuickstartSettings(
        out_dir=out_dir,
        episodes=episodes,
        eval_episodes=eval_episodes,
        epochs=epochs,
        seed=seed,
        progress=progress,
    )
    result = run_quickstart(settings, console=_console)
    _console.print(results_table(result))
    _console.print(f"model: {result.model_dir}  plot: {result.plot_path}")
    _console.print(
        f"WorldModelEnv episode return (agent_0): {result.env_return:.2f}; "
        f"total {result.seconds:.0f}s"
    )


@models_app.command("list")
def models_list() -> None:
    """List registered models (built-in and entry-point plugins)."""
    from .registry import describe_models

    table = Table(title="Registered world models")
    table.add_column("name")
    table.add_column("class")
    table.add_column("capabilities")
    for name, target, caps in describe_models():
        table.add_row(name, target, caps)
    _console.print(table)


def main() -> None:
    """Entry point of the ``wmsdk`` console script."""
    app()
