"""``python -m worldmodel_sdk.conformance check TARGET``: the ``wmsdk check`` command alone."""

from __future__ import annotations

import typer

from .cli import check

app = typer.Typer(name="worldmodel_sdk.conformance", add_completion=False, no_args_is_help=True)
app.command("check")(check)


@app.callback()
def main() -> None:
    """worldmodel-sdk conformance suite."""


if __name__ == "__main__":
    app()
