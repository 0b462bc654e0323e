"""`AcmeGrid`: a latent model over vector observations and discrete moves."""

from __future__ import annotations

from typing import Any, final

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from worldmodel_sdk import (
    ActionPayload,
    ActionSpec,
    Capability,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
    WorldModelInput,
)


class AcmeGridConfig(BaseModel):
    """Sizes of `AcmeGrid`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    obs_dim: int = 6
    num_moves: int = 4
    latent_dim: int = 8


def _obs(obs: Any) -> torch.Tensor:
    return obs if isinstance(obs, torch.Tensor) else obs["cells"]


def _moves(action: Any) -> torch.Tensor:
    return action.tensor if isinstance(action, ActionPayload) else action


@final
class AcmeGrid(WorldModel):
    """Encodes cells, steps a latent on one-hot moves, decodes cells and reward."""

    capabilities = frozenset(
        {
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
            Capability.REWARD_PRED,
        }
    )
    config_class = AcmeGridConfig
    config: AcmeGridConfig

    def __init__(self, config: AcmeGridConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.encoder = nn.Linear(c.obs_dim, c.latent_dim)
        self.moves = nn.Embedding(c.num_moves, c.latent_dim)
        self.dynamics = nn.Linear(2 * c.latent_dim, c.latent_dim)
        self.cells = nn.Linear(c.latent_dim, c.obs_dim)
        self.reward = nn.Linear(c.latent_dim, 1)

    def io_contract(self) -> IOContract:
        c = self.config
        return IOContract(
            observation={"cells": TensorSpec(shape=("B", c.obs_dim))},
            action=ActionSpec(kind="discrete", num_actions=c.num_moves),
            state={"z": TensorSpec(shape=("B", c.latent_dim))},
            prediction={
                "cells": TensorSpec(shape=("B", c.obs_dim)),
                "reward": TensorSpec(shape=("B", 1)),
            },
        )

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        z = torch.tanh(self.encoder(_obs(obs)))
        if not deterministic:
            z = z + 0.05 * torch.randn_like(z)
        return State({"z": z})

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        step = torch.cat([state["z"], self.moves(_moves(action))], -1)
        z = torch.tanh(self.dynamics(step))
        if not deterministic:
            z = z + 0.05 * torch.randn_like(z)
        return State({"z": z})

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        z = state["z"]
        return ModelOutput({"cells": self.cells(z), "reward": self.reward(z)}, state)

    def loss(self, batch: WorldModelInput) -> LossOutput:
        self.validate_batch_contract(batch)
        cells, moves = _obs(batch.obs), _moves(batch.actions)
        state = self.encode(cells[:, 0], deterministic=True)
        error = cells.new_zeros(())
        for t in range(cells.shape[1] - 1):
            state = self.transition(state, moves[:, t], deterministic=True)
            predicted = self.decode(state)
            error = error + (predicted["cells"] - cells[:, t + 1]).pow(2).mean()
            if batch.rewards is not None:
                # rewards[:, t] follow moves[:, t]: the reward head learns them.
                error = error + (predicted["reward"][:, 0] - batch.rewards[:, t]).pow(2).mean()
        return LossOutput(total=error / max(cells.shape[1] - 1, 1))


def make_model() -> tuple[AcmeGrid, WorldModelInput]:
    """Conformance target: the model and a sample training batch ``[B=4, T=5]``."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    sample = WorldModelInput(
        obs={"cells": torch.randn(4, 5, 6, generator=gen)},
        actions=torch.randint(0, 4, (4, 5), generator=gen),
        rewards=torch.randn(4, 5, generator=gen),
        sequence=True,
    )
    return AcmeGrid(), sample
