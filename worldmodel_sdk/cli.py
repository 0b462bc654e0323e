"""The ``wmsdk`` command line.

Start-up imports only typer and rich: each command imports what it needs when it
runs, and ``check`` (the conformance suite) is loaded only when it is invoked or
its own help is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ._cli_lazy import Deferred, LazyGroup
from ._version import __version__
from .wire.cli import inspect_command, shm_app

__all__ = ["app", "main"]


class _Group(LazyGroup):
    deferred = {
        "check": Deferred(
            "worldmodel_sdk.conformance.cli",
            "check",
            "Check that models honour the worldmodel-sdk protocol.",
        )
    }


app = typer.Typer(
    name="wmsdk",
    help="worldmodel-sdk: typed world models, their wire format and their conformance checks.",
    no_args_is_help=True,
    add_completion=False,
    cls=_Group,
)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(shm_app, name="shm")
app.command("inspect")(inspect_command)

console = Console()


def _print_version(value: bool) -> None:
    if value:
        console.print(f"worldmodel-sdk {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """worldmodel-sdk: typed world models, their wire format and their conformance checks."""


@app.command()
def version() -> None:
    """Print the SDK version."""
    console.print(f"worldmodel-sdk {__version__}", highlight=False)


@app.command()
def quickstart(
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Where the model and the figures are written.")
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
    from .quickstart import QuickstartSettings

    settings = QuickstartSettings(
        out_dir=out_dir,
        episodes=episodes,
        eval_episodes=eval_episodes,
        epochs=epochs,
        seed=seed,
        progress=progress,
    )
    from .quickstart import results_table, run_quickstart

    result = run_quickstart(settings, console=console)
    console.print(results_table(result))
    console.print(f"model: {result.model_dir}", highlight=False)
    console.print(f"plot: {result.plot_path}", highlight=False)
    console.print(
        f"WorldModelEnv episode return (agent_0): {result.env_return:.2f}; "
        f"total {result.seconds:.0f}s"
    )


@models_app.command("list")
def models_list() -> None:
    """List registered models (built-in and entry-point plugins)."""
    from rich.table import Table

    from .registry import describe_models

    table = Table(title="Registered world models")
    table.add_column("name")
    table.add_column("class")
    table.add_column("capabilities")
    for name, target, caps in describe_models():
        table.add_row(name, target, caps)
    console.print(table)


def main() -> None:
    """Entry point of the ``wmsdk`` console script."""
    typer.main.get_command(app).main(prog_name="wmsdk")


if __name__ == "__main__":
    main()
