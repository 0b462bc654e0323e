"""Small models used by the core tests."""

from __future__ import annotations

import torch
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
from worldmodel_sdk.payloads.action import flatten_action


class EncodeOnly(WorldModel):
    capabilities = frozenset({Capability.REPRESENTATION})

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def io_contract(self) -> IOContract:
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", 3))},
            state={"z": TensorSpec(shape=("B", 2))},
        )

    def encode(self, obs, deterministic=False):
        x = obs if isinstance(obs, torch.Tensor) else obs["obs"]
        return State({"z": self.lin(x)})

    def loss(self, batch: WorldModelInput) -> LossOutput:
        return LossOutput(total=self.encode(batch.obs).tensors["z"].pow(2).mean())


class TwoAgents(WorldModel):
    """Multi-agent model: agents with different obs sizes and discrete actions."""

    capabilities = frozenset(
        {
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
            Capability.REWARD_PRED,
            Capability.CONTINUE_PRED,
            Capability.VALUE,
            Capability.MULTI_AGENT,
        }
    )
    agents = ("agent_2", "agent_10")

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4 + 6, 5)
        self.dyn = nn.Linear(5 + 3 + 2, 5)
        self.dec = nn.Linear(5, 4 + 6 + 3)

    def io_contract(self) -> IOContract:
        return IOContract(
            agents=self.agents,
            observation={
                "agent_2": TensorSpec(shape=("B", 4)),
                "agent_10": TensorSpec(shape=("B", 6)),
            },
            action=ActionSpec(
                kind="joint",
                agents={
                    "agent_2": ActionSpec(kind="discrete", num_actions=3),
                    "agent_10": ActionSpec(kind="continuous", shape=(2,), low=-1.0, high=1.0),
                },
            ),
            state={"z": TensorSpec(shape=("B", 5))},
        )

    def encode(self, obs, deterministic=False):
        return State({"z": self.enc(torch.cat([obs["agent_2"], obs["agent_10"]], -1))})

    def transition(self, state, action, conditions=None, deterministic=False):
        spec = self.contract().action
        flat = flatten_action(spec, action)
        return State({"z": torch.tanh(self.dyn(torch.cat([state.tensors["z"], flat], -1)))})

    def decode(self, state, conditions=None):
        out = self.dec(state.tensors["z"])
        return ModelOutput(
            {
                "agent_2": out[:, :4],
                "agent_10": out[:, 4:10],
                "reward": out[:, 10:11],
                "continue": torch.sigmoid(out[:, 11]),
                "value": out[:, 12],
            }
        )

    def loss(self, batch):
        return LossOutput(total=self.encode(batch.obs).tensors["z"].pow(2).mean())


def joint_action(batch: int, *lead: int) -> ActionPayload:
    return ActionPayload(
        kind="joint",
        agents={
            "agent_2": torch.randint(0, 3, (*lead, batch)),
            "agent_10": torch.rand(*lead, batch, 2) * 2 - 1,
        },
    )
