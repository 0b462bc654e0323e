"""Conformance checks of area ``interface``.

Defined in ``worldmodel_sdk.conformance.checks.interface``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_base_class(wm_context: Any) -> None:
    """The model is a `WorldModel` and a ``torch.nn.Module``."""
    run(wm_context, "interface.base_class")


def test_capabilities(wm_context: Any) -> None:
    """``capabilities`` is a class-level frozenset of `Capability`, not changed per instance."""
    run(wm_context, "interface.capabilities")


def test_signatures(wm_context: Any) -> None:
    """Protocol methods keep the base class's parameters (extras need defaults)."""
    run(wm_context, "interface.signatures")


def test_loss(wm_context: Any) -> None:
    """``loss`` and ``io_contract`` are implemented (not abstract)."""
    run(wm_context, "interface.loss")


def test_async_twins(wm_context: Any) -> None:
    """The async twins are coroutine functions."""
    run(wm_context, "interface.async_twins")


def test_model_type(wm_context: Any) -> None:
    """``model_type`` is a non-empty string (the name saved in ``config.json``)."""
    run(wm_context, "interface.model_type")
