"""Extract and run the Python blocks of a Markdown page, checking what they print."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One ```python block, the line it starts on, and the ```text block after it, if any."""

    line: int
    code: str
    expected: str | None


def python_blocks(page: Path) -> list[Block]:
    """The page's Python blocks in order; a ```text block right after one is its output."""
    text = page.read_text("utf-8")
    fences = list(_FENCE.finditer(text))
    blocks = []
    for i, fence in enumerate(fences):
        if fence.group("lang") != "python":
            continue
        expected = None
        following = fences[i + 1] if i + 1 < len(fences) else None
        if (
            following is not None
            and following.group("lang") == "text"
            and not text[fence.end() : following.start()].strip()
        ):
            expected = following.group("body")
        line = text.count("\n", 0, fence.start()) + 2
        blocks.append(Block(line=line, code=fence.group("body"), expected=expected))
    return blocks


def run_blocks(page: Path, namespace: dict[str, object]) -> None:
    """Execute every Python block of ``page`` in ``namespace``, comparing printed output."""
    for block in python_blocks(page):
        # Pad with newlines so tracebacks point at the Markdown line.
        source = "\n" * (block.line - 1) + block.code
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, str(page), "exec"), namespace)
        if block.expected is not None:
            got, want = out.getvalue().rstrip("\n"), block.expected.rstrip("\n")
            assert got == want, (
                f"{page.name}: block at line {block.line} printed\n{got}\n"
                f"but the page shows\n{want}"
            )
