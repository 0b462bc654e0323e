"""``python -m worldmodel_sdk.conformance check TARGET``: the ``wmsdk check`` command alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from .._cli_errors import debug_requested, run_guarded
from .cli import check

__all__ = ["app", "main", "run"]

app = typer.Typer(name="worldmodel_sdk.conformance", add_completion=False, no_args_is_help=True)
app.command("check")(check)


@app.callback()
def main() -> None:
    """worldmodel-sdk conformance suite."""


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); user errors are one line."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    prog = "python -m worldmodel_sdk.conformance"
    debug = debug_requested(args, os.environ)
    return run_guarded(lambda: command.main(args, prog_name=prog, standalone_mode=False), debug)


if __name__ == "__main__":
    sys.exit(run())
