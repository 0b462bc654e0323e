"""A small correct model and deliberately broken variants, one flaw each.

Each factory is a conformance target: ``tests.conformance.broken:<name>``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from worldmodel_sdk import (
    ActionSpec,
    Capability,
    ConditionPayload,
    ConditionSpec,
    ContractError,
    IOContract,
    LossOutput,
    ModelOutput,
    State,
    TensorSpec,
    WorldModel,
    WorldModelInput,
)
from worldmodel_sdk.conformance import Target
from worldmodel_sdk.payloads.action import ActionPayload, flatten_action

C = Capability
SPEC = "tests.conformance.broken"


class TinyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    obs_dim: int = 4
    action_dim: int = 2
    latent_dim: int = 3


def _obs(obs: Any) -> torch.Tensor:
    return obs if isinstance(obs, torch.Tensor) else obs["obs"]


def _act(action: Any) -> torch.Tensor:
    return action.tensor if isinstance(action, ActionPayload) else action


class Tiny(WorldModel):
    """A correct model: linear encoder, tanh dynamics, posterior, decoder, reward head."""

    capabilities = frozenset(
        {C.REPRESENTATION, C.LATENT_DYNAMICS, C.POSTERIOR_UPDATE, C.OBS_DECODER, C.REWARD_PRED}
    )
    config_class = TinyConfig
    config: TinyConfig

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.enc = nn.Linear(c.obs_dim, c.latent_dim)
        self.dyn = nn.Linear(c.latent_dim + c.action_dim, c.latent_dim)
        self.post = nn.Linear(2 * c.latent_dim + c.obs_dim, c.latent_dim)
        self.dec = nn.Linear(c.latent_dim, c.obs_dim)
        self.rew = nn.Linear(c.latent_dim, 1)
        self.register_buffer("scale", torch.ones(()))

    def io_contract(self) -> IOContract:
        c = self.config
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", c.obs_dim))},
            action=ActionSpec(kind="continuous", shape=(c.action_dim,)),
            state={"z": TensorSpec(shape=("B", c.latent_dim))},
            prediction={
                "obs": TensorSpec(shape=("B", c.obs_dim)),
                "reward": TensorSpec(shape=("B", 1)),
            },
        )

    def _noise(self, z: torch.Tensor, deterministic: bool) -> torch.Tensor:
        return z if deterministic else z + 0.1 * torch.randn_like(z)

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return State({"z": self._noise(self.enc(_obs(obs) * self.scale), deterministic)})

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        z = torch.tanh(self.dyn(torch.cat([state["z"], _act(action)], -1)))
        return State({"z": self._noise(z, deterministic)})

    def update(self, state: State, action: Any, obs: Any, conditions: Any = None) -> State:
        prior = self.transition(state, action, deterministic=True)["z"]
        return State({"z": torch.tanh(self.post(torch.cat([state["z"], prior, _obs(obs)], -1)))})

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        z = state["z"]
        return ModelOutput({"obs": self.dec(z), "reward": self.rew(z)}, state)

    def loss(self, batch: WorldModelInput) -> LossOutput:
        self.validate_batch_contract(batch)
        obs = _obs(batch.obs)
        first = obs[:, 0] if batch.sequence else obs
        state = self.encode(first, deterministic=True)
        pred = self.decode(state)
        recon = (pred["obs"][..., : first.shape[-1]] - first).pow(2).mean()
        lead = obs.shape[:2] if batch.sequence else obs.shape[:1]
        rewards = torch.zeros(lead) if batch.rewards is None else batch.rewards
        reward = rewards[:, 0] if batch.sequence else rewards
        total = recon + (pred["reward"][:, 0] - reward).pow(2).mean()
        if batch.sequence and batch.actions is not None:
            nxt = self.update(state, _act(batch.actions)[:, 0], obs[:, 1])
            total = (
                total + (self.decode(nxt)["obs"][..., : first.shape[-1]] - obs[:, 1]).pow(2).mean()
            )
        return LossOutput(total=total, components={"recon": recon.detach()})


def tiny() -> Tiny:
    return Tiny()


class SampledPosterior(Tiny):
    """A correct model whose update samples its posterior unless told to be deterministic."""

    def update(
        self,
        state: State,
        action: Any,
        obs: Any,
        conditions: Any = None,
        deterministic: bool = False,
    ) -> State:
        z = super().update(state, action, obs, conditions)["z"]
        return State({"z": self._noise(z, deterministic)})


class Conditioned(Tiny):
    """A correct model whose dynamics and loss need a 'goal' condition."""

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        self.goal = nn.Linear(2, self.config.latent_dim)

    def io_contract(self) -> IOContract:
        goal = ConditionSpec(tensors={"goal": TensorSpec(shape=("B", 2))}, required=("goal",))
        return super().io_contract().model_copy(update={"condition": goal})

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        z = super().transition(state, action, None, deterministic)["z"]
        return State({"z": torch.tanh(z + self.goal(conditions.tensors["goal"]))})

    def update(self, state: State, action: Any, obs: Any, conditions: Any = None) -> State:
        prior = self.transition(state, action, conditions, deterministic=True)["z"]
        return State({"z": torch.tanh(self.post(torch.cat([state["z"], prior, _obs(obs)], -1)))})

    def loss(self, batch: WorldModelInput) -> LossOutput:
        self.validate_batch_contract(batch)
        assert batch.conditions is not None
        obs, goal = _obs(batch.obs), batch.conditions.tensors["goal"]
        first = obs[:, 0] if batch.sequence else obs
        cond = ConditionPayload({"goal": goal[:, 0] if batch.sequence else goal})
        state = self.encode(first, deterministic=True)
        nxt = self.transition(state, torch.zeros(first.shape[0], 2), cond, deterministic=True)
        pred = self.decode(nxt, cond)
        rewards = torch.zeros(first.shape[0]) if batch.rewards is None else batch.rewards
        reward = rewards[:, 0] if batch.sequence else rewards
        recon = (pred["obs"] - first).pow(2).mean()
        return LossOutput(total=recon + (pred["reward"][:, 0] - reward).pow(2).mean())


# -- one flaw each ------------------------------------------------------------------------


class LacksDeclaredHead(Tiny):
    """Declares continue_pred but has no 'continue' head."""

    capabilities = Tiny.capabilities | {C.CONTINUE_PRED}


class AsyncBypassesGuard(Tiny):
    """Does not declare representation, yet its async_encode answers.

    The base class guards async twins defined in a class body; this one is
    patched onto the class afterwards, which only the conformance check sees.
    """

    capabilities = Tiny.capabilities - {C.REPRESENTATION}

    def loss(self, batch: WorldModelInput) -> LossOutput:
        z = self.enc(_obs(batch.obs))
        reward = self.rew(z)[..., 0] - (0.0 if batch.rewards is None else batch.rewards)
        return LossOutput(total=z.pow(2).mean() + reward.pow(2).mean())


async def _unguarded_async_encode(
    self: AsyncBypassesGuard, obs: Any, deterministic: bool = False
) -> State:
    return State({"z": self.enc(_obs(obs))})


AsyncBypassesGuard.async_encode = _unguarded_async_encode  # type: ignore[method-assign]


class WrongShape(Tiny):
    """Predicts one observation feature too many."""

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        out = super().decode(state, conditions)
        out.predictions["obs"] = torch.cat([out["obs"], out["obs"][:, :1]], -1)
        return out


class Nondeterministic(Tiny):
    """Samples in encode even with deterministic=True."""

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return super().encode(obs, deterministic=False)


class MutatesState(Tiny):
    """Halves its input state in place after each transition."""

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        out = super().transition(state, action, conditions, deterministic)
        with torch.no_grad():
            state["z"].mul_(0.5)
        return out


class RolloutOffByOne(Tiny):
    """Rolls out one step too many (the last action twice)."""

    def rollout(
        self,
        initial_state: State,
        action_sequence: Any,
        conditions: Any = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Any:
        seq = action_sequence
        extra = torch.cat([seq, seq[-1:]]) if isinstance(seq, torch.Tensor) else [*seq, seq[-1]]
        return super().rollout(initial_state, extra, conditions, deterministic, mode)


class LossNotFinite(Tiny):
    """Returns an infinite loss."""

    def loss(self, batch: WorldModelInput) -> LossOutput:
        out = super().loss(batch)
        return LossOutput(total=out.total + float("inf"), components=out.components)


class LossDetached(Tiny):
    """Returns a loss cut off from the parameters."""

    def loss(self, batch: WorldModelInput) -> LossOutput:
        out = super().loss(batch)
        return LossOutput(total=out.total.detach(), components=out.components)


class LosesBuffer(Tiny):
    """Keeps its observation scale in a buffer that save_pretrained does not write."""

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        del self.scale
        self.register_buffer("scale", torch.ones(()), persistent=False)


class AsyncDiffers(Tiny):
    """async_rollout ignores deterministic=True."""

    async def async_rollout(
        self,
        initial_state: State,
        action_sequence: Any,
        conditions: Any = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Any:
        return self.rollout(initial_state, action_sequence, conditions, False, mode)


class LaxNaN(Tiny):
    """Accepts NaN observations."""

    def validate_observation(self, obs: Any) -> None:
        mapping = obs if isinstance(obs, dict) else {"obs": obs}
        super().validate_observation({k: v.nan_to_num() for k, v in mapping.items()})


class RejectsValid(Tiny):
    """Refuses valid actions above 0.5."""

    def validate_action(self, action: Any) -> None:
        super().validate_action(action)
        if float(_act(action).max()) > 0.5:
            raise ContractError("action above 0.5")


class UnstableFingerprint(Tiny):
    """Allows non-finite rewards in every contract after the first it returns."""

    def io_contract(self) -> IOContract:
        calls = self.__dict__["_calls"] = self.__dict__.get("_calls", 0) + 1
        base = super().io_contract()
        reward = TensorSpec(shape=("B", 1), allow_nonfinite=calls > 1)
        return base.model_copy(update={"prediction": {**base.prediction, "reward": reward}})


class RenamedParameter(Tiny):
    """Renames decode's first parameter."""

    def decode(self, latent: State, conditions: Any = None) -> ModelOutput:  # type: ignore[override]
        return super().decode(latent, conditions)


class GradLeak(Tiny):
    """Builds a graph in transition even under torch.no_grad()."""

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        with torch.enable_grad():
            return super().transition(state, action, conditions, deterministic)


class BatchCoupled(Tiny):
    """Normalises predictions over the batch."""

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        out = super().decode(state, conditions)
        out.predictions["obs"] = out["obs"] - out["obs"].mean(0, keepdim=True)
        return out


class InstanceCapabilities(Tiny):
    """Changes its capabilities per instance."""

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        self.capabilities = frozenset({C.REPRESENTATION})  # type: ignore[misc]


class LossStub(Tiny):
    """Leaves loss as a stub."""

    def loss(self, batch: WorldModelInput) -> LossOutput:
        raise NotImplementedError("training happens elsewhere")


class AsyncPredictionsDiffer(Tiny):
    """async_rollout returns the states of rollout but stale predictions."""

    async def async_rollout(
        self,
        initial_state: State,
        action_sequence: Any,
        conditions: Any = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Any:
        traj = self.rollout(initial_state, action_sequence, conditions, deterministic, mode)
        if traj.predictions:
            traj.predictions = {k: torch.zeros_like(v) for k, v in traj.predictions.items()}
        return traj


class IgnoresAction(Tiny):
    """A transition that never looks at the action."""

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        return super().transition(state, torch.zeros_like(_act(action)), conditions, deterministic)


class IgnoresObservation(Tiny):
    """An update that folds in the prior and never the observation."""

    def update(self, state: State, action: Any, obs: Any, conditions: Any = None) -> State:
        return super().update(state, action, torch.zeros_like(_obs(obs)), conditions)


class WithDropout(Tiny):
    """Applies dropout to the observation before encoding it (random in train mode only)."""

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        self.drop = nn.Dropout(0.5)

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return super().encode(self.drop(_obs(obs)), deterministic)


class BatchNormLeak(Tiny):
    """Normalises observations with batch norm: in train mode, items see each other."""

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        self.norm = nn.BatchNorm1d(self.config.obs_dim)

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return super().encode(self.norm(_obs(obs)), deterministic)


class SqrtObservation(Tiny):
    """Takes the square root of observations: fine for its own positive sample, NaN otherwise."""

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return super().encode(_obs(obs).sqrt(), deterministic)


class BoundedTiny(Tiny):
    """Tiny with actions declared in [0, 1]."""

    def io_contract(self) -> IOContract:
        base = super().io_contract()
        action = ActionSpec(kind="continuous", shape=(self.config.action_dim,), low=0.0, high=1.0)
        return base.model_copy(update={"action": action})


class DividesByAction(BoundedTiny):
    """Scales the next state by 1 / |action|: infinite at the declared lower bound 0."""

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        z = super().transition(state, action, conditions, deterministic)["z"]
        return State({"z": z / _act(action).sum(-1, keepdim=True)})


class PreallocatedBatch(Tiny):
    """Adds an initial latent preallocated for at most three items: batch size 4 breaks it."""

    def __init__(self, config: TinyConfig | None = None) -> None:
        super().__init__(config)
        self.register_buffer("z0", torch.zeros(3, self.config.latent_dim))

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        z = super().encode(obs, deterministic)["z"]
        return State({"z": z + self.z0[: z.shape[0]]})


class MutatesBatch(Tiny):
    """Scales the batch's observations in place inside loss."""

    def loss(self, batch: WorldModelInput) -> LossOutput:
        with torch.no_grad():
            _obs(batch.obs).mul_(0.5)
        return super().loss(batch)


class IgnoresRewards(Tiny):
    """Declares a reward head but trains it towards zero whatever the rewards were."""

    def loss(self, batch: WorldModelInput) -> LossOutput:
        return super().loss(dataclasses.replace(batch, rewards=None))


# -- multi-agent --------------------------------------------------------------------------


class MultiTinyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    obs_dim: int = 2
    latent_dim: int = 3
    growth: float = 1.0


class MultiTiny(WorldModel):
    """A correct multi-agent model: agent 'a' acts discretely, agent 'b' continuously."""

    capabilities = frozenset({C.REPRESENTATION, C.LATENT_DYNAMICS, C.OBS_DECODER, C.MULTI_AGENT})
    config_class = MultiTinyConfig
    config: MultiTinyConfig
    agents = ("a", "b")

    def __init__(self, config: MultiTinyConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.enc = nn.Linear(2 * c.obs_dim, c.latent_dim)
        self.dyn = nn.Linear(c.latent_dim + self._action_spec().flat_size, c.latent_dim)
        self.dec = nn.Linear(c.latent_dim, sum(self._predicted_sizes().values()))

    def _action_spec(self) -> ActionSpec:
        return ActionSpec(
            kind="joint",
            agents={
                "a": ActionSpec(kind="discrete", num_actions=3),
                "b": ActionSpec(kind="continuous", shape=(1,), low=-1.0, high=1.0),
            },
        )

    def _predicted_sizes(self) -> dict[str, int]:
        return dict.fromkeys(self.agents, self.config.obs_dim)

    def io_contract(self) -> IOContract:
        c = self.config
        return IOContract(
            observation={name: TensorSpec(shape=("B", c.obs_dim)) for name in self.agents},
            action=self._action_spec(),
            state={"z": TensorSpec(shape=("B", c.latent_dim))},
            prediction={
                name: TensorSpec(shape=("B", size))
                for name, size in self._predicted_sizes().items()
            },
            agents=self.agents,
        )

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return State({"z": torch.tanh(self.enc(torch.cat([obs[n] for n in self.agents], -1)))})

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        flat = flatten_action(self._action_spec(), action)
        z = state["z"] * self.config.growth + torch.tanh(
            self.dyn(torch.cat([state["z"], flat], -1))
        )
        return State({"z": z})

    def decode(self, state: State, conditions: Any = None) -> ModelOutput:
        out = self.dec(state["z"])
        sizes = self._predicted_sizes()
        parts = out.split(list(sizes.values()), -1)
        return ModelOutput(dict(zip(self.agents, parts, strict=True)), state)

    def loss(self, batch: WorldModelInput) -> LossOutput:
        self.validate_batch_contract(batch)
        assert isinstance(batch.obs, dict)
        obs = {n: v[:, 0] if batch.sequence else v for n, v in batch.obs.items()}
        pred = self.decode(self.encode(obs, deterministic=True))
        d = self.config.obs_dim
        total = sum(
            ((pred[n][..., :d] - obs[n]).pow(2).mean() for n in self.agents), torch.zeros(())
        )
        return LossOutput(total=total)


class LaxAgents(MultiTiny):
    """Fills in a missing agent's observation with zeros and ignores unknown agents."""

    def validate_observation(self, obs: Any) -> None:
        first = next(iter(obs.values()))
        shape = (*first.shape[:-1], self.config.obs_dim)
        super().validate_observation(
            {n: obs[n] if n in obs else first.new_zeros(shape) for n in self.agents}
        )


class UnstableDynamics(MultiTiny):
    """Dynamics that grow the state 10^4-fold per step: finite for a few steps, then inf."""

    def __init__(self, config: MultiTinyConfig | None = None) -> None:
        super().__init__(config or MultiTinyConfig(growth=1e4))


class NoisyDynamics(MultiTiny):
    """Samples in transition even with deterministic=True, from a generator of its own
    (out of reach of torch's seeding, as a seeded env's own stream is)."""

    noise = np.random.default_rng()

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        z = super().transition(state, action, conditions, deterministic)["z"]
        drawn = torch.from_numpy(self.noise.standard_normal(tuple(z.shape), np.float32))
        return State({"z": z + 0.1 * drawn})


class IgnoresAgentAction(MultiTiny):
    """Transitions on agent 'a''s action only; agent 'b' might as well not act."""

    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        agents = dict(action.agents)
        agents["b"] = torch.zeros_like(agents["b"])
        return super().transition(state, ActionPayload("joint", agents=agents), conditions)


class IgnoresAgentObservation(MultiTiny):
    """Encodes agent 'a''s observation twice and never agent 'b''s."""

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return super().encode({"a": obs["a"], "b": obs["a"]}, deterministic)


class OrderDependent(MultiTiny):
    """Concatenates observations in whatever order the dict holds them."""

    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return State({"z": torch.tanh(self.enc(torch.cat(list(obs.values()), -1)))})


def lacks_declared_head() -> WorldModel:
    return LacksDeclaredHead()


def async_bypasses_guard() -> WorldModel:
    return AsyncBypassesGuard()


def wrong_shape() -> WorldModel:
    return WrongShape()


def nondeterministic() -> WorldModel:
    return Nondeterministic()


def mutates_state() -> WorldModel:
    return MutatesState()


def rollout_off_by_one() -> WorldModel:
    return RolloutOffByOne()


def loss_not_finite() -> WorldModel:
    return LossNotFinite()


def loss_detached() -> WorldModel:
    return LossDetached()


def loses_buffer() -> WorldModel:
    model = LosesBuffer()
    model.scale.fill_(2.0)
    return model


def async_differs() -> WorldModel:
    return AsyncDiffers()


def lax_nan() -> WorldModel:
    return LaxNaN()


def rejects_valid() -> WorldModel:
    return RejectsValid()


def unstable_fingerprint() -> WorldModel:
    return UnstableFingerprint()


def renamed_parameter() -> WorldModel:
    return RenamedParameter()


def grad_leak() -> WorldModel:
    return GradLeak()


def batch_coupled() -> WorldModel:
    return BatchCoupled()


def instance_capabilities() -> WorldModel:
    return InstanceCapabilities()


def loss_stub() -> WorldModel:
    return LossStub()


def async_predictions_differ() -> WorldModel:
    return AsyncPredictionsDiffer()


def multi_tiny() -> WorldModel:
    return MultiTiny()


def lax_agents() -> WorldModel:
    return LaxAgents()


def unstable_dynamics() -> WorldModel:
    return UnstableDynamics()


def noisy_dynamics() -> WorldModel:
    return NoisyDynamics()


def ignores_action() -> WorldModel:
    return IgnoresAction()


def ignores_observation() -> WorldModel:
    return IgnoresObservation()


def ignores_agent_action() -> WorldModel:
    return IgnoresAgentAction()


def ignores_agent_observation() -> WorldModel:
    return IgnoresAgentObservation()


def ignores_action_declared() -> Target:
    """A model that ignores its action and says so."""
    return Target(IgnoresAction(), xfail={"sensitivity.transition_action": "a clock, not a robot"})


def order_dependent() -> WorldModel:
    return OrderDependent()


def with_dropout() -> WorldModel:
    return WithDropout()


def with_dropout_declared() -> Target:
    """Dropout in train mode, declared: the train-mode checks hold it in eval mode."""
    return Target(WithDropout(), train_dropout=True)


def batch_norm_leak() -> WorldModel:
    return BatchNormLeak()


def with_dropout_in_eval_mode() -> WorldModel:
    return WithDropout().eval()


def sqrt_observation_with_positive_sample() -> tuple[WorldModel, WorldModelInput]:
    gen = torch.Generator().manual_seed(7)
    sample = WorldModelInput(
        obs={"obs": torch.rand(2, 3, 4, generator=gen)},
        actions=torch.rand(2, 3, 2, generator=gen),
        rewards=torch.zeros(2, 3),
        sequence=True,
    )
    return SqrtObservation(), sample


def divides_by_action() -> WorldModel:
    return DividesByAction()


def preallocated_batch() -> WorldModel:
    return PreallocatedBatch()


def mutates_batch() -> WorldModel:
    return MutatesBatch()


def ignores_rewards() -> WorldModel:
    return IgnoresRewards()


def invalid_sample() -> tuple[WorldModel, WorldModelInput]:
    """The correct model with a sample whose observations have one feature too many."""
    sample = WorldModelInput(obs={"obs": torch.zeros(2, 3, 5)}, sequence=True)
    return Tiny(), sample


def sampled_posterior() -> WorldModel:
    return SampledPosterior()


def conditioned() -> WorldModel:
    return Conditioned()


def with_sample() -> tuple[WorldModel, WorldModelInput]:
    """The correct model with its own sample batch."""
    gen = torch.Generator().manual_seed(7)
    sample = WorldModelInput(
        obs={"obs": torch.randn(2, 3, 4, generator=gen)},
        actions=torch.rand(2, 3, 2, generator=gen),
        rewards=torch.zeros(2, 3),
        sequence=True,
    )
    return Tiny(), sample
