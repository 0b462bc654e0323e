#!/usr/bin/env bash
# Build the worldmodel-sdk wheel, install it with the example third-party package
# (examples/third_party_model) into a fresh virtual environment, and certify that
# package with `wmsdk check` and with its own pytest suite, run from the wheel.
#
# Dependencies (torch, numpy, ...) are not downloaded again: the fresh venv sees the
# site-packages of $PYTHON (default: the repository's .venv) through a .pth file
# appended after its own site-packages, so the installed wheel shadows any other copy.
# Set WMSDK_INSTALL_DEPS=1 to install them from the package index instead
# (torch pinned to torch==2.13.0 first).
#
# Usage: scripts/check_wheel.sh [WORKDIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WORK="${1:-$(mktemp -d "${TMPDIR:-/tmp}/wmsdk-wheel.XXXXXX")}"
mkdir -p "$WORK"
rm -rf "$WORK/dist"
echo "== work directory: $WORK"

# 1. Build the wheel from a clean copy of the sources (no build/ or egg-info in the tree).
SRC="$WORK/src"
rm -rf "$SRC" && mkdir -p "$SRC"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$SRC/"
[ -f "$ROOT/LICENSE" ] && cp "$ROOT/LICENSE" "$SRC/"
(cd "$ROOT" && tar --exclude='__pycache__' -cf - worldmodel_sdk) | (cd "$SRC" && tar -xf -)
"$PYTHON" -m build --wheel --no-isolation --skip-dependency-check --outdir "$WORK/dist" "$SRC" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; exit 1; }
WHEEL="$(ls "$WORK"/dist/worldmodel_sdk-*.whl)"
# The example package is built the same way, from a copy.
rm -rf "$WORK/example" && mkdir -p "$WORK/example"
(cd "$ROOT/examples/third_party_model" && tar --exclude='__pycache__' --exclude='*.egg-info' \
  -cf - pyproject.toml README.md acme_worldmodel) | (cd "$WORK/example" && tar -xf -)
"$PYTHON" -m build --wheel --no-isolation --skip-dependency-check --outdir "$WORK/dist" \
  "$WORK/example" >>"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
EXAMPLE_WHEEL="$(ls "$WORK"/dist/acme_worldmodel-*.whl)"
echo "== built $(basename "$WHEEL")"
FILES="$("$PYTHON" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$WHEEL")"
if grep -q '^contracts/' <<<"$FILES"; then
  echo "the wheel carries a top-level 'contracts' package" >&2; exit 1
fi
grep -q '^worldmodel_sdk/conformance/checks/rollout.py$' <<<"$FILES" \
  || { echo "the wheel lacks worldmodel_sdk/conformance" >&2; exit 1; }

# 2. A fresh virtual environment with the wheel and the example package.
VENV="$WORK/venv"
"$PYTHON" -m venv --clear "$VENV"
VPY="$VENV/bin/python"
if [ "${WMSDK_INSTALL_DEPS:-0}" = "1" ]; then
  "$VPY" -m pip install --quiet torch==2.13.0
  "$VPY" -m pip install --quiet "$WHEEL" pytest
else
  DEPS="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$DEPS" >"$SITE/zz_wmsdk_deps.pth"
  "$VPY" -m pip install --quiet --no-deps "$WHEEL"
fi
"$VPY" -m pip install --quiet --no-deps "$EXAMPLE_WHEEL"

# 3. Run from outside the repository, and prove the wheel is what gets imported.
RUN="$WORK/run"
mkdir -p "$RUN"
cp -r "$ROOT/examples/third_party_model/tests" "$RUN/tests"
cd "$RUN"
LOCATION="$("$VPY" -c 'import worldmodel_sdk, os; print(os.path.dirname(worldmodel_sdk.__file__))')"
case "$LOCATION" in
  "$VENV"/*) echo "== worldmodel_sdk imported from $LOCATION" ;;
  *) echo "worldmodel_sdk imported from $LOCATION, not from the fresh venv" >&2; exit 1 ;;
esac
"$VPY" -c 'from worldmodel_sdk import list_models; m = list_models(); assert "acme-grid" in m, m'
echo "== entry point registered: acme-grid"
"$VENV/bin/wmsdk" version
# The pytest plugin comes from the wheel's pytest11 entry point (no conftest here) and
# imports nothing heavy until a test uses it.
PYTEST_HELP="$("$VPY" -m pytest -p no:cacheprovider -p no:asyncio --help)"
grep -q -- '--wm-target' <<<"$PYTEST_HELP" \
  || { echo "pytest did not load the wmsdk plugin from the wheel" >&2; exit 1; }
"$VPY" -c 'import sys, worldmodel_sdk.conformance.pytest_plugin; sys.exit("torch" in sys.modules)' \
  || { echo "importing the pytest plugin imports torch" >&2; exit 1; }
echo "== pytest plugin registered: wmsdk"

CHECK=("$VENV/bin/wmsdk" check)
echo "== ${CHECK[*]##*/} acme_worldmodel.model:make_model acme-grid"
COLUMNS=160 "${CHECK[@]}" acme_worldmodel.model:make_model acme-grid \
  --junit-xml "$WORK/conformance.xml" --json "$WORK/conformance.json"
"$VPY" -m pytest -q -p no:cacheprovider -p no:asyncio tests
echo "== wheel conformance OK"
