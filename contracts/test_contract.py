"""Conformance checks of area ``contract``.

Defined in ``worldmodel_sdk.conformance.checks.contract``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_valid(wm_context: Any) -> None:
    """``io_contract()`` returns an `IOContract` that survives a JSON round trip."""
    run(wm_context, "contract.valid")


def test_fingerprint(wm_context: Any) -> None:
    """The fingerprint is versioned and stable across calls, rebuilds and round trips."""
    run(wm_context, "contract.fingerprint")


def test_accepts_valid(wm_context: Any) -> None:
    """Valid observations, actions and states drawn from the contract are accepted."""
    run(wm_context, "contract.accepts_valid")


def test_rejects_wrong_key(wm_context: Any) -> None:
    """Observations and states with a missing or unexpected key are rejected."""
    run(wm_context, "contract.rejects_wrong_key")


def test_rejects_wrong_shape(wm_context: Any) -> None:
    """Observations, actions and states of the wrong shape are rejected."""
    run(wm_context, "contract.rejects_wrong_shape")


def test_rejects_wrong_dtype(wm_context: Any) -> None:
    """Observations, actions and states of the wrong dtype are rejected."""
    run(wm_context, "contract.rejects_wrong_dtype")


def test_rejects_wrong_agent(wm_context: Any) -> None:
    """Multi-agent observations and joint actions with a missing or unknown agent are rejected."""
    run(wm_context, "contract.rejects_wrong_agent")


def test_rejects_nan(wm_context: Any) -> None:
    """NaN in a tensor whose spec forbids non-finite values is rejected."""
    run(wm_context, "contract.rejects_nan")


def test_sample(wm_context: Any) -> None:
    """The factory's sample fits the contract (every other check uses it)."""
    run(wm_context, "contract.sample")
