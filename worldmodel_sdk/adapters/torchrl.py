"""A TorchRL ``EnvBase`` simulated by a world model, batched, with specs from its contract.

`WorldModelTorchRLEnv` keeps everything TorchRL needs in the TensorDict: the
per-agent observations under ``("observation", agent)``, the model's latent state
under ``("state", name)`` — recurrent memory included, so a step reads the state it
continues from and writes the next one — and a ``step_count``. Actions go under
``"action"`` (``("action", agent)`` for a joint action); ``reward`` is the team
reward, ``terminated`` / ``truncated`` / ``done`` are per batch row. Every spec is
built from the model's `IOContract`; the latent state crosses with
`State.to_tensordict` / `State.from_tensordict`. Needs the ``torchrl`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import numpy as np
import torch

from .._outcomes import per_agent
from ..capabilities import Capability
from ..contract import ActionSpec, TensorSpec
from ..errors import ContractError
from ..model import WorldModel
from ..payloads.action import ActionPayload
from ..payloads.state import State
from ._common import import_framework

_INSTALL = {"extra": "torchrl", "bridge": "torchrl"}
_tensordict = import_framework("tensordict", **_INSTALL)
_envs = import_framework("torchrl.envs", **_INSTALL)
_specs = import_framework("torchrl.data", **_INSTALL)
_EnvBase: Any = _envs.EnvBase

__all__ = ["WorldModelTorchRLEnv"]

_Batch = Mapping[str, torch.Tensor]
"""Per-agent tensors with a leading batch axis."""


def _fixed(spec: TensorSpec, batch: int, where: str) -> tuple[int, ...]:
    shape = spec.shape
    if not shape or shape[0] != "B" or not all(isinstance(axis, int) for axis in shape[1:]):
        raise ContractError(
            f"{where} has contract shape {spec.show()}; expected (B, <fixed sizes>) "
            "[WorldModelTorchRLEnv]"
        )
    return (batch, *(int(axis) for axis in shape[1:]))


def _action_spec(spec: ActionSpec, batch: int) -> Any:
    if spec.kind == "discrete":
        return _specs.Categorical(int(spec.num_actions or 1), shape=(batch,), dtype=torch.int64)
    if spec.kind == "multi_discrete":
        nvec = list(spec.nvec or ())
        return _specs.MultiCategorical(nvec, shape=(batch, len(nvec)), dtype=torch.int64)
    shape = (batch, *spec.shape)
    if spec.low is None or spec.high is None:
        return _specs.Unbounded(shape=shape, dtype=torch.float32)
    return _specs.Bounded(low=spec.low, high=spec.high, shape=shape, dtype=torch.float32)


def _dtype(spec: TensorSpec) -> torch.dtype:
    dtype: torch.dtype = getattr(torch, spec.dtype)  # the contract checked the name
    return dtype


@final
class WorldModelTorchRLEnv(_EnvBase):  # type: ignore[misc]
    """A batched TorchRL environment driven by a world model.

    ``reset`` draws one set of initial observations per batch row and encodes them
    in one call; ``step`` advances every row with one ``transition`` and one
    ``decode``. Rows that end are reset by TorchRL's partial ``reset`` (the
    ``"_reset"`` mask), which keeps the other rows as they are.

    Args:
        model: A model with representation, latent_dynamics and obs_decoder (and
            multi_agent for per-agent actions), e.g. a trained `JOPMWithHeads`.
        initial_obs: Draws ``{agent: observation}`` for one row, from a NumPy
            generator (e.g. `EpisodeStartSampler`).
        batch_size: Rows simulated at once.
        reward_fn: ``(obs, action, next_obs) -> [B]`` team reward on batched tensors;
            ``None`` uses the model's ``reward`` prediction.
        done_fn: ``(obs, action, next_obs) -> [B]`` bool terminations; ``None`` uses
            the model's ``continue`` prediction against ``continue_threshold``.
        max_steps: Steps after which a row is truncated.
        deterministic: Use the model's deterministic predictions.
        continue_threshold: Without a ``done_fn``, a row terminates below this.
        seed: Seeds ``initial_obs`` (``set_seed`` reseeds it).

    Raises:
        CapabilityError: if the model lacks a needed capability.
        ContractError: if a contract shape is not ``(B, <fixed sizes>)``.

    Example:
        >>> env = WorldModelTorchRLEnv(jopm, EpisodeStartSampler(data), batch_size=8)
        >>> check_env_specs(env)
        >>> rollout = env.rollout(25)
    """

    def __init__(
        self,
        model: WorldModel,
        initial_obs: Callable[[np.random.Generator], Mapping[str, Any]],
        *,
        batch_size: int = 1,
        reward_fn: Callable[[_Batch, Any, _Batch], torch.Tensor] | None = None,
        done_fn: Callable[[_Batch, Any, _Batch], torch.Tensor] | None = None,
        max_steps: int = 100,
        deterministic: bool = True,
        continue_threshold: float = 0.5,
        seed: int = 0,
    ) -> None:
        for capability in (
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
        ):
            model.require(capability, "WorldModelTorchRLEnv")
        if reward_fn is None:
            model.require(Capability.REWARD_PRED, "WorldModelTorchRLEnv without a reward_fn")
        if done_fn is None:
            model.require(Capability.CONTINUE_PRED, "WorldModelTorchRLEnv without a done_fn")
        for key, name, given in (
            ("reward", "reward_fn", reward_fn),
            ("continue", "done_fn", done_fn),
        ):
            if given is None and per_agent(model.contract(), key):
                raise ContractError(
                    f"WorldModelTorchRLEnv keeps one {key} per batch row; the model predicts "
                    f"{key!r} per agent (B, A): pass a {name} that combines the agents'"
                )
        super().__init__(batch_size=torch.Size([batch_size]), device="cpu")
        contract = model.contract()
        if contract.action is None:
            raise ContractError("the model's contract declares no action [WorldModelTorchRLEnv]")
        self.model, self.initial_obs = model, initial_obs
        self.reward_fn, self.done_fn = reward_fn, done_fn
        self.max_steps, self.deterministic = max_steps, deterministic
        self.continue_threshold = continue_threshold
        self.agents = list(contract.observation)
        self._action = contract.action
        self._rng = np.random.default_rng(seed)
        self._make_specs(batch_size)

    def _make_specs(self, batch: int) -> None:
        contract = self.model.contract()
        observation = _specs.Composite(
            {
                name: _specs.Unbounded(
                    shape=_fixed(spec, batch, f"observation[{name!r}]"), dtype=_dtype(spec)
                )
                for name, spec in contract.observation.items()
            },
            shape=(batch,),
        )
        state = _specs.Composite(
            {
                name: _specs.Unbounded(
                    shape=_fixed(spec, batch, f"state[{name!r}]"), dtype=_dtype(spec)
                )
                for name, spec in contract.state.items()
            },
            shape=(batch,),
        )
        self.observation_spec = _specs.Composite(
            observation=observation,
            state=state,
            step_count=_specs.Unbounded(shape=(batch, 1), dtype=torch.int64),
            shape=(batch,),
        )
        if self._action.kind == "joint":
            agents = self._action.agents or {}
            per_agent = {name: _action_spec(sub, batch) for name, sub in agents.items()}
            self.full_action_spec = _specs.Composite(
                action=_specs.Composite(per_agent, shape=(batch,)), shape=(batch,)
            )
        else:
            self.action_spec = _action_spec(self._action, batch)
        self.reward_spec = _specs.Unbounded(shape=(batch, 1), dtype=torch.float32)
        flag = _specs.Categorical(2, shape=(batch, 1), dtype=torch.bool)
        self.full_done_spec = _specs.Composite(
            done=flag.clone(), terminated=flag.clone(), truncated=flag.clone(), shape=(batch,)
        )

    def _set_seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def _reset(self, tensordict: Any = None, **kwargs: Any) -> Any:
        rows = int(self.batch_size[0])
        draws = [self.initial_obs(self._rng) for _ in range(rows)]
        obs = {
            name: torch.stack([torch.as_tensor(np.asarray(d[name])) for d in draws]).float()
            for name in self.agents
        }
        self.model.validate_observation(obs)
        with torch.no_grad():
            latent = self.model.encode(obs, deterministic=self.deterministic)
        flags = torch.zeros(rows, 1, dtype=torch.bool)
        return self._out(obs, latent, torch.zeros(rows, 1, dtype=torch.int64), flags, flags)

    def _out(
        self,
        obs: _Batch,
        latent: State,
        steps: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        reward: torch.Tensor | None = None,
    ) -> Any:
        rows = self.batch_size
        td = _tensordict.TensorDict(
            {
                "observation": _tensordict.TensorDict(dict(obs), batch_size=rows),
                "state": latent.to_tensordict(),
                "step_count": steps,
                "terminated": terminated,
                "truncated": truncated,
                "done": terminated | truncated,
            },
            batch_size=rows,
        )
        if reward is not None:
            td.set("reward", reward)
        return td

    def _payload(self, tensordict: Any) -> ActionPayload:
        if self._action.kind == "joint":
            agents = self._action.agents or {}
            return ActionPayload(
                kind="joint", agents={name: tensordict["action", name] for name in agents}
            )
        return ActionPayload(kind=self._action.kind, tensor=tensordict["action"])

    def _step(self, tensordict: Any) -> Any:
        latent = State.from_tensordict(tensordict["state"])
        payload = self._payload(tensordict)
        self.model.validate_action(payload)
        with torch.no_grad():
            latent = self.model.transition(latent, payload, deterministic=self.deterministic)
            decoded = self.model.decode(latent).predictions
        obs = {name: decoded[name] for name in self.agents}
        for name, value in obs.items():
            if not torch.isfinite(value).all():
                raise ContractError(
                    f"the model predicted NaN or inf in obs[{name!r}] [WorldModelTorchRLEnv._step]"
                )
        rows = int(self.batch_size[0])
        before = {name: tensordict["observation", name] for name in self.agents}
        if self.reward_fn is not None:
            reward = torch.as_tensor(self.reward_fn(before, payload, obs), dtype=torch.float32)
        else:
            reward = decoded["reward"].float()
        if self.done_fn is not None:
            terminated = torch.as_tensor(self.done_fn(before, payload, obs), dtype=torch.bool)
        else:
            terminated = decoded["continue"] < self.continue_threshold
        steps = tensordict["step_count"] + 1
        return self._out(
            obs,
            latent,
            steps,
            terminated.reshape(rows, 1),
            steps >= self.max_steps,
            reward.reshape(rows, 1),
        )
