"""Conformance checks of area ``sensitivity``.

Defined in ``worldmodel_sdk.conformance.checks.sensitivity``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_transition_action(wm_context: Any) -> None:
    """``transition`` output changes when the action changes (each agent's, for joint actions)."""
    run(wm_context, "sensitivity.transition_action")


def test_update_observation(wm_context: Any) -> None:
    """``update`` output changes when the observation changes (each key or agent alone)."""
    run(wm_context, "sensitivity.update_observation")


def test_encode_observation(wm_context: Any) -> None:
    """``encode`` output changes when the observation changes (each key or agent alone)."""
    run(wm_context, "sensitivity.encode_observation")
