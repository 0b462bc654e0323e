"""Conformance checks of area ``uncertainty``, in ``worldmodel_sdk.conformance.checks``."""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_contract(wm_context: Any) -> None:
    """The contract declares ``k.disagreement`` with ``k``'s shape and dtype for every ``k``."""
    run(wm_context, "uncertainty.contract")


def test_disagreement(wm_context: Any) -> None:
    """``decode`` reports each disagreement in its prediction's shape, >= 0, not all zero."""
    run(wm_context, "uncertainty.disagreement")


def test_identical_members(wm_context: Any) -> None:
    """An `Ensemble` whose members are copies of one member reports exactly zero disagreement."""
    run(wm_context, "uncertainty.identical_members")
