"""The suite works from an installed wheel: build, install into a fresh venv, certify the example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worldmodel_sdk import __version__

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_wheel.sh"


@pytest.mark.skipif(sys.platform == "win32", reason="the script is bash")
def test_wheel_certifies_the_example_package_in_a_fresh_venv(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "COLUMNS": "160"}
    env.pop("WMSDK_TARGET", None)
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "work")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"worldmodel_sdk imported from {tmp_path / 'work' / 'venv'}" in out
    assert "entry point registered: acme-grid" in out
    assert f"worldmodel-sdk {__version__}" in out
    assert "pytest plugin registered: wmsdk" in out
    assert "OK acme_worldmodel.model:make_model:" in out
    assert "OK acme-grid:" in out
    assert (tmp_path / "work" / "conformance.xml").read_text().count("<testsuite ") == 2
    assert out.rstrip().endswith("== wheel conformance OK")
