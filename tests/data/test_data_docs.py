"""Run the Python blocks of docs/data.md; compare what they print with the text block after."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks() -> list[tuple[str, str | None]]:
    text = DOC.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    pairs: list[tuple[str, str | None]] = []
    for index, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        expected = None
        if index + 1 < len(fences):
            after = fences[index + 1]
            if after.group(1) == "text" and not text[fence.end() : after.start()].strip():
                expected = after.group(2)
        pairs.append((fence.group(2), expected))
    return pairs


@pytest.mark.skipif(not DOC.exists(), reason="docs/data.md is not in this checkout")
def test_guide_blocks_run_and_print_what_they_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "data_guide"}
    for number, (code, expected) in enumerate(blocks()):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{DOC.name}[block {number}]", "exec"), namespace)
        if expected is not None:
            assert out.getvalue() == expected, f"block {number} printed:\n{out.getvalue()}"
