"""`JOPM`: Joint Observation Prediction Model = a `VAE` over the joint observation + an `RDLM`.

Per-agent observations are concatenated in natural agent order (``agent_2``
before ``agent_10``; agents may have different sizes) and normalised into ``x``.
The VAE encodes ``x`` to a latent ``z``; the RDLM steps ``z`` under the joint
action (one-hot for discrete agents) while carrying its recurrent memory. The
next observation is predicted as a change of the current one::

    x_{t+1} = x_t + C(x_t, dx_t, a_{t-1}, a_t; z_t, z_{t+1}, h_{t+1})

where `ChangeDecoder` ``C`` is a linear map of the observable history (the last
change ``dx_t`` and the last action ``a_{t-1}``: rigid bodies move on from their
velocity, and in some environments an action shows only one step later), fitted
by ridge regression before training, plus an MLP that also reads the latents and
the memory. The state holds ``z``, ``x``, ``dx``, the last action ``a`` and the
memory (``h``, and ``c`` for an LSTM).

`JOPM` predicts observations only; `WorldModelEnv` then takes rewards and
terminations from user `ComponentFunctions`. `JOPMWithHeads` adds a reward head
and a continue head on the predicted next state (team values, or one per agent
with ``per_agent=True``), trained from the rewards and termination flags a
dataset records, and declares ``reward_pred`` and ``continue_pred``. Both share
`JOPMBase`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast, final

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from .._checked import public_call
from ..capabilities import Capability
from ..contract import ActionSpec, IOContract, TensorSpec
from ..data.spec import AgentSpec, DatasetSpec
from ..errors import ContractError
from ..model import Action, Obs, WorldModel
from ..payloads.action import flatten_action
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import LossOutput, ModelOutput, WorldModelInput
from ..payloads.state import State
from ..registry import register_model
from ..training import SearchDim
from .change import ChangeDecoder
from .predictor import JOPMPredictor
from .rdlm import RDLM, Memory, RDLMConfig, start_windows
from .vae import VAE, Activation, VAEConfig, mlp

__all__ = ["JOPM", "JOPMBase", "JOPMConfig", "JOPMWithHeads", "JOPMWithHeadsConfig"]


def _simple_spread_agents() -> tuple[AgentSpec, ...]:
    return tuple(
        AgentSpec(name=f"agent_{i}", obs_size=18, action_kind="discrete", action_size=5)
        for i in range(3)
    )


class JOPMConfig(BaseModel):
    """Agents, sizes and loss weights of `JOPM`.

    Attributes:
        agents: Each agent's observation size and action space, in natural order
            (the default is ``simple_spread_v3`` with three agents).
        latent_dim: Size of the VAE latent.
        vae_depth: Hidden layers of the VAE encoder and decoder.
        vae_width: Units per VAE hidden layer.
        activation: ``relu``, ``tanh`` or ``elu``.
        beta: KL weight of the VAE.
        cell: ``gru`` or ``lstm``.
        rnn_layers: Stacked recurrent layers.
        rnn_hidden: Units per recurrent layer.
        head_depth: Hidden layers of the RDLM head.
        head_width: Units per hidden layer of the RDLM head.
        change_width: Units per hidden layer of the change decoder's MLP (``vae_depth``
            layers).
        ridge: L2 penalty of the change decoder's linear part, fitted before training.
        open_loop_horizon: Steps of the open-loop loss (0: teacher forcing only).
        open_loop_weight: Weight of the open-loop loss.
        latent_weight: Weight of the latent prediction loss.
        vae_weight: Weight of the VAE loss.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agents: tuple[AgentSpec, ...] = Field(default_factory=_simple_spread_agents, min_length=1)
    latent_dim: int = Field(32, ge=1)
    vae_depth: int = Field(2, ge=0)
    vae_width: int = Field(64, ge=1)
    activation: Activation = "elu"
    beta: float = Field(1e-4, ge=0.0)
    cell: Literal["gru", "lstm"] = "gru"
    rnn_layers: int = Field(1, ge=1)
    rnn_hidden: int = Field(64, ge=1)
    head_depth: int = Field(2, ge=0)
    head_width: int = Field(64, ge=1)
    change_width: int = Field(256, ge=1)
    ridge: float = Field(1e-4, ge=0.0)
    open_loop_horizon: int = Field(0, ge=0)
    open_loop_weight: float = Field(1.0, ge=0.0)
    latent_weight: float = Field(0.1, ge=0.0)
    vae_weight: float = Field(0.1, ge=0.0)

    search_space: ClassVar[dict[str, SearchDim]] = {
        "latent_dim": SearchDim(kind="int", low=16, high=64, log=True),
        "vae_width": SearchDim(kind="categorical", choices=(64, 128, 256)),
        "rnn_hidden": SearchDim(kind="categorical", choices=(64, 128, 256)),
        "cell": SearchDim(kind="categorical", choices=("gru", "lstm")),
        "beta": SearchDim(kind="float", low=1e-5, high=1e-2, log=True),
        "open_loop_horizon": SearchDim(kind="int", low=0, high=5),
    }

    @model_validator(mode="after")
    def _natural_order(self) -> JOPMConfig:
        DatasetSpec(agents=self.agents)
        return self

    @classmethod
    def from_spec(cls, spec: DatasetSpec, **options: Any) -> JOPMConfig:
        """A config for the agents of a dataset, with other fields from ``options``."""
        return cls(agents=spec.agents, **options)

    @property
    def spec(self) -> DatasetSpec:
        """The agents as a `DatasetSpec`."""
        return DatasetSpec(agents=self.agents)

    @property
    def action_spec(self) -> ActionSpec:
        """The joint action spec: one sub-spec per agent."""
        return ActionSpec(kind="joint", agents={a.name: a.action_spec for a in self.agents})


_CORE = frozenset(
    {
        Capability.REPRESENTATION,
        Capability.LATENT_DYNAMICS,
        Capability.OBS_DECODER,
        Capability.MULTI_AGENT,
        Capability.RECURRENT,
        Capability.POSTERIOR_UPDATE,
    }
)


@dataclass(frozen=True, slots=True)
class _Step:
    """What one prediction step reads and writes: the state's tensors, unpacked."""

    x: torch.Tensor
    dx: torch.Tensor
    z: torch.Tensor
    last: torch.Tensor
    memory: Memory

    @classmethod
    def of(cls, state: State) -> _Step:
        memory: Memory = {k: state[k] for k in ("h", "c") if k in state.tensors}
        return cls(state["x"], state["dx"], state["z"], state["a"], memory)

    @classmethod
    def cat(cls, steps: list[_Step]) -> _Step:
        def join(name: str) -> torch.Tensor:
            return torch.cat([getattr(s, name) for s in steps])

        memory = {k: torch.cat([s.memory[k] for s in steps]) for k in steps[0].memory}
        return cls(join("x"), join("dx"), join("z"), join("last"), memory)

    def state(self) -> State:
        return State({"z": self.z, "x": self.x, "dx": self.dx, "a": self.last, **self.memory})


class JOPMBase(WorldModel):
    """What `JOPM` and `JOPMWithHeads` share: the VAE, the RDLM and observation prediction.

    Abstract: use `JOPM` or `JOPMWithHeads`. Subclasses add predictions to
    ``decode``, their specs to the contract and terms to the loss through three hooks.
    """

    capabilities = _CORE
    config: JOPMConfig
    delta_scale: torch.Tensor
    copy_mse: torch.Tensor
    fit_monitor: ClassVar[str] = "prediction"
    """`fit` selects epochs by the prediction objective, not the VAE-dominated total."""

    def __init__(self, config: JOPMConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        spec = c.spec
        self.vae = VAE(
            VAEConfig(
                obs_dim=spec.joint_obs_size,
                latent_dim=c.latent_dim,
                depth=c.vae_depth,
                width=c.vae_width,
                activation=c.activation,
                beta=c.beta,
            )
        )
        self.rdlm = RDLM(
            RDLMConfig(
                latent_dim=c.latent_dim,
                action_kind="continuous",
                action_size=c.action_spec.flat_size,
                cell=c.cell,
                layers=c.rnn_layers,
                hidden=c.rnn_hidden,
                head_depth=c.head_depth,
                head_width=c.head_width,
                activation=c.activation,
            )
        )
        d, a = spec.joint_obs_size, c.action_spec.flat_size
        self.change = ChangeDecoder(
            2 * d + 2 * a,
            2 * c.latent_dim + c.rnn_layers * c.rnn_hidden,
            d,
            depth=c.vae_depth,
            width=c.change_width,
            activation=c.activation,
        )
        self.register_buffer("delta_scale", torch.ones(d))
        self.register_buffer("copy_mse", torch.ones(()))
        self._default_predictor = JOPMPredictor(self)

    def io_contract(self) -> IOContract:
        """Per-agent observations and predictions, a joint action, the state's tensors."""
        c = self.config
        memory = TensorSpec(shape=("B", c.rnn_layers, c.rnn_hidden))
        state = {
            "z": TensorSpec(shape=("B", c.latent_dim)),
            "x": TensorSpec(shape=("B", c.spec.joint_obs_size), description="normalised obs"),
            "dx": TensorSpec(shape=("B", c.spec.joint_obs_size), description="last change of x"),
            "a": TensorSpec(shape=("B", c.action_spec.flat_size), description="last action"),
            "h": memory,
        }
        if c.cell == "lstm":
            state["c"] = memory
        per_agent = {a.name: TensorSpec(shape=("B", a.obs_size)) for a in c.agents}
        return IOContract(
            observation=per_agent,
            action=c.action_spec,
            state=state,
            prediction=per_agent | self._head_specs(),
            agents=c.spec.agent_names,
        )

    # -- hooks of the subclasses ------------------------------------------------------------

    @abstractmethod
    def _head_specs(self) -> dict[str, TensorSpec]:
        """Prediction specs beyond the per-agent observations."""

    @abstractmethod
    def _head_predictions(self, state: State) -> dict[str, torch.Tensor]:
        """Predictions beyond the per-agent observations, from a state."""

    @abstractmethod
    def _head_losses(
        self, batch: WorldModelInput, z: torch.Tensor, x: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """Extra loss terms as ``{name: (weight, value)}``, from the next states.

        ``z`` ``[B, T-1, latent]`` (detached) and ``x`` ``[B, T-1, D]`` are the encoded
        latents and normalised observations of steps ``1 .. T-1``.
        """

    # -- helpers ----------------------------------------------------------------------------

    def _obs_mapping(self, obs: Obs, where: str = "obs") -> Mapping[str, torch.Tensor]:
        """Per-agent observations (a bare tensor is accepted for a one-agent JOPM)."""
        return cast(Mapping[str, torch.Tensor], self.contract().observation_mapping(obs, where))

    def _sequences(self, batch: WorldModelInput) -> tuple[Mapping[str, torch.Tensor], Action]:
        """The per-agent observations and joint actions of a sequence batch."""
        if not batch.sequence or batch.actions is None:
            raise ContractError("needs a sequence batch (sequence=True) with actions")
        return self._obs_mapping(batch.obs, "batch.obs"), batch.actions

    def _normalised(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        joint = torch.cat([obs[name] for name in self.config.spec.agent_names], dim=-1)
        normalised: torch.Tensor = self.vae.normalizer(joint)
        return normalised

    def _flat_action(self, action: Action) -> torch.Tensor:
        return flatten_action(self.config.action_spec, action)

    def _observable(
        self, x: torch.Tensor, dx: torch.Tensor, last: torch.Tensor, action: torch.Tensor
    ) -> torch.Tensor:
        return torch.cat([x, dx / self.delta_scale, last, action], dim=-1)

    def _step(self, now: _Step, action: torch.Tensor) -> _Step:
        """One prediction step: the RDLM steps the latent, the change decoder the observation."""
        z, memory = self.rdlm.step(now.z, action, now.memory)
        h = memory["h"].flatten(1)
        features = torch.cat([now.z, z, h], dim=-1)
        observable = self._observable(now.x, now.dx, now.last, action)
        dx = self.change(observable, features) * self.delta_scale
        return _Step(now.x + dx, dx, z, action, memory)

    def _history(self, x: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each step's last change and last action in a sequence (zero at its start)."""
        dx = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        last = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], dim=1)
        return dx, last

    def _teacher_forced(
        self, x: torch.Tensor, z: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[_Step]]:
        """One-step predictions from every true step, the memory carried along.

        Returns:
            Predicted ``x`` and ``z`` ``[B, T-1, ...]`` and the true steps with the
            memory before each (``T`` entries), for open-loop rollouts.
        """
        dx, last = self._history(x, actions)
        memory = self.rdlm.init_memory(x.shape[0], x.device)
        steps, xs, zs = [], [], []
        for t in range(x.shape[1]):
            steps.append(_Step(x[:, t], dx[:, t], z[:, t], last[:, t], memory))
            if t + 1 < x.shape[1]:
                nxt = self._step(steps[-1], actions[:, t])
                memory = nxt.memory
                xs.append(nxt.x)
                zs.append(nxt.z)
        return torch.stack(xs, dim=1), torch.stack(zs, dim=1), steps

    def _open_loop(
        self, steps: list[_Step], actions: torch.Tensor, horizon: int, first: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Open-loop ``x`` ``[B * S, horizon, D]`` from starts ``first .. T-horizon-1``."""
        starts = torch.arange(first, len(steps) - horizon)
        now = _Step.cat([steps[s] for s in starts.tolist()])
        acts = start_windows(actions, starts, horizon)
        preds = []
        for k in range(horizon):
            now = self._step(now, acts[:, k])
            preds.append(now.x)
        return torch.stack(preds, dim=1), starts

    # -- protocol ---------------------------------------------------------------------------

    def encode(self, obs: Obs, deterministic: bool = False) -> State:
        """Encode per-agent observations ``{agent: [B, d_i]}``; the memory starts at zero."""
        x = self._normalised(self._obs_mapping(obs))
        mean, logvar = self.vae.posterior(x)
        z = mean if deterministic else mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        last = torch.zeros(x.shape[0], self.config.action_spec.flat_size, device=x.device)
        memory = self.rdlm.init_memory(x.shape[0], x.device)
        return State({"z": z, "x": x, "dx": torch.zeros_like(x), "a": last, **memory})

    def transition(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Step the RDLM under the joint action, continuing the state's memory."""
        nxt = self._step(_Step.of(state), self._flat_action(action))
        return nxt.state()

    def update(
        self,
        state: State,
        action: Action,
        obs: Obs,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Step the memory under the action from ``state``, then take ``z``, ``x`` from ``obs``.

        Folding each true observation in this way carries the memory along an
        episode exactly as training's teacher forcing does. ``z`` is the posterior
        mean, so the update is deterministic whatever ``deterministic`` says.
        """
        memory: Memory = {k: state[k] for k in ("h", "c") if k in state.tensors}
        flat = self._flat_action(action)
        memory = self.rdlm.step(state["z"], flat, memory)[1]
        x = self._normalised(self._obs_mapping(obs))
        z = self.vae.posterior(x)[0]
        return _Step(x, x - state["x"], z, flat, memory).state()

    def decode(self, state: State, conditions: ConditionPayload | None = None) -> ModelOutput:
        """Per-agent observations ``{agent: [B, d_i]}`` of the state (and any head outputs)."""
        joint = self.vae.normalizer.inverse(state["x"])
        parts = torch.split(joint, list(self.config.spec.obs_sizes), dim=-1)
        predictions = dict(zip(self.config.spec.agent_names, parts, strict=True))
        return ModelOutput(predictions | self._head_predictions(state), state)

    # -- one-step prediction with carried memory --------------------------------------------

    def predictor(self) -> JOPMPredictor:
        """A new `JOPMPredictor`: one caller's one-step predictions with its own memory."""
        return JOPMPredictor(self)

    def reset_memory(self) -> None:
        """Forget the memory of the model's default predictor (new episode)."""
        self._default_predictor.reset()

    def predict_next_joint_observation(
        self, obs: Mapping[str, Any], joint_action: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """`JOPMPredictor.predict` with the model's default predictor (one caller only).

        The memory is carried from call to call (call `reset_memory` at the start
        of an episode). Callers that run concurrently (threads, parallel episodes,
        batched requests) each hold their own predictor from `predictor` instead.
        """
        with public_call(f"{type(self).__name__}.predict_next_joint_observation"):
            return self._default_predictor.predict(obs, joint_action)

    @torch.no_grad()
    def predict_sequences(
        self, batch: WorldModelInput, *, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Evaluate on recorded sequences, in observation units (joint vectors).

        Args:
            batch: A sequence batch: ``obs={agent: [B, T, d_i]}``, joint actions ``[B, T]``.
            horizon: Open-loop steps (``1 <= horizon < T``).

        Returns:
            ``(one_step, open_loop, starts)``: one-step predictions ``[B, T-1, D]`` made
            from each true observation with the memory carried along the sequence;
            open-loop predictions ``[B * S, horizon, D]`` from each of the
            ``S = T - horizon`` starts (start-major, the memory warmed up on the true
            steps before the start); and the start indices ``[S]``.
        """
        with public_call(f"{type(self).__name__}.predict_sequences"):
            return self._predict_sequences(batch, horizon)

    def _predict_sequences(
        self, batch: WorldModelInput, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.validate_batch_contract(batch)
        obs, joint_action = self._sequences(batch)
        x = self._normalised(obs)
        steps = x.shape[1]
        if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon < steps:
            raise ContractError(
                f"horizon must be an integer with 1 <= horizon < T = {steps}; got {horizon!r}"
            )
        actions = self._flat_action(joint_action)
        z = self.vae.posterior(x)[0]
        one_step, _, true_steps = self._teacher_forced(x, z, actions)
        open_loop, starts = self._open_loop(true_steps, actions, horizon, 0)
        inverse = self.vae.normalizer.inverse
        return inverse(one_step), inverse(open_loop), starts

    # -- training ---------------------------------------------------------------------------

    def prepare_for_training(self, batch: WorldModelInput) -> None:
        """Fit the normaliser, the scales of one-step changes and the linear change decoder.

        Each feature's change is scaled by its typical one-step change, so every
        feature counts in training (as in a standardised regression); the monitored
        ``prediction`` is measured in observation units relative to copying the last
        observation. The linear part of the change decoder is then the ridge
        regression of the scaled change on the observable history.
        """
        obs = self._obs_mapping(batch.obs, "batch.obs")
        joint = torch.cat([obs[n] for n in self.config.spec.agent_names], dim=-1)
        self.vae.normalizer.fit(joint)
        if not batch.sequence or joint.shape[1] < 3 or batch.actions is None:
            return
        change = joint[:, 1:] - joint[:, :-1]
        self.copy_mse.copy_(change.pow(2).mean() + 1e-12)
        rms = change.pow(2).flatten(0, 1).mean(0).sqrt()
        rms = rms.clamp_min(1e-3 * float(rms.mean()) + 1e-12)
        self.delta_scale.copy_(rms / self.vae.normalizer.std)
        x = self._normalised(obs)
        actions = self._flat_action(batch.actions)
        dx, last = self._history(x, actions)
        observable = self._observable(x[:, 1:-1], dx[:, 1:-1], last[:, 1:-1], actions[:, 1:-1])
        target = (x[:, 2:] - x[:, 1:-1]) / self.delta_scale
        self.change.fit_linear(observable.flatten(0, 1), target.flatten(0, 1), self.config.ridge)

    def loss(self, batch: WorldModelInput) -> LossOutput:
        """Teacher-forced (and open-loop) next-observation losses + latent loss + VAE loss.

        Observation losses are mean squared errors of each feature in units of its
        typical one-step change. The first step of each window only warms up the
        history (its last change and action are unknown). The ``prediction``
        component, which `fit` monitors by default, is the mean squared error in
        observation units divided by that of copying the last observation (a copying
        model scores about 1), averaged over the one-step and open-loop predictions.
        """
        obs, joint_action = self._sequences(batch)
        c = self.config
        x = self._normalised(obs)
        actions = self._flat_action(joint_action)
        b, t, d = x.shape
        recon, kl, mean = self.vae.elbo_terms(x.reshape(-1, d))
        z = mean.reshape(b, t, -1)
        xhat, zhat, steps = self._teacher_forced(x, z, actions)
        warm = 1 if t > 2 else 0
        one_step = self._scaled_error(xhat[:, warm:], x[:, 1 + warm :])
        latent = (zhat - z[:, 1:].detach()).pow(2).mean()
        total = one_step + c.latent_weight * latent + c.vae_weight * (recon + c.beta * kl)
        parts = {"one_step": one_step, "latent": latent, "recon": recon, "kl": kl}
        relative = [self._relative_error(xhat[:, warm:], x[:, 1 + warm :])]
        for name, (weight, value) in self._head_losses(batch, z[:, 1:].detach(), x[:, 1:]).items():
            total = total + weight * value
            parts[name] = value
        horizon = min(c.open_loop_horizon, t - 1 - warm)
        if horizon > 1:
            rolled, starts = self._open_loop(steps, actions, horizon, warm)
            target = start_windows(x, starts, horizon, offset=1)
            parts["open_loop"] = self._scaled_error(rolled, target)
            relative.append(self._relative_error(rolled, target))
            total = total + c.open_loop_weight * parts["open_loop"]
        parts["prediction"] = torch.stack(relative).mean()
        return LossOutput(total=total, components={k: v.detach() for k, v in parts.items()})

    def _scaled_error(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((pred - target) / self.delta_scale).pow(2).mean()

    def _relative_error(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((pred - target) * self.vae.normalizer.std).pow(2).mean() / self.copy_mse


@final
@register_model("jopm")
class JOPM(JOPMBase):
    """Joint observation prediction for multi-agent systems (VAE + RDLM).

    Predicts observations only; see `JOPMWithHeads` for reward and continue heads.

    Example:
        >>> model = JOPM(JOPMConfig.from_spec(dataset.spec))
        >>> fit(model, dataset)
        >>> model.reset_memory()
        >>> nxt = model.predict_next_joint_observation(obs, {"agent_0": 1, ...})
    """

    capabilities = _CORE
    config_class = JOPMConfig
    config: JOPMConfig

    def _head_specs(self) -> dict[str, TensorSpec]:
        return {}

    def _head_predictions(self, state: State) -> dict[str, torch.Tensor]:
        return {}

    def _head_losses(
        self, batch: WorldModelInput, z: torch.Tensor, x: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        return {}


_HEAD_KEYS = ("reward", "continue")


class JOPMWithHeadsConfig(JOPMConfig):
    """`JOPMConfig` plus the reward and continue heads of `JOPMWithHeads`.

    Attributes:
        task_head_depth: Hidden layers of each head.
        task_head_width: Units per hidden layer of each head.
        reward_weight: Weight of the reward loss (MSE of standardised rewards).
        continue_weight: Weight of the continue loss (binary cross-entropy).
        per_agent: Predict one reward and one continue probability per agent
            (``[B, A]``, agents in natural order) instead of one team value (``[B]``).
    """

    task_head_depth: int = Field(2, ge=0)
    task_head_width: int = Field(64, ge=1)
    reward_weight: float = Field(1.0, ge=0.0)
    continue_weight: float = Field(1.0, ge=0.0)
    per_agent: bool = False

    @model_validator(mode="after")
    def _no_clash(self) -> JOPMWithHeadsConfig:
        clash = [a.name for a in self.agents if a.name in _HEAD_KEYS]
        if clash:
            raise ValueError(
                f"agent names {clash} clash with the prediction keys {list(_HEAD_KEYS)}"
            )
        return self


@final
@register_model("jopm_with_heads")
class JOPMWithHeads(JOPMBase):
    """`JOPM` plus a reward head and a continue head, for data that records them.

    ``decode`` adds ``reward`` and ``continue``. By default they are team values
    ``[B]``: the mean over agents of the reward after the step that led to the
    state, and the probability that no agent has terminated. With
    ``per_agent=True`` they are ``[B, A]``, one column per agent in the contract's
    (natural) order: each agent's own reward and the probability that it has not
    terminated. Both heads read the state's latent and normalised observation.
    They are trained on the encoded next states (detached, so the observation
    model learns exactly as in `JOPM`) against the ``rewards`` and ``continues``
    of the batch, ``[B, T]`` or ``[B, T, A]``, which `fit` takes from the dataset's
    rewards and termination flags (truncations are not terminations).

    Example:
        >>> config = JOPMWithHeadsConfig.from_spec(dataset.spec, per_agent=True)
        >>> model = JOPMWithHeads(config)
        >>> fit(model, dataset)   # the dataset must record rewards and done flags
        >>> out = model.decode(model.transition(model.encode(obs), action))
        >>> out["reward"].shape, out["continue"].shape   # (B, A) each
    """

    capabilities = _CORE | {Capability.REWARD_PRED, Capability.CONTINUE_PRED}
    config_class = JOPMWithHeadsConfig
    config: JOPMWithHeadsConfig
    reward_mean: torch.Tensor
    reward_std: torch.Tensor

    def __init__(self, config: JOPMWithHeadsConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        inputs = c.latent_dim + c.spec.joint_obs_size
        outputs = len(c.agents) if c.per_agent else 1
        shape = {"depth": c.task_head_depth, "width": c.task_head_width}
        self.reward_head = mlp(inputs, outputs, activation=c.activation, **shape)
        self.continue_head = mlp(inputs, outputs, activation=c.activation, **shape)
        self.register_buffer("reward_mean", torch.zeros(()))
        self.register_buffer("reward_std", torch.ones(()))

    def _head_specs(self) -> dict[str, TensorSpec]:
        if self.config.per_agent:
            return {
                "reward": TensorSpec(shape=("B", "A"), description="each agent's reward"),
                "continue": TensorSpec(
                    shape=("B", "A"), description="probability each agent has not terminated"
                ),
            }
        return {
            "reward": TensorSpec(shape=("B",), description="team reward (mean over agents)"),
            "continue": TensorSpec(shape=("B",), description="probability no agent terminated"),
        }

    def _head_inputs(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, x], dim=-1)

    def _head_outputs(self, head: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """``[..., A]`` per agent, or ``[...]`` for the team."""
        out: torch.Tensor = head(inputs)
        return out if self.config.per_agent else out[..., 0]

    def _head_predictions(self, state: State) -> dict[str, torch.Tensor]:
        inputs = self._head_inputs(state["z"], state["x"])
        reward = self._head_outputs(self.reward_head, inputs) * self.reward_std + self.reward_mean
        cont = torch.sigmoid(self._head_outputs(self.continue_head, inputs))
        return {"reward": reward, "continue": cont}

    def _head_losses(
        self, batch: WorldModelInput, z: torch.Tensor, x: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        rewards, continues = self._targets(batch)
        inputs = self._head_inputs(z, x)
        target = (rewards[:, :-1] - self.reward_mean) / self.reward_std
        reward = (self._head_outputs(self.reward_head, inputs) - target).pow(2).mean()
        logits = self._head_outputs(self.continue_head, inputs)
        cont = nn.functional.binary_cross_entropy_with_logits(logits, continues[:, :-1].float())
        c = self.config
        return {"reward": (c.reward_weight, reward), "continue": (c.continue_weight, cont)}

    def _targets(self, batch: WorldModelInput) -> tuple[torch.Tensor, torch.Tensor]:
        if batch.rewards is None or batch.continues is None:
            missing = [n for n in ("rewards", "continues") if getattr(batch, n) is None]
            raise ContractError(
                f"batch.{' and batch.'.join(missing)} missing: the reward and continue heads "
                "train on recorded rewards and termination flags (a dataset without them, "
                "such as one read from trace files without them, trains a JOPM)"
            )
        for name in ("rewards", "continues"):
            self._check_target(name, getattr(batch, name))
        return batch.rewards, batch.continues

    def _check_target(self, name: str, value: torch.Tensor) -> None:
        names = self.config.spec.agent_names
        if self.config.per_agent:
            expected, layout = 3, f"(B, T, A) with A = {len(names)} agents ({', '.join(names)})"
        else:
            expected, layout = 2, "(B, T), one team value per sample"
        if not isinstance(value, torch.Tensor):
            raise ContractError(f"batch.{name} is a {type(value).__name__}; expected a tensor")
        if value.dim() != expected or (self.config.per_agent and value.shape[-1] != len(names)):
            raise ContractError(f"batch.{name} has shape {tuple(value.shape)}; expected {layout}")
        if not (value.is_floating_point() or value.dtype == torch.bool):
            raise ContractError(
                f"batch.{name} has dtype {value.dtype}; expected a floating-point tensor"
            )

    def prepare_for_training(self, batch: WorldModelInput) -> None:
        """Fit the observation statistics, and standardise the rewards the head learns."""
        with public_call(f"{type(self).__name__}.prepare_for_training"):
            super().prepare_for_training(batch)
            rewards = self._targets(batch)[0][:, :-1]
        self.reward_mean.copy_(rewards.mean())
        self.reward_std.copy_(rewards.std(unbiased=False).clamp_min(1e-6))
