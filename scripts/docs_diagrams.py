"""Draw the docs' diagrams from the code: the package architecture and the envelope bytes.

- ``docs/images/architecture.svg``: every public module and subpackage of
  ``worldmodel_sdk`` as a box, and an arrow for each module-level import between
  them (read with ``ast``; imports inside functions, which load lazily, and under
  ``TYPE_CHECKING`` are left out). Units that import nothing else of the package sit
  at the bottom; every other unit sits one row above the highest unit it imports.
  Arrows implied by a longer path are dropped; imports that close a cycle are dashed.
- ``docs/images/envelope.svg``: the bytes of a real envelope, written by
  ``State.serialize()`` and measured by ``wire.inspect_envelope``: the 24-byte
  preamble field by field, then the whole envelope with its offsets.

Run ``python scripts/docs_diagrams.py`` after changing either; a test regenerates
both and compares them with the committed files.
"""

from __future__ import annotations

import ast
import struct
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "worldmodel_sdk"
IMAGES = ROOT / "docs" / "images"
FONT = "font-family='DejaVu Sans Mono, Menlo, Consolas, monospace'"


def _unit(module: str) -> str | None:
    """The diagram box a dotted module belongs to (``None``: private, not drawn)."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    head = parts[0]
    if head.startswith("_"):
        return None
    return f"{head}/" if (PACKAGE / head).is_dir() else head


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules of the package imported at module level by ``path`` (absolute names)."""
    tree = ast.parse(path.read_text("utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("worldmodel_sdk"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("worldmodel_sdk"):
                found.add(name)
                found.update(f"{name}.{a.name}" for a in node.names)
    return found


def dependency_graph() -> dict[str, set[str]]:
    """Unit -> units it imports at module level."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(_module_name(path))
        if source is None:
            continue
        targets = graph.setdefault(source, set())
        for name in _top_level_imports(path):
            target = _unit(name)
            if target is not None and target != source and _exists(name):
                targets.add(target)
    return graph


def _exists(module: str) -> bool:
    relative = Path(*module.split("."))
    return (ROOT / relative).is_dir() or (ROOT / relative).with_suffix(".py").is_file()


def _acyclic(graph: dict[str, set[str]]) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """The graph without the edges that close a cycle (depth-first, sorted order)."""
    kept: dict[str, set[str]] = {node: set() for node in graph}
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}

    def visit(node: str) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                back.add((node, target))
                continue
            kept[node].add(target)
            if target not in state:
                visit(target)
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return kept, back


def _reduce(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Transitive reduction of a DAG: drop an edge a -> c when a -> ... -> c is longer."""

    def reachable(start: str, skip: str) -> set[str]:
        seen, stack = set(), [t for t in graph[start] if t != skip]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(graph[node])
        return seen

    return {a: {c for c in targets if c not in reachable(a, c)} for a, targets in graph.items()}


def _layers(graph: dict[str, set[str]]) -> list[list[str]]:
    level: dict[str, int] = {}

    def depth(node: str) -> int:
        if node not in level:
            level[node] = 1 + max((depth(t) for t in graph[node]), default=-1)
        return level[node]

    for node in graph:
        depth(node)
    rows: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for node in sorted(graph):
        rows[level[node]].append(node)
    return rows


def architecture_svg() -> str:
    """The architecture diagram as SVG text."""
    graph, back = _acyclic(dependency_graph())
    reduced = _reduce(graph)
    rows = _layers(graph)
    box_h, gap_y, char_w, pad = 26, 58, 7.8, 12
    widths = {n: len(n) * char_w + 2 * pad for row in rows for n in row}
    row_w = [sum(widths[n] for n in row) + 16 * (len(row) - 1) for row in rows]
    width = max(max(row_w) + 40, 680)
    height = len(rows) * (box_h + gap_y) - gap_y + 70
    pos: dict[str, tuple[float, float]] = {}
    for index, row in enumerate(rows):
        # Spread each row over the width: fewer long arrows run through other boxes.
        slot = (width - 40) / len(row)
        y = height - 30 - box_h - index * (box_h + gap_y)
        for column, node in enumerate(row):
            pos[node] = (20 + slot * (column + 0.5) - widths[node] / 2, y)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' "
        f"width='{width:.0f}' height='{height:.0f}' {FONT} font-size='13'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#6b7280'/></marker></defs>",
        f"<rect width='{width:.0f}' height='{height:.0f}' fill='white'/>",
        "<text x='20' y='22' fill='#374151'>worldmodel_sdk: an arrow points from a module "
        "to what it imports</text>",
    ]
    edges = [(a, b, False) for a in sorted(reduced) for b in sorted(reduced[a])]
    edges += [(a, b, True) for a, b in sorted(back)]
    for a, b, dashed in edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1 = ax + widths[a] / 2, ay + (box_h if by > ay else 0)
        x2, y2 = bx + widths[b] / 2, by + (0 if by > ay else box_h)
        style = " stroke-dasharray='5 4' stroke='#dc2626'" if dashed else " stroke='#9ca3af'"
        out.append(
            f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}'{style} "
            "stroke-width='1.2' marker-end='url(#arrow)'/>"
        )
    for node, (x, y) in sorted(pos.items()):
        fill = "#e0f2fe" if node.endswith("/") else "#f3f4f6"
        out.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{widths[node]:.1f}' height='{box_h}' rx='5' "
            f"fill='{fill}' stroke='#4b5563'/>"
        )
        out.append(
            f"<text x='{x + widths[node] / 2:.1f}' y='{y + 17:.1f}' text-anchor='middle' "
            f"fill='#111827'>{escape(node)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


PREAMBLE_FIELDS = ("magic", "version", "flags", "header length H", "data length D")


def envelope_svg() -> str:
    """The envelope byte diagram as SVG text, measured on a real envelope."""
    sys.path.insert(0, str(ROOT))
    import torch

    from worldmodel_sdk import State
    from worldmodel_sdk.wire import inspect_envelope
    from worldmodel_sdk.wire._layout import PREAMBLE

    state = State(
        {"h": torch.zeros(2, 4), "z": torch.zeros(2, 3, dtype=torch.bfloat16)}, meta={"step": 3}
    )
    payload = state.serialize()
    info = inspect_envelope(payload)
    sizes = [struct.calcsize("<" + code) for code in ("8s", "H", "H", "I", "Q")]
    assert struct.calcsize(PREAMBLE.format) == sum(sizes) == 24, PREAMBLE.format
    start = -(-(24 + info.header_length) // 64) * 64  # S = align64(24 + H)
    cell, left, top = 30, 20, 46
    width = left * 2 + 24 * cell
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} 340' width='{width}' "
        f"height='340' {FONT} font-size='12'>",
        f"<rect width='{width}' height='340' fill='white'/>",
        f"<text x='{left}' y='24' fill='#111827' font-size='13'>Preamble: bytes 0-23, "
        "little-endian</text>",
    ]
    colors = ("#fde68a", "#bbf7d0", "#bfdbfe", "#fbcfe8", "#ddd6fe")
    offset = 0
    for name, size, color in zip(PREAMBLE_FIELDS, sizes, colors, strict=True):
        x = left + offset * cell
        out.append(
            f"<rect x='{x}' y='{top}' width='{size * cell}' height='34' fill='{color}' "
            "stroke='#374151'/>"
        )
        for byte in range(1, size):
            bx = x + byte * cell
            out.append(
                f"<line x1='{bx}' y1='{top + 24}' x2='{bx}' y2='{top + 34}' stroke='#6b7280'/>"
            )
        label = name if len(name) * 7.3 < size * cell - 4 else name.split()[-1]
        out.append(
            f"<text x='{x + size * cell / 2}' y='{top + 18}' text-anchor='middle'>"
            f"{escape(label)}</text>"
        )
        out.append(f"<text x='{x + 2}' y='{top + 50}' fill='#4b5563'>{offset}</text>")
        offset += size
    out.append(f"<text x='{left + 24 * cell - 14}' y='{top + 50}' fill='#4b5563'>24</text>")
    total = info.total
    out.append(
        f"<text x='{left}' y='140' fill='#111827' font-size='13'>A whole envelope, "
        f"{total} bytes: h float32 (2, 4), z bfloat16 (2, 3), checksum</text>"
    )
    segments = [("preamble", 0, 24, "#fde68a"), ("JSON header", 24, info.header_length, "#e5e7eb")]
    segments.append(("pad", 24 + info.header_length, start - 24 - info.header_length, "#ffffff"))
    cursor = start
    for entry in info.tensors:
        if start + entry.offset > cursor:
            segments.append(("pad", cursor, start + entry.offset - cursor, "#ffffff"))
        segments.append((f"{entry.name} ({entry.dtype_name})", start + entry.offset,
                         entry.length, "#bfdbfe"))  # fmt: skip
        cursor = start + entry.offset + entry.length
    end = start + info.data_length
    if end > cursor:
        segments.append(("pad", cursor, end - cursor, "#ffffff"))
    if total > end:
        segments.append(("checksum", end, total - end, "#fbcfe8"))
    scale = (width - 2 * left) / total
    y = 172
    for name, at, size, color in segments:
        x, w = left + at * scale, size * scale
        out.append(
            f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='40' fill='{color}' "
            "stroke='#374151'/>"
        )
        if name == "pad":
            continue
        inside = len(name) * 7.6 + 6 < w
        label_x = min(x + w / 2, width - 4 - len(name) * 3.8)  # keep it on the canvas
        out.append(
            f"<text x='{label_x:.1f}' y='{y + 25 if inside else y - 6}' "
            f"text-anchor='middle'>{escape(name if inside else name.split()[0])}</text>"
        )
    marks = sorted({0, 24, 24 + info.header_length, start, end, total})
    for at in marks:
        x = left + at * scale
        out.append(
            f"<line x1='{x:.1f}' y1='{y + 40}' x2='{x:.1f}' y2='{y + 50}' stroke='#374151'/>"
        )
    for row, at in enumerate(marks):
        x = left + at * scale
        out.append(
            f"<text x='{x:.1f}' y='{y + 64 + 14 * (row % 2)}' text-anchor='middle' "
            f"fill='#4b5563'>{at}</text>"
        )
    notes = (
        f"data starts at S = align64(24 + H) = {start};",
        "each tensor starts at a multiple of 64 inside the data;",
        "the XXH3-64 checksum covers bytes [0, S + D).",
    )
    for row, note in enumerate(notes):
        out.append(f"<text x='{left}' y='{y + 104 + 16 * row}' fill='#374151'>{note}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


DIAGRAMS = {"architecture.svg": architecture_svg, "envelope.svg": envelope_svg}


def main() -> None:
    """Write every diagram into docs/images."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, draw in DIAGRAMS.items():
        (IMAGES / name).write_text(draw(), "utf-8")
        print(f"wrote {IMAGES / name}")


if __name__ == "__main__":
    main()
