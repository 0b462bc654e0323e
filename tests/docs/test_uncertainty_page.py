"""The page 'Uncertainty and ensembles' runs as written: every block, every shown output."""

from __future__ import annotations

from typing import Any

from .markdown_blocks import DOCS, python_blocks, run_blocks

PAGE = DOCS / "uncertainty.md"


def test_page_runs_and_prints_what_it_shows() -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 6 and all(b.expected is not None for b in blocks)
    namespace: dict[str, Any] = {"__name__": "uncertainty_page"}
    run_blocks(PAGE, namespace)
