"""Package metadata: licence, classifiers, URLs, the pytest11 plugin, a clean sdist."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]


def test_license_file_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert text.count("\n   ") > 150  # the full text, not a pointer to it


def test_classifiers_and_urls() -> None:
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert "Framework :: Pytest" in PROJECT["classifiers"]
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(PROJECT["urls"])


def test_pytest_plugin_entry_point_imports_without_torch() -> None:
    target = PROJECT["entry-points"]["pytest11"]["wmsdk"]
    plugin = importlib.import_module(target)
    assert callable(plugin.pytest_addoption) and callable(plugin.pytest_generate_tests)
    code = f"import sys, {target}; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(importlib.util.find_spec("build") is None, reason="needs the dev extra")
def test_sdist_holds_the_package_and_no_tests(tmp_path: Path) -> None:
    # Build from a copy (with the tests beside it), so nothing lands in the repository.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("worldmodel_sdk", "tests", "docs"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, src / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (sdist,) = tmp_path.glob("worldmodel_sdk-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    top = {name.split("/")[0] for name in names}
    assert {"worldmodel_sdk", "LICENSE", "README.md", "pyproject.toml"} <= top
    extra = top - {"worldmodel_sdk", "worldmodel_sdk.egg-info", "LICENSE", "README.md"}
    assert extra <= {"pyproject.toml", "setup.cfg", "PKG-INFO", "MANIFEST.in"}
    assert "worldmodel_sdk/conformance/checks/rollout.py" in names
    assert not [name for name in names if "__pycache__" in name]
