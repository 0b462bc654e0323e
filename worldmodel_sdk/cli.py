"""The ``wmsdk`` command line.

Start-up imports only typer and rich: each command imports what it needs when it
runs, and ``check`` (the conformance suite) is loaded only when it is invoked or
its own help is asked for. User errors print one line on stderr and exit with
status 2; ``--debug`` (or ``WMSDK_DEBUG=1``) shows their traceback instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ._cli_errors import CliError, debug_requested, extra_hint, run_guarded
from ._cli_lazy import Deferred, LazyGroup
from ._version import __version__
from .wire.cli import inspect_command, shm_app

if TYPE_CHECKING:
    from .quickstart import QuickstartSettings

__all__ = ["app", "main", "models_app", "models_list", "quickstart", "run", "version"]


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

_console = Console()

_QUICKSTART_MODULES = ("gymnasium", "pettingzoo", "mpe2", "matplotlib")
"""What the quickstart imports from the ``envs`` extra, checked before it starts."""


def _print_version(value: bool) -> None:
    if value:
        _console.print(f"worldmodel-sdk {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the traceback of errors (or set WMSDK_DEBUG=1)."),
    ] = False,
) -> None:
    """worldmodel-sdk: typed world models, their wire format and their conformance checks."""


@app.command()
def version() -> None:
    """Print the SDK version."""
    _console.print(f"worldmodel-sdk {__version__}", highlight=False)


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
    settings = _quickstart_settings(
        out_dir=out_dir,
        episodes=episodes,
        eval_episodes=eval_episodes,
        epochs=epochs,
        seed=seed,
        progress=progress,
    )
    from .quickstart import results_table, run_quickstart

    result = run_quickstart(settings, console=_console)
    _console.print(results_table(result))
    _console.print(f"model: {result.model_dir}", highlight=False)
    for figure in result.figures:
        _console.print(f"figure: {figure}", highlight=False)
    _console.print(
        f"WorldModelEnv episode return (agent_0): {result.env_return:.2f}; "
        f"total {result.seconds:.0f}s"
    )


def _quickstart_settings(**options: Any) -> QuickstartSettings:
    """Validated settings, or a `CliError` naming the option (checked before any work)."""
    from pydantic import ValidationError

    for module in _QUICKSTART_MODULES:
        if importlib.util.find_spec(module) is None:
            raise CliError(f"the quickstart {extra_hint(module)}")
    from .quickstart import QuickstartSettings

    try:
        settings = QuickstartSettings(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0])
        message = first["msg"]
        raise CliError(
            f"--{field.replace('_', '-')} is {first['input']!r}; {message[0].lower()}{message[1:]}"
        ) from exc
    _check_out_dir(settings.out_dir)
    return settings


def _check_out_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise CliError(f"--out-dir {str(path)!r} is a file; give a directory (created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"--out-dir {str(path)!r} cannot be created ({exc.strerror}); give a writable directory"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise CliError(f"--out-dir {str(path)!r} is not writable; give a writable directory")


@models_app.command("list")
def models_list() -> None:
    """List registered models (built-in and entry-point plugins)."""
    from rich.table import Table

    from .registry import describe_models

    table = Table(title="Registered world models")
    table.add_column("name")
    table.add_column("class", overflow="fold")
    table.add_column("capabilities")
    for name, target, caps in describe_models():
        table.add_row(name, target, caps)
    _console.print(table)


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``wmsdk`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    debug = debug_requested(args, os.environ)
    return run_guarded(lambda: command.main(args, prog_name="wmsdk", standalone_mode=False), debug)


def main() -> None:
    """Entry point of the ``wmsdk`` console script."""
    sys.exit(run())


if __name__ == "__main__":
    main()
