"""Conformance checks of area ``rollout``.

Defined in ``worldmodel_sdk.conformance.checks.rollout``.
"""

from __future__ import annotations

from typing import Any

from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest as run


def test_trajectory(wm_context: Any) -> None:
    """The trajectory starts at the initial state, and every state fits the contract."""
    run(wm_context, "rollout.trajectory")


def test_horizon(wm_context: Any) -> None:
    """A rollout over T actions has horizon T, T + 1 states and the actions it was given."""
    run(wm_context, "rollout.horizon")


def test_matches_steps(wm_context: Any) -> None:
    """``states[t + 1]`` equals ``transition(states[t], actions[t], deterministic=True)``."""
    run(wm_context, "rollout.matches_steps")


def test_latent_mode(wm_context: Any) -> None:
    """``mode="latent"`` gives the same states and no predictions."""
    run(wm_context, "rollout.latent_mode")


def test_async_matches_sync(wm_context: Any) -> None:
    """``await async_rollout(...)`` returns what ``rollout(...)`` does."""
    run(wm_context, "rollout.async_matches_sync")


def test_no_grad_leak(wm_context: Any) -> None:
    """Under ``torch.no_grad()`` rollouts (sync and async) build no graph and fill no ``.grad``."""
    run(wm_context, "rollout.no_grad_leak")


def test_imagine_policy(wm_context: Any) -> None:
    """``imagine`` calls the policy once per step on the current state and records its actions."""
    run(wm_context, "rollout.imagine_policy")


def test_imagine_replays(wm_context: Any) -> None:
    """``rollout(state, imagine(...).actions, deterministic=True)`` reproduces the states."""
    run(wm_context, "rollout.imagine_replays")


def test_coalesced_async(wm_context: Any) -> None:
    """Concurrent ``async_rollout`` calls, one per item, each equal that item's rollout alone."""
    run(wm_context, "rollout.coalesced_async")
