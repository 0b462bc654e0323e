"""The package resolves its public names lazily: same objects, no torch until used."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import worldmodel_sdk
import worldmodel_sdk.wire


@pytest.mark.parametrize("package", [worldmodel_sdk, worldmodel_sdk.wire])
def test_every_lazy_name_is_in_all_and_resolves_to_its_origin(package) -> None:
    origins = package._ORIGINS
    assert sorted(origins) == sorted(n for n in package.__all__ if n != "__version__")
    for name, origin in origins.items():
        module = importlib.import_module(origin, package.__name__)
        assert getattr(package, name) is getattr(module, name), name
    assert set(package.__all__) <= set(dir(package))


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'worldmodel_sdk' has no attribute 'Stat'"):
        worldmodel_sdk.Stat  # noqa: B018


def test_from_import_of_a_public_name() -> None:
    from worldmodel_sdk import State, WorldModel

    assert State.__module__ == "worldmodel_sdk.payloads.state"
    assert WorldModel.__module__ == "worldmodel_sdk.model"


def test_importing_the_package_and_the_cli_does_not_import_torch() -> None:
    code = (
        "import sys, worldmodel_sdk, worldmodel_sdk.wire, worldmodel_sdk.cli; "
        "from worldmodel_sdk import __version__; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
