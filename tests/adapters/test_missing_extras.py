"""Importing a bridge without its framework is an ImportError that names the extra."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

CASES = [
    (
        "palaestrai",
        "palaestrai.environment",
        "worldmodel_sdk.adapters.palaestrai needs 'palaestrai.environment', which is not "
        "installed; install it with: pip install 'worldmodel-sdk[palaestrai]'",
    ),
    (
        "torchrl",
        "tensordict",
        "worldmodel_sdk.adapters.torchrl needs 'tensordict', which is not installed; install it "
        "with: pip install 'worldmodel-sdk[torchrl]'",
    ),
    (
        "pymasep",
        "pymasep.common",
        "worldmodel_sdk.adapters.pymasep needs 'pymasep.common', which is not installed; install it "
        "with: pip install 'worldmodel-sdk[pymasep]' && pip install --no-deps 'pymasep==0.2'",
    ),
]


@pytest.mark.parametrize(("bridge", "framework", "message"), CASES)
def test_missing_framework_names_the_extra(bridge, framework, message, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, framework, None)  # what an absent package looks like
    monkeypatch.delitem(sys.modules, f"worldmodel_sdk.adapters.{bridge}", raising=False)
    with pytest.raises(ImportError, match=re.escape(message)):
        importlib.import_module(f"worldmodel_sdk.adapters.{bridge}")


def test_the_adapters_package_and_the_mmlf_shim_need_no_framework() -> None:
    import worldmodel_sdk.adapters as adapters
    import worldmodel_sdk.adapters.mmlf as mmlf

    assert adapters.__all__ == [] and "MMLFModel" in mmlf.__all__
