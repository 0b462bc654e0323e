"""The command-line reference shows what ``wmsdk`` prints, rendered at build time."""

from __future__ import annotations

import importlib.util
import re

from worldmodel_sdk.registry import list_models

from .markdown_blocks import DOCS

PAGE = DOCS / "reference" / "cli.md"
HOOKS = DOCS.parent / "scripts" / "mkdocs_hooks.py"


def load_hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", HOOKS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_documented_command_shows_its_generated_help() -> None:
    text = PAGE.read_text("utf-8")
    commands = re.findall(r"^## `wmsdk ([^`]*)`\s*$", text, re.M)
    markers = set(re.findall(r"^<!-- wmsdk: (.*) -->$", text, re.M))
    assert "--help" in markers
    missing = [c for c in commands if c not in markers and f"{c} --help" not in markers]
    assert missing == []


def test_markers_render_the_command_output() -> None:
    hooks = load_hooks()
    page = "intro\n<!-- wmsdk: models list -->\n<!-- wmsdk: version --help -->\nend"
    rendered = hooks.render(page)
    assert rendered.startswith("intro\n```text\n$ wmsdk models list\n")
    assert rendered.endswith("```\nend")
    for name in ("example", "jopm", "jopm_with_heads", "rdlm", "vae"):
        assert name in list_models() and f"│ {name} " in rendered
    assert "Print the SDK version." in rendered
    assert max(len(line) for line in rendered.splitlines()) <= hooks.WIDTH


def test_a_failing_command_fails_the_build() -> None:
    hooks = load_hooks()
    try:
        hooks.render("<!-- wmsdk: no-such-command -->")
    except RuntimeError as error:
        assert "wmsdk no-such-command exited 2" in str(error)
    else:
        raise AssertionError("the hook rendered a failing command")
