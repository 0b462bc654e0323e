"""The ``wmsdk`` command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ._version import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="wmsdk",
    help="worldmodel-sdk: typed world models, their wire format and their conformance checks.",
    no_args_is_help=True,
    add_completion=False,
)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(models_app, name="models")

console = Console()


@app.command()
def version() -> None:
    """Print the SDK version."""
    console.print(f"worldmodel-sdk {__version__}")


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
    console.print(table)


def main() -> None:
    """Entry point of the ``wmsdk`` console script."""
    app()
