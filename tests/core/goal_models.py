"""A Dreamer-style model with discrete actions and a goal condition, written from the docs."""

from __future__ import annotations

import torch
from torch import nn

from worldmodel_sdk import (
    ActionSpec,
    Capability,
    ConditionSpec,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
    WorldModelInput,
)
from worldmodel_sdk.payloads.action import flatten_action


class GoalRSSM(WorldModel):
    """Discrete actions, a goal condition, a sampled posterior, reward and continue heads."""

    capabilities = frozenset(
        {
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.POSTERIOR_UPDATE,
            Capability.OBS_DECODER,
            Capability.REWARD_PRED,
            Capability.CONTINUE_PRED,
        }
    )
    condition = ConditionSpec(tensors={"goal": TensorSpec(shape=("B", 2))}, required=("goal",))

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(3, 8)
        self.dyn = nn.Linear(4 + 4 + 2, 4)
        self.post = nn.Linear(4 + 3, 8)
        self.dec = nn.Linear(4, 3 + 2)

    def io_contract(self) -> IOContract:
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", 3))},
            action=ActionSpec(kind="discrete", num_actions=4),
            state={"z": TensorSpec(shape=("B", 4))},
            prediction={
                "obs": TensorSpec(shape=("B", 3)),
                "reward": TensorSpec(shape=("B", 1)),
                "continue": TensorSpec(shape=("B",)),
            },
            condition=self.condition,
        )

    @staticmethod
    def _sample(stats: torch.Tensor, deterministic: bool) -> torch.Tensor:
        mean, logstd = stats.chunk(2, dim=-1)
        return mean if deterministic else mean + torch.randn_like(mean) * logstd.exp()

    def encode(self, obs, deterministic=False):
        x = obs if isinstance(obs, torch.Tensor) else obs["obs"]
        return State({"z": self._sample(self.enc(x), deterministic)})

    def transition(self, state, action, conditions=None, deterministic=False):
        flat = flatten_action(self.contract().action, action)
        goal = conditions.tensors["goal"] if conditions is not None else torch.zeros(len(flat), 2)
        return State({"z": torch.tanh(self.dyn(torch.cat([state["z"], flat, goal], -1)))})

    def update(self, state, action, obs, conditions=None, deterministic=False):
        prior = self.transition(state, action, conditions, deterministic)
        x = obs if isinstance(obs, torch.Tensor) else obs["obs"]
        stats = self.post(torch.cat([prior["z"], x], -1))
        return State({"z": self._sample(stats, deterministic)})

    def decode(self, state, conditions=None):
        out = self.dec(state["z"])
        return ModelOutput(
            {"obs": out[:, :3], "reward": out[:, 3:4], "continue": torch.sigmoid(out[:, 4])},
            state,
        )

    def loss(self, batch: WorldModelInput) -> LossOutput:
        """Reconstruct the observation and learn the reward and continue targets it declares."""
        self.validate_batch_contract(batch)
        x = batch.obs if isinstance(batch.obs, torch.Tensor) else batch.obs["obs"]
        out = self.dec(self.enc(x).chunk(2, dim=-1)[0])
        parts = {"obs": (out[..., :3] - x).pow(2).mean()}
        if batch.rewards is not None:
            parts["reward"] = (out[..., 3] - batch.rewards).pow(2).mean()
        if batch.continues is not None:
            parts["continue"] = nn.functional.binary_cross_entropy_with_logits(
                out[..., 4], batch.continues.float()
            )
        return LossOutput(
            total=sum(parts.values(), torch.zeros(())),
            components={k: v.detach() for k, v in parts.items()},
        )


class SampledRSSM(GoalRSSM):
    """The same model with an optional goal: what the conformance suite can drive."""

    condition = ConditionSpec(tensors={"goal": TensorSpec(shape=("B", 2))})


class LegacyUpdate(GoalRSSM):
    """An ``update`` written before the protocol had ``deterministic``."""

    seen: list[tuple[int, bool]]

    def update(self, state, action, obs, conditions=None):
        self.seen.append((len(state["z"]), conditions is not None))
        return super().update(state, action, obs, conditions, True)


class EpisodeGoal(GoalRSSM):
    """A goal that holds for the whole episode; ``loss`` records what it was given."""

    condition = ConditionSpec(
        tensors={"goal": TensorSpec(shape=("B", 2))}, required=("goal",), per_episode=("goal",)
    )
    seen: list[tuple[int, ...]]

    def loss(self, batch: WorldModelInput) -> LossOutput:
        self.validate_batch_contract(batch)
        assert batch.conditions is not None
        self.seen.append(tuple(batch.conditions.tensors["goal"].shape))
        return LossOutput(total=torch.zeros(()))
