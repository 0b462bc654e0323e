"""`WorldModel`: the abstract base every world model subclasses.

A subclass declares ``capabilities`` (a class-level ``frozenset[Capability]``),
returns its `IOContract` from ``io_contract()``, implements ``loss`` and the
protocol methods its capabilities promise. The base ties each protocol method
to its capability: calling one the class did not declare raises
`CapabilityError`, and declaring one without implementing its method is a
`TypeError` at the first instantiation.

Public calls of ``encode``, ``transition``, ``update`` and ``decode`` check their
inputs against the contract before the subclass's code runs (observations and
actions in full, states by layout), so implementations need not validate.
Nested protocol calls inside a checked call (a subclass calling
``super().transition()``, say) are not checked again, and ``rollout``
validates once and then runs its loop with no per-step checks.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from os import PathLike
from typing import Any, ClassVar, TypeVar, cast

import torch
from pydantic import BaseModel, ValidationError

from . import _batched_calls as _batched
from . import imagine as _imagine
from . import persistence
from . import rollout as _rollout
from ._checked import INPUTS_CHECKED, public_call
from ._interop import numpy_inputs
from .batching import BatchSettings
from .capabilities import DECODE_CAPABILITIES, Capability
from .contract import IOContract
from .errors import CapabilityError, ContractError
from .imagine import Policy
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload, repeat_per_episode
from .payloads.outputs import LossOutput, ModelOutput, WorldModelInput
from .payloads.state import State
from .payloads.trajectory import Trajectory
from .validation import (
    check_action,
    check_batch,
    check_conditions,
    check_observation,
    check_state,
)

__all__ = ["ASYNC_GUARDED", "Action", "GUARDED", "Obs", "WorldModel"]

Obs = Mapping[str, torch.Tensor] | torch.Tensor
Action = ActionPayload | torch.Tensor
_M = TypeVar("_M", bound="WorldModel")
_F = TypeVar("_F", bound=Callable[..., Any])

# Protocol method -> the capabilities that make it available (any one suffices).
GUARDED: dict[str, frozenset[Capability]] = {
    "encode": frozenset({Capability.REPRESENTATION}),
    "transition": frozenset({Capability.LATENT_DYNAMICS}),
    "update": frozenset({Capability.POSTERIOR_UPDATE}),
    "decode": DECODE_CAPABILITIES,
}
# Async twins a subclass may override: guarded by the same capabilities.
ASYNC_GUARDED: dict[str, frozenset[Capability]] = {
    "async_encode": GUARDED["encode"],
    "async_transition": GUARDED["transition"],
    "async_decode": GUARDED["decode"],
    "async_rollout": GUARDED["transition"],
    "async_imagine": GUARDED["transition"],
}
# The inputs each guarded method checks, in the protocol's argument order. Conditions
# are checked (required ones demanded) only by the calls that take them.
_INPUTS: dict[str, tuple[str, ...]] = {
    "encode": ("obs",),
    "transition": ("state", "action", "conditions"),
    "update": ("state", "action", "obs", "conditions"),
    "decode": ("state", "conditions"),
}


def _batch_of(value: object) -> int | None:
    if isinstance(value, State):
        return value.batch_size if value.tensors else None
    if isinstance(value, ActionPayload):
        return value.batch_size
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.dim() else None
    if isinstance(value, Mapping):
        for item in value.values():
            return int(item.shape[0]) if isinstance(item, torch.Tensor) and item.dim() else None
    return None


def _check_inputs(
    model: WorldModel, method: str, bindings: dict[str, int], args: tuple[Any, ...], kwargs: Any
) -> None:
    names = _INPUTS[method]
    given = {n: args[i] if i < len(args) else kwargs.get(n) for i, n in enumerate(names)}
    contract = model.contract()
    sizes = {n: b for n in ("state", "action", "obs") if (b := _batch_of(given.get(n))) is not None}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{n} {b}" for n, b in sizes.items())
        raise ContractError(f"batch sizes disagree: {shown}; expected one B")
    if "state" in given:
        check_state(contract, given["state"], bindings, values=False)
    # Through the model's own validate_* methods, which a subclass may tighten.
    if "action" in given:
        model.validate_action(given["action"])
    if "obs" in given:
        model.validate_observation(given["obs"])
    if "conditions" in given:  # encode takes none, so it never requires any
        check_conditions(contract.condition, given["conditions"], bindings)


def _guard(method: str, needs: frozenset[Capability], fn: _F) -> _F:
    @functools.wraps(fn)
    def guarded(self: WorldModel, *args: Any, **kwargs: Any) -> Any:
        if not (type(self).capabilities & needs):
            raise CapabilityError(self._missing_capability(method, needs))
        if INPUTS_CHECKED.get():
            return fn(self, *args, **kwargs)
        where = f"{type(self).__name__}.{method}"
        with public_call(where) as call:
            args, kwargs = numpy_inputs(args, kwargs, where, _INPUTS[method])
            # One set of axis sizes for this call's inputs (fresh if it joined an open call).
            call.bindings, call.checking = {}, True
            try:
                _check_inputs(self, method, call.bindings, args, kwargs)
            finally:
                call.checking = False
            token = INPUTS_CHECKED.set(True)
            try:
                return fn(self, *args, **kwargs)
            finally:
                INPUTS_CHECKED.reset(token)

    guarded.__wm_impl__ = fn  # type: ignore[attr-defined]
    return cast(_F, guarded)


def _with_deterministic(fn: _F) -> _F:
    """``update`` taking ``deterministic``: an ``update`` written without it is adapted.

    Decided once, when the class is created; the adapted function drops the flag.
    """
    params = inspect.signature(fn).parameters.values()
    if any(p.name == "deterministic" or p.kind is p.VAR_KEYWORD for p in params):
        return fn

    def update(
        self: WorldModel,
        state: State,
        action: Action,
        obs: Obs,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        return cast(State, fn(self, state, action, obs, conditions))

    update.__name__, update.__qualname__, update.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    update.__module__ = fn.__module__
    return cast(_F, update)


def _loss_entry(fn: _F) -> _F:
    """``loss`` as a public entry: errors raised within name ``Class.loss``.

    A sequence batch's per-episode conditions reach ``fn`` repeated over ``T``.
    """

    @functools.wraps(fn)
    def loss(self: WorldModel, batch: Any, *args: Any, **kwargs: Any) -> Any:
        with public_call(f"{type(self).__name__}.loss"):
            return fn(self, _per_episode_over_time(self.contract(), batch), *args, **kwargs)

    loss.__wm_entry__ = fn  # type: ignore[attr-defined]
    return cast(_F, loss)


def _per_episode_over_time(contract: IOContract, batch: Any) -> Any:
    spec = contract.condition
    if (
        spec is None
        or not spec.per_episode
        or not isinstance(batch, WorldModelInput)
        or not batch.sequence
        or batch.conditions is None
    ):
        return batch
    obs = batch.obs
    first = next(iter(obs.values()), None) if isinstance(obs, Mapping) else obs
    if not isinstance(first, torch.Tensor) or first.dim() < 2:
        return batch  # validation names what is wrong with obs
    conditions = repeat_per_episode(spec, batch.conditions, int(first.shape[1]))
    return batch if conditions is batch.conditions else replace(batch, conditions=conditions)


def _guard_async(method: str, needs: frozenset[Capability], fn: _F) -> _F:
    @functools.wraps(fn)
    async def guarded(self: WorldModel, *args: Any, **kwargs: Any) -> Any:
        if not (type(self).capabilities & needs):
            raise CapabilityError(self._missing_capability(method, needs))
        return await fn(self, *args, **kwargs)

    guarded.__wm_impl__ = fn  # type: ignore[attr-defined]
    return cast(_F, guarded)


class WorldModel(torch.nn.Module, ABC):
    """Base class for all world models.

    Class attributes a subclass sets:

    * ``capabilities``: a ``frozenset[Capability]``, declared once per class.
    * ``config_class``: the pydantic config model its ``__init__(config)`` takes,
      or ``None`` for models built without arguments.
    * ``model_type``: the registry name (defaults to the lower-cased class name).
    * ``batch_independent``: ``True`` (the default) when each row of a batch is
      computed independently of the others, so concurrent async calls may be
      coalesced along ``B``; set ``False`` to opt the class out.
    * ``batching``: the `BatchSettings` of coalescing (may also be set per instance).

    Example:
        ```python
        class Tiny(WorldModel):
            capabilities = frozenset({Capability.REPRESENTATION})

            def io_contract(self) -> IOContract:
                return IOContract(observation={"obs": TensorSpec(shape=("B", 3))},
                                  state={"z": TensorSpec(shape=("B", 3))})

            def encode(self, obs, deterministic=False):
                return State({"z": obs if isinstance(obs, torch.Tensor) else obs["obs"]})

            def loss(self, batch):
                return LossOutput(total=torch.zeros(()))
        ```
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    config_class: ClassVar[type[BaseModel] | None] = None
    model_type: ClassVar[str] = "worldmodel"
    api_version: ClassVar[str] = "v0.2"
    batch_independent: ClassVar[bool] = True
    batching: BatchSettings = BatchSettings()

    config: BaseModel | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        caps = cls.__dict__.get("capabilities", cls.capabilities)
        if not isinstance(caps, frozenset) or not all(isinstance(c, Capability) for c in caps):
            raise TypeError(
                f"{cls.__name__}.capabilities must be a frozenset of Capability; got {caps!r}"
            )
        if "model_type" not in cls.__dict__:
            cls.model_type = cls.__name__.lower()
        for method, needs in GUARDED.items():
            fn = cls.__dict__.get(method)
            if fn is not None and not hasattr(fn, "__wm_impl__"):
                if method == "update":
                    fn = _with_deterministic(fn)
                setattr(cls, method, _guard(method, needs, fn))
        for method, needs in ASYNC_GUARDED.items():
            fn = cls.__dict__.get(method)
            if inspect.iscoroutinefunction(fn) and not hasattr(fn, "__wm_impl__"):
                setattr(cls, method, _guard_async(method, needs, fn))
        fn = cls.__dict__.get("loss")
        if callable(fn) and not hasattr(fn, "__wm_entry__"):
            cls.loss = _loss_entry(fn)  # type: ignore[method-assign]

    def __init__(self, config: BaseModel | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        cls = type(self)
        _check_declarations(cls)
        self.config = _coerce_config(cls, config)

    # -- capabilities ---------------------------------------------------------------------

    def supports(self, capability: Capability | str) -> bool:
        """Return True if the model's class declares ``capability``."""
        return _as_capability(capability) in type(self).capabilities

    def require(self, capability: Capability | str, message: str | None = None) -> None:
        """Raise `CapabilityError` unless the model declares ``capability``.

        Args:
            capability: The capability needed.
            message: What the caller was doing, prepended to the error message.
        """
        cap = _as_capability(capability)
        if cap not in type(self).capabilities:
            text = self._missing_capability(None, frozenset({cap}))
            raise CapabilityError(f"{message}: {text}" if message else text)

    def _missing_capability(self, method: str | None, needs: frozenset[Capability]) -> str:
        name = type(self).__name__
        wanted = " or ".join(repr(c.value) for c in sorted(needs, key=lambda c: c.value))
        declared = sorted(c.value for c in type(self).capabilities) or "none"
        use = f", needed by {method}()" if method else ""
        return (
            f"{name} does not declare capability {wanted}{use}; declared: {declared}. "
            f"Add it to {name}.capabilities and implement the method, or check "
            f"model.supports(...) first."
        )

    # -- contract -------------------------------------------------------------------------

    @abstractmethod
    def io_contract(self) -> IOContract:
        """Return the model's I/O contract (computed once per instance and cached)."""

    def contract(self) -> IOContract:
        """The cached result of ``io_contract()``."""
        cached = self.__dict__.get("_wm_contract")
        if cached is None:
            cached = self.io_contract()
            if not isinstance(cached, IOContract):
                raise ContractError(
                    f"{type(self).__name__}.io_contract() must return an IOContract; got "
                    f"{type(cached).__name__}"
                )
            self.__dict__["_wm_contract"] = cached
        return cast(IOContract, cached)

    def contract_fingerprint(self) -> str:
        """Return a stable, versioned fingerprint of the I/O contract (``wmc1:...``)."""
        return self.contract().fingerprint

    # Each validate_* is a public entry of its own when called directly; called within
    # another public call (loss validating its batch) it joins that call, whose name its
    # errors carry. It binds the call's axis sizes only while the call checks its inputs.

    def validate_batch_contract(self, batch: WorldModelInput) -> None:
        """Validate a training batch's keys, shapes, dtypes and values against the contract."""
        with public_call(f"{type(self).__name__}.validate_batch_contract") as call:
            check_batch(self.contract(), batch, call.input_bindings())

    def validate_state_contract(self, state: State) -> None:
        """Validate a state's tensor keys, shapes and dtypes against the contract."""
        with public_call(f"{type(self).__name__}.validate_state_contract") as call:
            check_state(self.contract(), state, call.input_bindings())

    def validate_observation(self, obs: Obs) -> None:
        """Validate observations (per agent for multi-agent models) against the contract."""
        with public_call(f"{type(self).__name__}.validate_observation") as call:
            check_observation(self.contract(), obs, call.input_bindings())

    def validate_action(self, action: Action) -> None:
        """Validate one action batch (kind, shape, dtype, range) against the contract."""
        with public_call(f"{type(self).__name__}.validate_action") as call:
            check_action(self.contract().action, action, call.input_bindings())

    # -- protocol methods -----------------------------------------------------------------

    def encode(self, obs: Obs, deterministic: bool = False) -> State:
        """Encode observations into a latent state (needs ``representation``)."""
        raise CapabilityError(self._missing_capability("encode", GUARDED["encode"]))

    def transition(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Predict the next state from a state and an action (needs ``latent_dynamics``)."""
        raise CapabilityError(self._missing_capability("transition", GUARDED["transition"]))

    def update(
        self,
        state: State,
        action: Action,
        obs: Obs,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Fold an observation into the state (needs ``posterior_update``).

        A sampled posterior (Dreamer-style) draws its latent unless ``deterministic``
        is set, when it must repeat bit for bit (the mean or mode, say). Subclasses
        written before the flag existed, whose ``update`` lacks it, keep working:
        the base then does not pass it on.
        """
        raise CapabilityError(self._missing_capability("update", GUARDED["update"]))

    def decode(self, state: State, conditions: ConditionPayload | None = None) -> ModelOutput:
        """Decode a state into predictions (needs a decoder capability)."""
        raise CapabilityError(self._missing_capability("decode", GUARDED["decode"]))

    def plan_step(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Planner hook; by default one ``transition``."""
        return self.transition(state, action, conditions, deterministic)

    def sample_step(
        self,
        state: State,
        action: Action | None = None,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> ModelOutput:
        """Sampler hook: ``transition`` then ``decode`` if an action is given, else ``decode``."""
        if action is not None:
            state = self.transition(state, action, conditions, deterministic)
        return self.decode(state, conditions)

    def teacher_forcing_step(
        self,
        state: State,
        action: Action,
        obs: Obs,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Training hook; by default ``update``."""
        return self.update(state, action, obs, conditions, deterministic)

    @abstractmethod
    def loss(self, batch: WorldModelInput) -> LossOutput:
        """Compute the training loss of a batch."""

    # -- rollout --------------------------------------------------------------------------

    def rollout(
        self,
        initial_state: State,
        action_sequence: torch.Tensor | ActionPayload | Sequence[ActionPayload],
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Trajectory:
        """Imagine ``T`` steps from ``initial_state`` under ``action_sequence``.

        Inputs are validated once; the loop then calls ``transition`` (and ``decode``
        in ``autoregressive`` mode when the model decodes) with no per-step checks.

        Args:
            initial_state: Where to start (batch ``B``).
            action_sequence: A tensor ``[T, B, ...]``, an `ActionPayload` whose
                tensors are ``[T, B, ...]``, or a sequence of ``T`` payloads.
            conditions: Side conditions, passed to every step.
            deterministic: No sampling: repeated calls give identical trajectories.
            mode: ``"autoregressive"`` (transition + decode) or ``"latent"``
                (transition only).

        Returns:
            A `Trajectory` with ``T + 1`` states.
        """
        with public_call(f"{type(self).__name__}.rollout"):
            plan = _rollout.prepare(
                self, initial_state, action_sequence, conditions, deterministic, mode
            )
            return _rollout.run(plan)

    def imagine(
        self,
        initial_state: State,
        policy: Policy,
        horizon: int,
        *,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Trajectory:
        """Imagine ``horizon`` steps from ``initial_state``, asking ``policy`` for each action.

        ``policy(state)`` is called once per step on the current state and returns
        an `ActionPayload` or a tensor ``[B, ...]``, checked against the contract.
        Policies may be torch modules: with grad enabled, gradients flow from the
        imagined states and predictions back into the policy (Dreamer-style actor
        learning). The trajectory records the actions taken, so
        ``rollout(initial_state, trajectory.actions, deterministic=True)`` replays
        ``imagine(..., deterministic=True)``.

        Args:
            initial_state: Where to start (batch ``B``).
            policy: ``policy(state) -> action batch``.
            horizon: Number of steps ``T >= 1``.
            conditions: Side conditions, passed to every step.
            deterministic: No sampling in the model.
            mode: ``"autoregressive"`` (transition + decode) or ``"latent"``.

        Returns:
            A `Trajectory` with ``T + 1`` states and the ``T`` actions taken.

        Example:
            >>> traj = model.imagine(state, lambda s: actor(s["h"]), 15)
        """
        plan = _imagine.prepare(
            self, initial_state, policy, horizon, conditions, deterministic, mode
        )
        return _imagine.run(plan)

    # -- async twins ----------------------------------------------------------------------
    #
    # Concurrent calls on one model are coalesced along B on one worker thread per model
    # and event loop (see `worldmodel_sdk.batching`); inputs are checked in the caller's
    # task first, so a bad input fails only its caller.

    def _checked_args(self, method: str, *args: Any) -> tuple[Any, ...]:
        """Capability, numpy conversion and input checks of an async twin, in the caller."""
        needs = GUARDED[method]
        if not (type(self).capabilities & needs):
            raise CapabilityError(self._missing_capability(method, needs))
        where = f"{type(self).__name__}.{method}"
        with public_call(where) as call:
            args, _ = numpy_inputs(args, {}, where, _INPUTS[method])
            call.bindings, call.checking = {}, True
            try:
                _check_inputs(self, method, call.bindings, args, {})
            finally:
                call.checking = False
        return args

    async def async_encode(self, obs: Obs, deterministic: bool = False) -> State:
        """Non-blocking ``encode``, coalesced with concurrent compatible calls."""
        (obs,) = self._checked_args("encode", obs)
        return await _batched.encode(self, obs, deterministic, _batch_of(obs) or 1)

    async def async_transition(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Non-blocking ``transition``, coalesced with concurrent compatible calls."""
        state, action, conditions = self._checked_args("transition", state, action, conditions)
        return await _batched.transition(self, state, action, conditions, deterministic)

    async def async_decode(
        self, state: State, conditions: ConditionPayload | None = None
    ) -> ModelOutput:
        """Non-blocking ``decode``, coalesced with concurrent compatible calls."""
        state, conditions = self._checked_args("decode", state, conditions)
        return await _batched.decode(self, state, conditions)

    async def async_rollout(
        self,
        initial_state: State,
        action_sequence: torch.Tensor | ActionPayload | Sequence[ActionPayload],
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Trajectory:
        """Non-blocking ``rollout``: the same result, coalesced with concurrent rollouts."""
        if type(self).rollout is not WorldModel.rollout:
            args = (initial_state, action_sequence, conditions, deterministic, mode)
            return await _batched.call_alone(self, lambda: self.rollout(*args))
        return await _batched.rollout(
            self, initial_state, action_sequence, conditions, deterministic, mode
        )

    async def async_imagine(
        self,
        initial_state: State,
        policy: Policy,
        horizon: int,
        *,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Trajectory:
        """Non-blocking `imagine`, coalesced with concurrent compatible imaginations.

        Each caller's policy is called on its own rows of the batched state.
        """
        if type(self).imagine is not WorldModel.imagine:
            return await _batched.call_alone(
                self,
                lambda: self.imagine(
                    initial_state,
                    policy,
                    horizon,
                    conditions=conditions,
                    deterministic=deterministic,
                    mode=mode,
                ),
            )
        plan = _imagine.prepare(
            self, initial_state, policy, horizon, conditions, deterministic, mode
        )
        return await _batched.imagine(self, plan)

    # -- persistence ----------------------------------------------------------------------

    def save_pretrained(self, path: str | PathLike[str]) -> None:
        """Write ``config.json`` and ``model.safetensors`` into directory ``path``."""
        persistence.save(self, path)

    @classmethod
    def from_pretrained(cls: type[_M], path: str | PathLike[str]) -> _M:
        """Load a model saved by `save_pretrained`, checking type and contract fingerprint."""
        return persistence.load(cls, path)


def _as_capability(value: Capability | str) -> Capability:
    try:
        return Capability(value)
    except ValueError:
        known = ", ".join(c.value for c in Capability)
        raise CapabilityError(f"unknown capability {value!r}; known: {known}") from None


_CHECKED: set[type] = set()


def _check_declarations(cls: type[WorldModel]) -> None:
    if cls in _CHECKED:
        return
    for method, needs in GUARDED.items():
        declared = cls.capabilities & needs
        if declared and getattr(cls, method) is getattr(WorldModel, method):
            raise TypeError(
                f"{cls.__name__} declares {sorted(c.value for c in declared)} but does not "
                f"implement {method}()"
            )
    _CHECKED.add(cls)


def _coerce_config(
    cls: type[WorldModel], config: BaseModel | Mapping[str, Any] | None
) -> BaseModel | None:
    wanted = cls.config_class
    if wanted is None:
        if config is not None:
            raise ContractError(f"{cls.__name__} takes no config; got {type(config).__name__}")
        return None
    if config is None:
        return wanted()
    if isinstance(config, wanted):
        return config
    if isinstance(config, Mapping):
        try:
            return wanted.model_validate(dict(config))
        except ValidationError as exc:
            raise ContractError(f"invalid {wanted.__name__} for {cls.__name__}: {exc}") from None
    raise ContractError(
        f"{cls.__name__} expects a {wanted.__name__} (or a dict of its fields); got "
        f"{type(config).__name__}"
    )
