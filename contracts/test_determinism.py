"""Conformance checks of area ``determinism``.

Defined in ``worldmodel_sdk.conformance.checks.determinism``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_repeat(wm_context: Any) -> None:
    """Each protocol call with ``deterministic=True`` repeats bit for bit, whatever the seed."""
    run(wm_context, "determinism.repeat")


def test_rollout(wm_context: Any) -> None:
    """``rollout(..., deterministic=True)`` repeats bit for bit, whatever the seed."""
    run(wm_context, "determinism.rollout")


def test_batch_independence(wm_context: Any) -> None:
    """Item i of a batched call equals the call on item i alone (within tolerance)."""
    run(wm_context, "determinism.batch_independence")
