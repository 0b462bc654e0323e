"""Models whose imagination or coalesced async calls are broken, one flaw each.

Each factory is a conformance target: ``tests.conformance.broken_batching:<name>``.
"""

from __future__ import annotations

from typing import Any

import torch

from worldmodel_sdk import State, Trajectory

from .broken import Tiny

SPEC = "tests.conformance.broken_batching"


class ImagineSkipsPolicy(Tiny):
    """Asks the policy once and repeats that action for every step."""

    def imagine(self, initial_state: State, policy: Any, horizon: int, **kwargs: Any) -> Trajectory:
        first = policy(initial_state)
        actions = torch.stack([first] * horizon)
        return self.rollout(initial_state, actions, kwargs.get("conditions"), True)


class ImagineIgnoresDeterministic(Tiny):
    """Samples during imagination even when asked to be deterministic."""

    def imagine(self, initial_state: State, policy: Any, horizon: int, **kwargs: Any) -> Trajectory:
        kwargs["deterministic"] = False
        return super().imagine(initial_state, policy, horizon, **kwargs)


class TransitionCoupled(Tiny):
    """Centres the latent over the batch, so rows of a coalesced batch affect each other."""

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        z = super().transition(state, action, conditions, deterministic)["z"]
        return State({"z": z - z.mean(0, keepdim=True)})


def imagine_skips_policy() -> ImagineSkipsPolicy:
    return ImagineSkipsPolicy()


def imagine_ignores_deterministic() -> ImagineIgnoresDeterministic:
    return ImagineIgnoresDeterministic()


def transition_coupled() -> TransitionCoupled:
    return TransitionCoupled()
