"""The runnable examples of the bridge pages run and print what the pages show."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..docs.markdown_blocks import DOCS, run_blocks


def test_mmlf_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_blocks(DOCS / "bridges" / "mmlf.md", {"__name__": "mmlf_page"})


def test_pymasep_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_blocks(DOCS / "bridges" / "pymasep.md", {"__name__": "pymasep_page"})


def test_torchrl_page() -> None:
    run_blocks(DOCS / "bridges" / "torchrl.md", {"__name__": "torchrl_page"})
