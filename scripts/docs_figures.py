"""Regenerate the quickstart's figures shown in the docs (``docs/images/quickstart-*.png``).

Runs the quickstart with its default settings (the same run as ``wmsdk quickstart``;
a few minutes on two CPU cores, seeded, so a rerun draws the same figures up to
floating-point noise) in a temporary directory and copies its figures into the docs.
Needs the ``envs`` extra.

Run: ``python scripts/docs_figures.py``
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"


def main() -> None:
    """Run the quickstart and copy its figures into docs/images."""
    sys.path.insert(0, str(ROOT))
    from rich.console import Console

    from worldmodel_sdk.quickstart import QuickstartSettings, results_table, run_quickstart

    console = Console()
    with tempfile.TemporaryDirectory() as work:
        result = run_quickstart(
            QuickstartSettings(out_dir=Path(work), progress=False), console=console
        )
        console.print(results_table(result))
        IMAGES.mkdir(parents=True, exist_ok=True)
        for figure in result.figures:
            target = IMAGES / f"quickstart-{figure.name.replace('_', '-')}"
            shutil.copyfile(figure, target)
            console.print(f"wrote {target}", highlight=False)


if __name__ == "__main__":
    main()
