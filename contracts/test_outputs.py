"""Conformance checks of area ``outputs``.

Defined in ``worldmodel_sdk.conformance.checks.outputs``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_encode(wm_context: Any) -> None:
    """``encode(obs)`` returns a State fitting the state spec, batch size kept."""
    run(wm_context, "outputs.encode")


def test_transition(wm_context: Any) -> None:
    """``transition(state, action)`` returns a State fitting the state spec."""
    run(wm_context, "outputs.transition")


def test_update(wm_context: Any) -> None:
    """``update(state, action, obs)`` returns a State fitting the state spec."""
    run(wm_context, "outputs.update")


def test_decode(wm_context: Any) -> None:
    """``decode(state)`` returns exactly the declared predictions, each fitting its spec."""
    run(wm_context, "outputs.decode")


def test_inputs_unchanged(wm_context: Any) -> None:
    """No protocol method changes its input state, action, observation or conditions in place."""
    run(wm_context, "outputs.inputs_unchanged")


def test_action_forms(wm_context: Any) -> None:
    """``transition`` treats a raw action tensor and its `ActionPayload` alike."""
    run(wm_context, "outputs.action_forms")


def test_async_twins(wm_context: Any) -> None:
    """``async_encode``/``async_transition``/``async_decode`` return what the sync twins do."""
    run(wm_context, "outputs.async_twins")


def test_generated_inputs(wm_context: Any) -> None:
    """On contract-drawn inputs, extremes included, outputs fit the contract and repeat."""
    run(wm_context, "outputs.generated_inputs")
