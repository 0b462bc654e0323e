"""The docs' diagrams are drawn from the code: redrawing them gives the committed files."""

from __future__ import annotations

import importlib.util
import re

import pytest

from .markdown_blocks import DOCS

SCRIPT = DOCS.parent / "scripts" / "docs_diagrams.py"


def load_script():
    spec = importlib.util.spec_from_file_location("docs_diagrams", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["architecture.svg", "envelope.svg"])
def test_committed_diagram_is_what_the_code_draws(name: str) -> None:
    script = load_script()
    drawn = script.DIAGRAMS[name]()
    committed = (DOCS / "images" / name).read_text("utf-8")
    assert drawn == committed, f"run: python scripts/docs_diagrams.py (docs/images/{name})"


def test_architecture_shows_every_public_module() -> None:
    script = load_script()
    graph = script.dependency_graph()
    package = DOCS.parent / "worldmodel_sdk"
    public = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    public |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert set(graph) == public
    svg = (DOCS / "images" / "architecture.svg").read_text("utf-8")
    assert all(f">{name}</text>" in svg for name in public)


def test_every_image_a_page_shows_exists() -> None:
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text("utf-8")):
            assert (page.parent / target).is_file(), f"{page.name}: {target}"
