"""`CheckContext`: what a check gets — the target, the profile and generated inputs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import torch

from ..capabilities import Capability
from ..contract import IOContract
from ..errors import ContractError
from ..model import WorldModel
from ..payloads.action import ActionPayload
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import WorldModelInput
from ..payloads.state import State
from . import inputs
from .asserts import expect_call
from .target import Profile, Target

__all__ = ["CheckContext", "call_update", "item", "run_sync"]

_T = TypeVar("_T")


def run_sync(coro_fn: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion, in a helper thread if a loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_fn())
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="wmsdk-conformance-async")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def call_update(
    model: WorldModel, state: State, action: Any, obs: Any, conditions: Any = None
) -> State:
    """``model.update(state, action, obs, conditions, deterministic=True)``."""
    return model.update(state, action, obs, conditions, deterministic=True)


@dataclass
class CheckContext:
    """Everything a check needs, with inputs generated once and reused.

    Attributes:
        target: The target under check.
        profile: The profile in force.
        allow_missing_extras: Report checks whose optional dependencies (an extra such as
            ``envs``) are not installed as not applicable instead of failing them.
    """

    target: Target
    profile: Profile = field(default_factory=Profile)
    allow_missing_extras: bool = False

    @property
    def model(self) -> WorldModel:
        """The model under check (in eval mode)."""
        return self.target.model

    @property
    def name(self) -> str:
        """The model's class name, for call descriptions."""
        return type(self.model).__name__

    @cached_property
    def contract(self) -> IOContract:
        """The model's contract."""
        return expect_call(f"{self.name}.contract()", self.model.contract)

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities the model's class declares."""
        return type(self.model).capabilities

    def has(self, *caps: Capability) -> bool:
        """True if the model declares every one of ``caps``."""
        return all(c in self.capabilities for c in caps)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator seeded from the profile (plus ``offset``)."""
        return torch.Generator().manual_seed(self.profile.seed + offset)

    @cached_property
    def sample_error(self) -> str | None:
        """Why the factory's sample does not fit the contract, or None (also without a sample)."""
        sample = self.target.sample
        if sample is None:
            return None
        try:
            self.model.validate_batch_contract(sample)
        except ContractError as exc:
            return str(exc)
        return None

    @property
    def batch(self) -> int:
        """Batch size of generated inputs (of the sample, if given)."""
        sample = self.target.sample
        if sample is not None:
            for value in _obs_tensors(sample):
                return int(value.shape[0])
        return self.profile.batch_size

    @cached_property
    def obs(self) -> dict[str, torch.Tensor] | torch.Tensor:
        """One observation batch ``[B, ...]`` (the sample's first step if given)."""
        sample = self.target.sample
        if sample is not None:
            if isinstance(sample.obs, torch.Tensor):
                return sample.obs[:, 0] if sample.sequence else sample.obs
            return {k: (v[:, 0] if sample.sequence else v) for k, v in sample.obs.items()}
        return inputs.make_observation(self.contract, self.batch, self.generator(1))

    def obs_item(self, i: int) -> dict[str, torch.Tensor] | torch.Tensor:
        """Item ``i`` of `obs`, keeping a batch axis of 1."""
        if isinstance(self.obs, torch.Tensor):
            return self.obs[i : i + 1]
        return {k: v[i : i + 1] for k, v in self.obs.items()}

    def actions(self, horizon: int | None = None) -> list[ActionPayload | torch.Tensor]:
        """``horizon`` (default: the profile's) action batches drawn from the contract."""
        if self.contract.action is None:
            raise ValueError(f"{self.name} declares no action spec")
        steps = horizon or self.profile.horizon
        return inputs.make_action_sequence(
            self.contract.action, steps, self.batch, self.generator(2 + steps)
        )

    @property
    def state(self) -> State:
        """A fresh copy of a valid state (so a model that mutates its input harms no other check).

        The state is ``encode(obs, deterministic=True)`` if declared, else generated.
        """
        return self._state.clone()

    @cached_property
    def _state(self) -> State:
        if self.has(Capability.REPRESENTATION):
            with torch.no_grad():
                state = expect_call(
                    f"{self.name}.encode(obs, deterministic=True)",
                    self.model.encode,
                    self.obs,
                    deterministic=True,
                )
            return state.detach() if isinstance(state, State) else state
        return inputs.make_state(self.contract, self.batch, self.generator(3))

    @cached_property
    def conditions(self) -> Any:
        """Required side conditions (None when the contract requires none)."""
        return inputs.make_conditions(self.contract, self.batch, self.generator(4))

    def batches(self) -> list[WorldModelInput]:
        """Loss batches to try: the sample, else a sequence batch then a flat batch."""
        if self.target.sample is not None:
            return [self.target.sample]
        return [
            inputs.make_batch(
                self.contract, self.capabilities, self.batch, self.generator(5), time=time
            )
            for time in (self.profile.horizon, None)
        ]

    def reproduce(self, check: str) -> str:
        """The command line that runs ``check`` alone on this target."""
        thorough = " --thorough" if self.profile.name == "thorough" else ""
        spec = self.target.spec or type(self.model).model_type
        return f"wmsdk check {spec} --only {check}{thorough}"


def _obs_tensors(batch: WorldModelInput) -> list[torch.Tensor]:
    if isinstance(batch.obs, torch.Tensor):
        return [batch.obs]
    return list(batch.obs.values())


def item(value: Any, i: int) -> Any:
    """Item ``i`` (batch axis kept) of a tensor, state, action or condition payload, or mapping."""
    if isinstance(value, torch.Tensor):
        return value[i : i + 1]
    if isinstance(value, State):
        return State({k: v[i : i + 1] for k, v in value.tensors.items()}, value.meta)
    if isinstance(value, ActionPayload):
        if value.tensor is not None:
            return ActionPayload(value.kind, tensor=value.tensor[i : i + 1])
        return ActionPayload(
            value.kind, agents={k: v[i : i + 1] for k, v in (value.agents or {}).items()}
        )
    if isinstance(value, ConditionPayload):
        return ConditionPayload({k: v[i : i + 1] for k, v in value.tensors.items()}, value.extras)
    if isinstance(value, dict):
        return {k: item(v, i) for k, v in value.items()}
    return value
