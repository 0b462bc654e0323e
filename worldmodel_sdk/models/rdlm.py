"""`RDLM`: recurrent latent dynamics — the next latent from the latent and the action.

A GRU or LSTM reads ``(z_t, a_t)`` and carries its memory from step to step; an
MLP head on ``(memory output, z_t, a_t)`` predicts the change ``z_{t+1} - z_t``.
The memory lives in the `State` (``h``, plus ``c`` for an LSTM, each
``[B, layers, hidden]``), so ``transition`` continues where the previous call
stopped: nothing is reset between calls.
"""

from __future__ import annotations

from typing import ClassVar, Literal, final

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..capabilities import Capability
from ..contract import ActionSpec, IOContract, TensorSpec
from ..errors import ContractError
from ..model import Action, WorldModel
from ..payloads.action import flatten_action
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import LossOutput, WorldModelInput
from ..payloads.state import State
from ..registry import register_model
from ..training import SearchDim
from .vae import Activation, mlp

__all__ = ["Memory", "RDLM", "RDLMConfig", "start_windows"]

Memory = dict[str, torch.Tensor]


class RDLMConfig(BaseModel):
    """Sizes and training options of `RDLM`.

    Attributes:
        latent_dim: Size of the latent ``z``.
        action_kind: ``discrete`` (an index, one-hot encoded) or ``continuous`` (a vector).
        action_size: Number of discrete actions, or length of the action vector.
        cell: ``gru`` or ``lstm``.
        layers: Stacked recurrent layers.
        hidden: Units per recurrent layer.
        head_depth: Hidden layers of the MLP head.
        head_width: Units per hidden layer of the head.
        activation: ``relu``, ``tanh`` or ``elu`` (head).
        open_loop_horizon: Steps of the open-loop loss (0: teacher forcing only).
        open_loop_weight: Weight of the open-loop loss.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    latent_dim: int = Field(16, ge=1)
    action_kind: Literal["discrete", "continuous"] = "discrete"
    action_size: int = Field(5, ge=1)
    cell: Literal["gru", "lstm"] = "gru"
    layers: int = Field(1, ge=1)
    hidden: int = Field(128, ge=1)
    head_depth: int = Field(2, ge=0)
    head_width: int = Field(128, ge=1)
    activation: Activation = "elu"
    open_loop_horizon: int = Field(0, ge=0)
    open_loop_weight: float = Field(1.0, ge=0.0)

    search_space: ClassVar[dict[str, SearchDim]] = {
        "cell": SearchDim(kind="categorical", choices=("gru", "lstm")),
        "layers": SearchDim(kind="int", low=1, high=2),
        "hidden": SearchDim(kind="categorical", choices=(64, 128, 256)),
        "head_depth": SearchDim(kind="int", low=1, high=3),
        "open_loop_horizon": SearchDim(kind="int", low=0, high=5),
    }

    @property
    def action_spec(self) -> ActionSpec:
        """The per-sample action spec these settings describe."""
        return ActionSpec.sized(self.action_kind, self.action_size)


def start_windows(
    series: torch.Tensor, starts: torch.Tensor, length: int, *, offset: int = 0
) -> torch.Tensor:
    """Windows of ``length`` steps of ``series`` ``[B, T, ...]`` from each start plus ``offset``.

    Returns:
        ``[S * B, length, ...]``, start-major (all sequences of the first start, then the
        next): the layout of `RDLM.open_loop_windows`.
    """
    index = (
        starts.to(series.device).unsqueeze(1) + offset + torch.arange(length, device=series.device)
    )
    windows = series[:, index]  # [B, S, length, ...]
    return windows.transpose(0, 1).reshape(-1, length, *series.shape[2:])


@final
@register_model("rdlm")
class RDLM(WorldModel):
    """Recurrent latent dynamics model (GRU or LSTM + MLP head).

    Start a trajectory with `initial_state` (zero memory) and call ``transition``
    step by step: the memory in the returned state carries every earlier step.

    Example:
        >>> rdlm = RDLM(RDLMConfig(latent_dim=8, action_size=5))
        >>> s = rdlm.initial_state(torch.zeros(2, 8))
        >>> s = rdlm.transition(s, torch.tensor([0, 4]))
        >>> s["h"].shape
        torch.Size([2, 1, 128])
    """

    capabilities = frozenset({Capability.LATENT_DYNAMICS, Capability.RECURRENT})
    config_class = RDLMConfig
    config: RDLMConfig

    def __init__(self, config: RDLMConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        rnn = nn.GRU if c.cell == "gru" else nn.LSTM
        self.rnn = rnn(
            c.latent_dim + c.action_size, c.hidden, num_layers=c.layers, batch_first=True
        )
        self.head = mlp(
            c.hidden + c.latent_dim + c.action_size,
            c.latent_dim,
            depth=c.head_depth,
            width=c.head_width,
            activation=c.activation,
        )

    def io_contract(self) -> IOContract:
        """Latent ``z`` as observation; state ``z``, ``h`` (and ``c`` for an LSTM)."""
        c = self.config
        memory = TensorSpec(shape=("B", c.layers, c.hidden))
        state = {"z": TensorSpec(shape=("B", c.latent_dim)), "h": memory}
        if c.cell == "lstm":
            state["c"] = memory
        return IOContract(
            observation={"z": TensorSpec(shape=("B", c.latent_dim))},
            action=c.action_spec,
            state=state,
        )

    # -- building blocks (flat float actions), shared with JOPM -----------------------------

    def init_memory(self, batch: int, device: torch.device | None = None) -> Memory:
        """Zero recurrent memory for ``batch`` trajectories."""
        c = self.config
        zeros = torch.zeros(batch, c.layers, c.hidden, device=device)
        return {"h": zeros, "c": zeros.clone()} if c.cell == "lstm" else {"h": zeros}

    def step(
        self, z: torch.Tensor, action: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, Memory]:
        """One step: ``(z_t, a_t, memory_t) -> (z_{t+1}, memory_{t+1})``, ``a_t`` flat float."""
        inputs = torch.cat([z, action], dim=-1).unsqueeze(1)
        h = memory["h"].transpose(0, 1).contiguous()
        if self.config.cell == "lstm":
            c = memory["c"].transpose(0, 1).contiguous()
            out, (h, c) = self.rnn(inputs, (h, c))
            new: Memory = {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}
        else:
            out, h = self.rnn(inputs, h)
            new = {"h": h.transpose(0, 1)}
        delta = self.head(torch.cat([out[:, 0], z, action], dim=-1))
        return z + delta, new

    def teacher_forced(
        self, z: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, list[Memory]]:
        """Predict ``z[:, t+1]`` from the true ``z[:, t]`` for every ``t``, carrying memory.

        Args:
            z: Latents ``[B, T, latent_dim]``.
            actions: Flat actions ``[B, T, action_size]`` (the last one is unused).

        Returns:
            Predictions ``[B, T-1, latent_dim]`` and the memory before each of the
            ``T`` steps (``memories[t]`` has seen steps ``0 .. t-1``).
        """
        memory = self.init_memory(z.shape[0], z.device)
        memories, preds = [memory], []
        for t in range(z.shape[1] - 1):
            pred, memory = self.step(z[:, t], actions[:, t], memory)
            preds.append(pred)
            memories.append(memory)
        return torch.stack(preds, dim=1), memories

    def open_loop(self, z0: torch.Tensor, actions: torch.Tensor, memory: Memory) -> torch.Tensor:
        """Roll ``K`` steps on the model's own predictions: ``[N, K, latent_dim]``."""
        z, preds = z0, []
        for k in range(actions.shape[1]):
            z, memory = self.step(z, actions[:, k], memory)
            preds.append(z)
        return torch.stack(preds, dim=1)

    def open_loop_windows(
        self, z: torch.Tensor, actions: torch.Tensor, memories: list[Memory], horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Open-loop predictions from every start with ``horizon`` steps left.

        Returns:
            ``(predictions, start indices)``: ``[B * S, horizon, latent_dim]`` for
            ``S = T - horizon`` starts per sequence, ordered start-major.
        """
        starts = torch.arange(z.shape[1] - horizon)
        z0 = start_windows(z, starts, 1)[:, 0]
        acts = start_windows(actions, starts, horizon)
        memory = {k: torch.cat([memories[s][k] for s in starts.tolist()]) for k in memories[0]}
        return self.open_loop(z0, acts, memory), starts

    # -- protocol ---------------------------------------------------------------------------

    def initial_state(self, z: torch.Tensor) -> State:
        """A state at latent ``z`` ``[B, latent_dim]`` with zero memory."""
        return State({"z": z, **self.init_memory(z.shape[0], z.device)})

    def transition(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Advance one step from ``state``, continuing its recurrent memory."""
        memory: Memory = {k: state[k] for k in ("h", "c") if k in state.tensors}
        z, memory = self.step(state["z"], flatten_action(self.config.action_spec, action), memory)
        return State({"z": z, **memory})

    def loss(self, batch: WorldModelInput) -> LossOutput:
        """Teacher-forced latent MSE, plus the open-loop MSE when a horizon is set.

        The batch is a sequence: ``obs={"z": [B, T, latent_dim]}`` and actions ``[B, T]``
        (discrete) or ``[B, T, action_size]``.
        """
        if not batch.sequence or batch.actions is None:
            raise ContractError("needs a sequence batch (sequence=True) with actions")
        z = batch.obs if isinstance(batch.obs, torch.Tensor) else batch.obs["z"]
        actions = flatten_action(self.config.action_spec, batch.actions)
        preds, memories = self.teacher_forced(z, actions)
        tf = (preds - z[:, 1:]).pow(2).mean()
        total, components = tf, {"teacher_forced": tf.detach()}
        horizon = min(self.config.open_loop_horizon, z.shape[1] - 1)
        if horizon > 1:
            rolled, starts = self.open_loop_windows(z, actions, memories, horizon)
            target = start_windows(z, starts, horizon, offset=1)
            ol = (rolled - target).pow(2).mean()
            total = total + self.config.open_loop_weight * ol
            components["open_loop"] = ol.detach()
        return LossOutput(total=total, components=components)
