"""Code that readers copy fits the page's column: no line of a source block past 88."""

from __future__ import annotations

import re

from .markdown_blocks import DOCS

LIMIT = 88
SOURCE = {"python", "bash", "toml", "yaml", "sh"}
# Program output (text, console, json) keeps the program's own lines; the theme wraps
# them (docs/stylesheets/extra.css) instead of scrolling sideways.
_FENCE = re.compile(r"^[ \t]*```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^[ \t]*```", re.M | re.S)


def test_source_code_lines_fit_the_column() -> None:
    long = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text("utf-8")
        for fence in _FENCE.finditer(text):
            if fence.group("lang") not in SOURCE:
                continue
            first = text.count("\n", 0, fence.start()) + 2
            for offset, line in enumerate(fence.group("body").splitlines()):
                if len(line) > LIMIT:
                    long.append(f"{page.relative_to(DOCS)}:{first + offset}: {len(line)}")
    assert long == []


def test_long_output_wraps_in_the_theme() -> None:
    css = (DOCS / "stylesheets" / "extra.css").read_text("utf-8")
    assert re.search(r"pre > code \{[^}]*white-space: pre-wrap", css)
    config = (DOCS.parent / "mkdocs.yml").read_text("utf-8")
    assert "  - stylesheets/extra.css" in config
