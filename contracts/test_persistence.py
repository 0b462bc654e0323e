"""Conformance checks of area ``persistence``.

Defined in ``worldmodel_sdk.conformance.checks.persistence``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_round_trip(wm_context: Any) -> None:
    """A model loaded back gives identical weights, buffers and outputs."""
    run(wm_context, "persistence.round_trip")


def test_config(wm_context: Any) -> None:
    """``config.json`` records the model type, the fingerprint and the capabilities."""
    run(wm_context, "persistence.config")
