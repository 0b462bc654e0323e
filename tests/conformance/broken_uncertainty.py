"""Small correct ensembles, and models that report their uncertainty wrongly, one flaw each.

Each factory is a conformance target: ``tests.conformance.broken_uncertainty:<name>``.
"""

from __future__ import annotations

from typing import Any

import torch

from worldmodel_sdk import Capability, IOContract, ModelOutput, State, WorldModel
from worldmodel_sdk.capabilities import disagreement_key
from worldmodel_sdk.data import AgentSpec
from worldmodel_sdk.ensemble import Ensemble, EnsembleConfig
from worldmodel_sdk.models import JOPM, ExampleModel, JOPMConfig

from .broken import Tiny

SPEC = "tests.conformance.broken_uncertainty"


def example_ensemble() -> WorldModel:
    """Three small `ExampleModel` members, one drawn per row and step."""
    torch.manual_seed(0)
    member = {"obs_dim": 4, "action_dim": 2, "latent_dim": 4, "hidden_dim": 8}
    return Ensemble.of(ExampleModel)(EnsembleConfig(members=3, member=member))


def jopm_ensemble() -> WorldModel:
    """Two small `JOPM` members over two agents of different sizes, one member kept per row."""
    torch.manual_seed(0)
    agents = (
        AgentSpec(name="a_0", obs_size=3, action_kind="discrete", action_size=2),
        AgentSpec(name="a_1", obs_size=2, action_kind="continuous", action_size=2),
    )
    member = JOPMConfig(
        agents=agents, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8, head_depth=1
    ).model_dump(mode="json")
    return Ensemble.of(JOPM)(EnsembleConfig(members=2, propagation="fixed", member=member))


class _Reports(Tiny):
    """Declares epistemic_uncertainty and its disagreement predictions; reports ``_spread``."""

    capabilities = Tiny.capabilities | {Capability.EPISTEMIC_UNCERTAINTY}

    def io_contract(self) -> IOContract:
        base = super().io_contract()
        spreads = {disagreement_key(k): v for k, v in base.prediction.items()}
        return base.model_copy(update={"prediction": {**base.prediction, **spreads}})

    def _spread(self, value: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        out = super().decode(state, conditions).predictions
        spreads = {disagreement_key(k): self._spread(v) for k, v in out.items()}
        return ModelOutput({**out, **spreads}, state)


class SpreadUndeclared(Tiny):
    """Declares epistemic_uncertainty, but neither its contract nor decode reports any."""

    capabilities = Tiny.capabilities | {Capability.EPISTEMIC_UNCERTAINTY}


class SpreadNegative(_Reports):
    """Reports a signed difference as its disagreement."""

    def _spread(self, value: torch.Tensor) -> torch.Tensor:
        return value - value.abs() - 0.5


class SpreadZero(_Reports):
    """Reports zero disagreement whatever it predicts."""

    def _spread(self, value: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(value)


class FlooredEnsemble(Ensemble):
    """An ensemble that adds a floor to its variance, so agreeing members still disagree."""

    capabilities = Tiny.capabilities | {Capability.EPISTEMIC_UNCERTAINTY}
    member_class = Tiny
    model_type = "floored_ensemble"

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        out = super().decode(state, conditions).predictions
        floored = {k: v + 1e-3 if k.endswith(".disagreement") else v for k, v in out.items()}
        return ModelOutput(floored, state)


def spread_undeclared() -> WorldModel:
    return SpreadUndeclared()


def spread_negative() -> WorldModel:
    return SpreadNegative()


def spread_zero() -> WorldModel:
    return SpreadZero()


def floored_ensemble() -> WorldModel:
    torch.manual_seed(0)
    return FlooredEnsemble(EnsembleConfig(members=2))
