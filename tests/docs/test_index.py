"""The tour on the home page runs as written."""

from __future__ import annotations

from .markdown_blocks import DOCS, python_blocks, run_blocks

PAGE = DOCS / "index.md"


def test_tour_runs_and_prints_what_it_shows() -> None:
    assert sum(b.expected is not None for b in python_blocks(PAGE)) >= 3
    run_blocks(PAGE, {"__name__": "index"})
