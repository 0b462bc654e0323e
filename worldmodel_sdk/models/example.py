"""`ExampleModel`: a small recurrent state-space model showing the whole protocol.

It encodes vector observations, steps a GRU over latent + continuous action,
folds new observations in, and decodes observations and rewards. It is small
enough for quick starts, tests and the rollout-overhead benchmark.
"""

from __future__ import annotations

from typing import final

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from .._checked import inputs_checked
from ..capabilities import Capability
from ..contract import ActionSpec, IOContract, TensorSpec
from ..model import Action, Obs, WorldModel
from ..payloads.action import ActionPayload
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import LossOutput, ModelOutput, WorldModelInput
from ..payloads.state import State
from ..registry import register_model

__all__ = ["ExampleConfig", "ExampleModel"]


class ExampleConfig(BaseModel):
    """Sizes of `ExampleModel`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    obs_dim: int = Field(8, ge=1)
    action_dim: int = Field(2, ge=1)
    latent_dim: int = Field(16, ge=1)
    hidden_dim: int = Field(32, ge=1)


@final
@register_model("example")
class ExampleModel(WorldModel):
    """A small recurrent latent model over vector observations and continuous actions.

    State: ``h`` (GRU memory, ``[B, hidden_dim]``) and ``z`` (latent, ``[B, latent_dim]``).
    With ``deterministic=False`` the latent is sampled from a Gaussian; with
    ``deterministic=True`` its mean is used.
    """

    capabilities = frozenset(
        {
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.POSTERIOR_UPDATE,
            Capability.OBS_DECODER,
            Capability.REWARD_PRED,
            Capability.RECURRENT,
        }
    )
    config_class = ExampleConfig
    config: ExampleConfig

    def __init__(self, config: ExampleConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.encoder = nn.Linear(c.obs_dim, 2 * c.latent_dim)
        self.cell = nn.GRUCell(c.latent_dim + c.action_dim, c.hidden_dim)
        self.prior = nn.Linear(c.hidden_dim, 2 * c.latent_dim)
        self.posterior = nn.Linear(c.hidden_dim + c.obs_dim, 2 * c.latent_dim)
        self.obs_head = nn.Linear(c.hidden_dim + c.latent_dim, c.obs_dim)
        self.reward_head = nn.Linear(c.hidden_dim + c.latent_dim, 1)

    def io_contract(self) -> IOContract:
        """Vector observation ``obs``, continuous action, state ``h`` and ``z``."""
        c = self.config
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", c.obs_dim))},
            action=ActionSpec(kind="continuous", shape=(c.action_dim,)),
            state={
                "h": TensorSpec(shape=("B", c.hidden_dim)),
                "z": TensorSpec(shape=("B", c.latent_dim)),
            },
            prediction={
                "obs": TensorSpec(shape=("B", c.obs_dim)),
                "reward": TensorSpec(shape=("B", 1)),
            },
        )

    @staticmethod
    def _sample(stats: torch.Tensor, deterministic: bool) -> torch.Tensor:
        mean, log_std = stats.chunk(2, dim=-1)
        if deterministic:
            return mean
        return mean + torch.randn_like(mean) * log_std.clamp(-5.0, 2.0).exp()

    @staticmethod
    def _obs(obs: Obs) -> torch.Tensor:
        return obs if isinstance(obs, torch.Tensor) else obs["obs"]

    @staticmethod
    def _action(action: Action) -> torch.Tensor:
        if isinstance(action, ActionPayload):
            assert action.tensor is not None
            return action.tensor
        return action

    def encode(self, obs: Obs, deterministic: bool = False) -> State:
        """Encode observations: ``z`` from the observation, ``h`` zero."""
        x = self._obs(obs)
        z = self._sample(self.encoder(x), deterministic)
        h = x.new_zeros(x.shape[0], self.config.hidden_dim)
        return State({"h": h, "z": z})

    def transition(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Step the GRU on (z, action) and draw the prior latent."""
        t = state.tensors
        h = self.cell(torch.cat([t["z"], self._action(action)], -1), t["h"])
        return State({"h": h, "z": self._sample(self.prior(h), deterministic)})

    def update(
        self,
        state: State,
        action: Action,
        obs: Obs,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Step the GRU, then take the posterior mean given the observation.

        The posterior is not sampled, so ``deterministic`` changes nothing here.
        """
        h = self.cell(torch.cat([state.tensors["z"], self._action(action)], -1), state.tensors["h"])
        stats = self.posterior(torch.cat([h, self._obs(obs)], -1))
        return State({"h": h, "z": self._sample(stats, True)})

    def decode(self, state: State, conditions: ConditionPayload | None = None) -> ModelOutput:
        """Predict the observation and the reward from ``(h, z)``."""
        feat = torch.cat([state.tensors["h"], state.tensors["z"]], -1)
        return ModelOutput({"obs": self.obs_head(feat), "reward": self.reward_head(feat)}, state)

    def loss(self, batch: WorldModelInput) -> LossOutput:
        """Teacher-forced next-observation and reward error over a ``[B, T]`` sequence."""
        self.validate_batch_contract(batch)
        with inputs_checked():
            return self._sequence_loss(batch)

    def _sequence_loss(self, batch: WorldModelInput) -> LossOutput:
        obs = self._obs(batch.obs)
        assert batch.actions is not None
        actions = self._action(batch.actions)
        state = self.encode(obs[:, 0], deterministic=True)
        obs_err, rew_err = obs.new_zeros(()), obs.new_zeros(())
        steps = obs.shape[1] - 1
        for t in range(steps):
            prior = self.transition(state, actions[:, t], deterministic=True)
            pred = self.decode(prior)
            obs_err = obs_err + (pred["obs"] - obs[:, t + 1]).pow(2).mean()
            if batch.rewards is not None:
                rew_err = rew_err + (pred["reward"][:, 0] - batch.rewards[:, t]).pow(2).mean()
            state = self.update(state, actions[:, t], obs[:, t + 1])
        scale = 1.0 / max(steps, 1)
        obs_loss, reward_loss = obs_err * scale, rew_err * scale
        return LossOutput(
            total=obs_loss + reward_loss,
            components={"obs": obs_loss.detach(), "reward": reward_loss.detach()},
        )
