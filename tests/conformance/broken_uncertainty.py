"""Small correct ensembles, and models that report their uncertainty wrongly, one flaw each.

Each factory is a conformance target: ``tests.conformance.broken_uncertainty:<name>``.
"""

from __future__ import annotations

from typing import Any

import torch

from worldmodel_sdk import (
    ActionPayload,
    ActionSpec,
    Capability,
    ContractError,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
    WorldModelInput,
)
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


class Drift(WorldModel):
    """A correct model whose state is its observation: ``x' = x + tanh(W [x, a])``."""

    capabilities = frozenset(
        {Capability.REPRESENTATION, Capability.LATENT_DYNAMICS, Capability.OBS_DECODER}
    )

    def __init__(self) -> None:
        super().__init__()
        self.step = torch.nn.Linear(5, 3)

    def io_contract(self) -> IOContract:
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", 3))},
            action=ActionSpec(kind="continuous", shape=(2,)),
            state={"x": TensorSpec(shape=("B", 3))},
            prediction={"obs": TensorSpec(shape=("B", 3))},
        )

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return State({"x": obs if isinstance(obs, torch.Tensor) else obs["obs"]})

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        a = action.tensor if isinstance(action, ActionPayload) else action
        x = state["x"]
        return State({"x": x + torch.tanh(self.step(torch.cat([x, a], -1)))})

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        return ModelOutput({"obs": state["x"]}, state)

    def loss(self, batch: WorldModelInput) -> LossOutput:
        self.validate_batch_contract(batch)
        obs = batch.obs if isinstance(batch.obs, torch.Tensor) else batch.obs["obs"]
        actions = (
            batch.actions.tensor if isinstance(batch.actions, ActionPayload) else batch.actions
        )
        if not batch.sequence or actions is None:
            raise ContractError("Drift trains on sequences of observations and actions")
        state = self.encode(obs[:, 0])
        pred = self.decode(self.transition(state, actions[:, 0]))["obs"]
        return LossOutput(total=(pred - obs[:, 1]).pow(2).mean())


def shared_state_ensemble() -> WorldModel:
    """Three `Drift` members stepping from each row's drawn member's state (PETS TS1)."""
    torch.manual_seed(0)
    return Ensemble.of(Drift)(EnsembleConfig(members=3, share_state=True))
