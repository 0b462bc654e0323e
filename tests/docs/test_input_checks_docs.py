"""The docs tell one truth about input checks: protocol calls check their inputs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_no_page_says_protocol_calls_skip_input_checks():
    for page in PAGES:
        text = " ".join(page.read_text("utf-8").split())
        assert not re.search(r"(do not|don't|never) (check|validate) their inputs", text), page


def test_guide_and_architecture_say_protocol_calls_check_their_inputs():
    for name in ("guide/writing-a-model.md", "architecture.md"):
        text = " ".join((ROOT / "docs" / name).read_text("utf-8").split())
        assert "Protocol calls check their inputs" in text, name
