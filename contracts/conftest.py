"""Run the conformance suite with pytest: ``pytest contracts [--wm-target pkg.mod:factory]``.

The target comes from ``--wm-target`` (repeatable) or ``$WMSDK_TARGET``; without one,
every registered model is checked. The options and the ``wm_context`` fixture come
from the ``wmsdk`` pytest plugin, registered here when the installed package did not
register it already.
"""

from __future__ import annotations

import pytest

from worldmodel_sdk.conformance import pytest_plugin


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the ``wmsdk`` plugin (options, ``wm_context``) unless already registered."""
    if not pluginmanager.is_registered(pytest_plugin):
        pluginmanager.register(pytest_plugin, pytest_plugin.PLUGIN_NAME)
