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


def test_repeat_train_mode(wm_context: Any) -> None:
    """In train mode too, each call with ``deterministic=True`` repeats bit for bit."""
    run(wm_context, "determinism.repeat_train_mode")


def test_batch_independence_train_mode(wm_context: Any) -> None:
    """In train mode too, item 0 of a batch is the same whatever the other items hold."""
    run(wm_context, "determinism.batch_independence_train_mode")


def test_agent_order(wm_context: Any) -> None:
    """Per-agent inputs in another dict order give bit-identical results."""
    run(wm_context, "determinism.agent_order")
