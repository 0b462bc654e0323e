"""Reference models and per-model calls for the request-batching tests."""

from __future__ import annotations

import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import torch

from worldmodel_sdk import ActionPayload, State, WorldModel
from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.models import (
    JOPM,
    RDLM,
    VAE,
    ExampleConfig,
    ExampleModel,
    JOPMConfig,
    JOPMWithHeads,
    JOPMWithHeadsConfig,
    RDLMConfig,
    VAEConfig,
)


@dataclass
class Call:
    """One caller: its async call and the same call made alone, synchronously."""

    run: Callable[[], Awaitable[Any]]
    solo: Callable[[], Any]


def _agents() -> DatasetSpec:
    return DatasetSpec.from_agents(
        [
            AgentSpec(name="agent_10", obs_size=3, action_kind="continuous", action_size=2),
            AgentSpec(name="agent_2", obs_size=5, action_kind="discrete", action_size=4),
        ]
    )


def example() -> WorldModel:
    return ExampleModel(ExampleConfig(hidden_dim=16, latent_dim=8))


def rdlm() -> WorldModel:
    return RDLM(RDLMConfig(latent_dim=4, hidden=16, head_width=16))


def vae() -> WorldModel:
    return VAE(VAEConfig(obs_dim=5, latent_dim=3, width=16))


def jopm() -> WorldModel:
    return JOPM(JOPMConfig.from_spec(_agents(), latent_dim=4, vae_width=16, rnn_hidden=8))


def jopm_heads() -> WorldModel:
    return JOPMWithHeads(
        JOPMWithHeadsConfig.from_spec(_agents(), latent_dim=4, vae_width=16, rnn_hidden=8)
    )


MODELS = {"example": example, "rdlm": rdlm, "vae": vae, "jopm": jopm, "jopm_heads": jopm_heads}


def observation(model: WorldModel, batch: int) -> dict[str, torch.Tensor]:
    return {
        name: torch.randn(batch, *(int(a) for a in spec.shape[1:]))
        for name, spec in model.contract().observation.items()
    }


def action(model: WorldModel, lead: tuple[int, ...]) -> ActionPayload | torch.Tensor:
    spec = model.contract().action
    assert spec is not None

    def one(sub: Any) -> torch.Tensor:
        if sub.kind == "discrete":
            return torch.randint(int(sub.num_actions), lead)
        return torch.rand(*lead, *sub.shape)

    if spec.kind == "joint":
        return ActionPayload(kind="joint", agents={n: one(s) for n, s in spec.agents.items()})
    return one(spec)


def start(model: WorldModel, batch: int) -> State:
    if isinstance(model, RDLM):
        return model.initial_state(torch.randn(batch, model.config.latent_dim))
    return model.encode(observation(model, batch), deterministic=True)


def calls(model: WorldModel, rng: random.Random) -> Callable[[], Call]:
    """A factory of random calls of every async twin the model offers."""
    kinds = []
    if model.supports("latent_dynamics"):
        kinds += ["rollout", "rollout", "transition"]
    if model.supports("representation"):
        kinds.append("encode")
    if any(model.supports(c) for c in ("obs_decoder", "reward_pred")):
        kinds.append("decode")

    def make() -> Call:
        kind, batch = rng.choice(kinds), rng.choice((1, 1, 2, 3))
        state = start(model, batch)
        if kind == "rollout":
            acts = action(model, (rng.choice((2, 3)), batch))
            return Call(
                lambda: model.async_rollout(state, acts, deterministic=True),
                lambda: model.rollout(state, acts, deterministic=True),
            )
        if kind == "transition":
            act = action(model, (batch,))
            return Call(
                lambda: model.async_transition(state, act, deterministic=True),
                lambda: model.transition(state, act, deterministic=True),
            )
        if kind == "encode":
            obs = observation(model, batch)
            return Call(
                lambda: model.async_encode(obs, deterministic=True),
                lambda: model.encode(obs, deterministic=True),
            )
        return Call(lambda: model.async_decode(state), lambda: model.decode(state))

    return make


def tensors_of(result: Any) -> dict[str, torch.Tensor]:
    """Every tensor a result holds, by a readable path."""
    if isinstance(result, State):
        return dict(result.tensors)
    if hasattr(result, "predictions") and not hasattr(result, "states"):
        return dict(result.predictions)
    out = {"actions": result.actions}
    for name in ("rewards", "values", "continues"):
        if getattr(result, name) is not None:
            out[name] = getattr(result, name)
    for key in result.states[0].tensors:
        out[f"states.{key}"] = result.stacked(key)
    out.update({f"predictions.{k}": v for k, v in (result.predictions or {}).items()})
    return out


def batcher_threads_end() -> None:
    """Wait for idle workers, which end on their own one window after their last batch."""
    for thread in threading.enumerate():
        if thread.name == "wmsdk-batcher":
            thread.join(timeout=30)
    assert not [t for t in threading.enumerate() if t.name == "wmsdk-batcher"]
