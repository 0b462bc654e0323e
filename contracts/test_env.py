"""Conformance checks of area ``env``, defined in ``worldmodel_sdk.conformance.checks.env``."""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_pettingzoo_api(wm_context: Any) -> None:
    """PettingZoo's ``parallel_api_test`` passes on the model's parallel env."""
    run(wm_context, "env.pettingzoo_api")


def test_gymnasium_api(wm_context: Any) -> None:
    """Gymnasium's ``check_env`` passes on the model's single-agent (joint) env."""
    run(wm_context, "env.gymnasium_api")
