"""Conformance checks of area ``wire``, defined in ``worldmodel_sdk.conformance.checks.wire``."""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_envelope_round_trip(wm_context: Any) -> None:
    """``State.deserialize(state.serialize())`` gives back equal tensors and metadata."""
    run(wm_context, "wire.envelope_round_trip")


def test_shared_memory_round_trip(wm_context: Any) -> None:
    """A state published to shared memory attaches back equal, and its segment is removed."""
    run(wm_context, "wire.shared_memory_round_trip")
