"""mkdocs hooks: pages show what the ``wmsdk`` command itself prints, at build time.

A line ``<!-- wmsdk: ARGS -->`` in a page becomes a text block holding the output
of ``wmsdk ARGS`` (e.g. ``<!-- wmsdk: check --help -->``), run in-process, 80
columns wide, without entry-point plugins — so the command-line reference cannot
fall behind the command.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # document this checkout's package, as mkdocstrings does

MARKER = re.compile(r"^<!-- wmsdk: (?P<args>[^>]*?) -->$", re.M)
WIDTH = 80


def wmsdk_output(args: list[str]) -> str:
    """What ``wmsdk args`` prints, trailing spaces removed; raises if it fails."""
    from typer.testing import CliRunner

    from worldmodel_sdk.cli import app

    env = {"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH), "WMSDK_DISABLE_PLUGINS": "1"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # rich reads the width from the process environment
    try:
        result = CliRunner().invoke(app, args, prog_name="wmsdk", env=env)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if result.exit_code != 0:
        raise RuntimeError(f"wmsdk {shlex.join(args)} exited {result.exit_code}: {result.output}")
    lines = [line.rstrip() for line in result.output.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip("\n")


def render(markdown: str) -> str:
    """``markdown`` with every ``<!-- wmsdk: ARGS -->`` line replaced by the output."""

    def block(match: re.Match[str]) -> str:
        args = shlex.split(match["args"])
        return f"```text\n$ wmsdk {shlex.join(args)}\n{wmsdk_output(args)}\n```"

    return MARKER.sub(block, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Render the markers of every page (the mkdocs ``on_page_markdown`` hook)."""
    return render(markdown)
