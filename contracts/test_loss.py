"""Conformance checks of area ``loss``, defined in ``worldmodel_sdk.conformance.checks.loss``."""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_scalar(wm_context: Any) -> None:
    """``loss(batch)`` returns a `LossOutput` whose total is a floating 0-dim tensor."""
    run(wm_context, "loss.scalar")


def test_finite(wm_context: Any) -> None:
    """The total and every component are finite."""
    run(wm_context, "loss.finite")


def test_gradients(wm_context: Any) -> None:
    """``total.backward()`` gives finite gradients, some of them non-zero."""
    run(wm_context, "loss.gradients")


def test_batch_unchanged(wm_context: Any) -> None:
    """``loss(batch)`` leaves every tensor of its batch as it was."""
    run(wm_context, "loss.batch_unchanged")


def test_uses_targets(wm_context: Any) -> None:
    """For each declared head whose target the batch carries, the total depends on that target."""
    run(wm_context, "loss.uses_targets")
