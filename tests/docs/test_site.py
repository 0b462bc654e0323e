"""The site covers the public API and builds with ``mkdocs build --strict``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import worldmodel_sdk

from .markdown_blocks import DOCS

ROOT = DOCS.parent


def test_api_reference_covers_all() -> None:
    page = (DOCS / "reference" / "api.md").read_text("utf-8")
    rendered = set(re.findall(r"^::: worldmodel_sdk\.(\w+)\s*$", page, re.M))
    public = {name for name in worldmodel_sdk.__all__ if not name.startswith("__")}
    assert sorted(public - rendered) == []
    assert "`worldmodel_sdk.__version__`" in page


def test_nav_pages_exist() -> None:
    config = (ROOT / "mkdocs.yml").read_text("utf-8")
    pages = re.findall(r":\s*([\w/-]+\.md)\s*$", config, re.M)
    assert "index.md" in pages
    assert [p for p in pages if not (DOCS / p).is_file()] == []


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="needs the docs extra",
)
def test_strict_build(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "guide" / "writing-a-model" / "index.html").is_file()


def _command_paths(command: object, prefix: str) -> list[str]:
    # Duck-typed: typer may bring its own copy of click's Group class.
    subcommands = getattr(command, "commands", None)
    if not isinstance(subcommands, dict):
        return [prefix]
    paths = []
    for name, sub in sorted(subcommands.items()):
        paths.extend(_command_paths(sub, f"{prefix} {name}"))
    return paths


def test_cli_reference_covers_every_command() -> None:
    import typer.main

    from worldmodel_sdk.cli import app

    page = (DOCS / "reference" / "cli.md").read_text("utf-8")
    documented = set(re.findall(r"^## `(wmsdk[^`]*)`\s*$", page, re.M))
    commands = set(_command_paths(typer.main.get_command(app), "wmsdk"))
    assert sorted(commands - documented) == [], "document these commands in docs/reference/cli.md"
    assert sorted(documented - commands) == [], "docs/reference/cli.md documents unknown commands"
