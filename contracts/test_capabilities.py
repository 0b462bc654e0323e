"""Conformance checks of area ``capabilities``.

Defined in ``worldmodel_sdk.conformance.checks.capabilities``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_encode(wm_context: Any) -> None:
    """``encode`` works iff ``representation`` is declared."""
    run(wm_context, "capabilities.encode")


def test_transition(wm_context: Any) -> None:
    """``transition`` works iff ``latent_dynamics`` is declared."""
    run(wm_context, "capabilities.transition")


def test_update(wm_context: Any) -> None:
    """``update`` works iff ``posterior_update`` is declared."""
    run(wm_context, "capabilities.update")


def test_decode(wm_context: Any) -> None:
    """``decode`` works iff a decoder capability is declared."""
    run(wm_context, "capabilities.decode")


def test_rollout(wm_context: Any) -> None:
    """``rollout`` works iff ``latent_dynamics`` is declared."""
    run(wm_context, "capabilities.rollout")


def test_prediction_heads(wm_context: Any) -> None:
    """Declared reward/continue/value heads appear in the prediction spec, and only then."""
    run(wm_context, "capabilities.prediction_heads")


def test_multi_agent(wm_context: Any) -> None:
    """``multi_agent`` is declared iff the contract names agents."""
    run(wm_context, "capabilities.multi_agent")
