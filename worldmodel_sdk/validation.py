"""Checks of tensors and payloads against an `IOContract`.

Each function raises `ContractError` naming the key, the expected shape or dtype
and what arrived. The public call the user made (``JOPM.encode``) is not named
here: it is added once, by the public entry that opened the call (see
``worldmodel_sdk._checked``), which gives e.g.
``obs['agent_0'] has shape (4, 7); contract expects (B, 6) [JOPM.encode]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ._dtypes import NUMPY, dtype_name
from ._outcomes import per_agent
from .contract import ActionSpec, Axis, ConditionSpec, IOContract, TensorSpec, show_shape
from .errors import ContractError
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.outputs import WorldModelInput
from .payloads.state import State

__all__ = [
    "check_action",
    "check_action_values",
    "check_batch",
    "check_conditions",
    "check_finite",
    "check_observation",
    "check_shape",
    "check_state",
    "check_tensor",
    "host_array",
]


def check_tensor(
    spec: TensorSpec,
    where: str,
    value: object,
    bindings: dict[str, int],
    *,
    time_axis: bool = False,
    values: bool = True,
) -> None:
    """Check one tensor against ``spec``, binding symbolic axes as it goes.

    Args:
        spec: The declared shape and dtype.
        where: How to name the tensor in messages, e.g. ``obs['agent_0']``.
        value: What arrived.
        bindings: Symbol sizes bound so far in this validation (updated in place).
        time_axis: Expect a ``T`` axis after ``B`` even if the spec has none.
        values: Also check values (finiteness), which reads the tensor.

    Raises:
        ContractError: naming ``where``, the expected shape/dtype and what arrived.
    """
    shape = spec.shape
    if time_axis and "T" not in shape:
        shape = (shape[0], "T", *shape[1:]) if shape else ("T",)
    tensor = check_shape(where, value, shape, bindings)
    if tensor.dtype != spec.torch_dtype:
        raise ContractError(
            f"{where} has dtype {dtype_name(tensor.dtype)}; contract expects {spec.dtype}"
        )
    if values and not spec.allow_nonfinite:
        check_finite(where, tensor)


def check_shape(
    where: str, value: object, shape: tuple[Axis, ...], bindings: dict[str, int]
) -> torch.Tensor:
    """Check that ``value`` is a tensor of ``shape``, binding symbolic axes in ``bindings``.

    Returns:
        ``value``, typed as a tensor.

    Raises:
        ContractError: naming ``where``, the expected shape and what arrived.
    """
    if not isinstance(value, torch.Tensor):
        raise ContractError(f"{where} must be a torch.Tensor; got {type(value).__name__}")
    got = value.shape
    if len(got) != len(shape):
        raise ContractError(f"{where} has shape {tuple(got)}; contract expects {show_shape(shape)}")
    for axis, size in zip(shape, got, strict=True):
        if isinstance(axis, int):
            if axis != size:
                raise ContractError(
                    f"{where} has shape {tuple(got)}; contract expects {show_shape(shape)}"
                )
        elif bindings.setdefault(axis, size) != size:
            raise ContractError(
                f"{where} has shape {tuple(got)}; contract expects {show_shape(shape)} with "
                f"{axis}={bindings[axis]}"
            )
    return value


def host_array(value: torch.Tensor) -> np.ndarray[Any, Any] | None:
    """A NumPy view of a CPU tensor of a NumPy-compatible dtype, else ``None``.

    Reductions over small CPU tensors are several times cheaper in NumPy than
    in torch, and validation runs them on every checked call.
    """
    if value.device.type != "cpu" or value.dtype not in NUMPY:
        return None
    return value.detach().resolve_conj().resolve_neg().numpy()


def check_finite(where: str, value: torch.Tensor) -> None:
    """Refuse NaN and inf in a floating or complex tensor (one reduction)."""
    if (value.is_floating_point() or value.is_complex()) and value.numel():
        array = host_array(value)
        finite = (
            bool(np.isfinite(array).all())
            if array is not None
            else bool(torch.isfinite(value).all())
        )
        if not finite:
            raise ContractError(f"{where} contains NaN or inf; contract expects finite values")


def _named_keys(kind: str, got: Mapping[str, object], expected: Mapping[str, object]) -> None:
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise ContractError(
            f"{kind} keys do not match the contract: {', '.join(parts)}; expected "
            f"{list(expected)}, got {list(got)}"
        )


def check_observation(
    contract: IOContract,
    obs: object,
    bindings: dict[str, int],
    *,
    time_axis: bool = False,
) -> None:
    """Check observations (a mapping, or a bare tensor for one-key contracts)."""
    mapping = contract.observation_mapping(obs)
    label = "obs agent" if contract.agents else "obs"
    _named_keys(label, mapping, contract.observation)
    for key, spec in contract.observation.items():
        check_tensor(spec, f"obs[{key!r}]", mapping[key], bindings, time_axis=time_axis)


def check_action(
    spec: ActionSpec | None,
    action: object,
    bindings: dict[str, int],
    *,
    lead: tuple[str, ...] = ("B",),
    name: str = "action",
) -> None:
    """Check an action (tensor or `ActionPayload`) against ``spec``, ranges included.

    ``lead`` names the axes before the per-sample shape: ``("B",)`` for one step,
    ``("B", "T")`` for a training sequence, ``("T", "B")`` for a rollout's actions.
    """
    if spec is None:
        raise ContractError(f"the model takes no action; got {type(action).__name__}")
    if spec.behaviour.per_agent:
        if not isinstance(action, ActionPayload) or action.kind != spec.kind:
            raise ContractError(
                f"{name} must be a joint ActionPayload over {list(spec.agent_names)}; got "
                f"{_describe(action)}"
            )
        action.validate()
        agents = action.agents or {}
        sub = spec.agents or {}
        _named_keys(f"{name} agent", agents, {n: sub[n] for n in spec.agent_names})
        for agent in spec.agent_names:
            _check_single(sub[agent], f"{name}[{agent!r}]", agents[agent], bindings, lead)
        return
    if isinstance(action, ActionPayload):
        if action.kind != spec.kind:
            raise ContractError(f"{name} kind is {action.kind!r}; contract expects {spec.kind!r}")
        action.validate()
        action = action.tensor
    _check_single(spec, name, action, bindings, lead)


def _describe(value: object) -> str:
    if isinstance(value, ActionPayload):
        return f"ActionPayload(kind={value.kind!r})"
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)}"
    return type(value).__name__


def _check_single(
    spec: ActionSpec, where: str, value: object, bindings: dict[str, int], lead: tuple[str, ...]
) -> None:
    kind = spec.behaviour
    value = check_shape(where, value, (*lead, *kind.sample_shape(spec)), bindings)
    if kind.integer:
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise ContractError(
                f"{where} has dtype {value.dtype}; a {kind.name} action holds integers"
            )
    elif value.dtype != kind.dtype:
        raise ContractError(
            f"{where} has dtype {dtype_name(value.dtype)}; contract expects "
            f"{dtype_name(kind.dtype)}"
        )
    check_action_values(spec, where, value)


def check_action_values(spec: ActionSpec, where: str, value: torch.Tensor) -> None:
    """The value checks of a single-agent action whose layout has passed: finite, in range.

    Split from the layout checks so that a caller who has cached a layout as valid
    checks only what it cannot cache, with the same messages.
    """
    kind = spec.behaviour
    if not kind.integer:
        check_finite(where, value)
    if value.numel():
        kind.check_range(where, spec, value, _min_max)


def _min_max(value: torch.Tensor) -> tuple[float, float]:
    array = host_array(value)
    if array is not None:
        return array.min().item(), array.max().item()
    return float(value.min()), float(value.max())


def check_state(
    contract: IOContract,
    state: object,
    bindings: dict[str, int] | None = None,
    *,
    values: bool = True,
) -> None:
    """Check that ``state`` holds every declared state tensor with the declared layout.

    With ``values=False`` only keys, shapes and dtypes are checked (no tensor is read).
    """
    if not isinstance(state, State):
        raise ContractError(f"state must be a State; got {type(state).__name__}")
    state.validate()
    bindings = {} if bindings is None else bindings
    missing = [k for k in contract.state if k not in state.tensors]
    if missing:
        raise ContractError(
            f"State is missing {missing}; contract expects {list(contract.state)}, got "
            f"{list(state.tensors)}"
        )
    for key, spec in contract.state.items():
        check_tensor(spec, f"State[{key!r}]", state.tensors[key], bindings, values=values)


def check_conditions(
    spec: ConditionSpec | None,
    conditions: object,
    bindings: dict[str, int],
    *,
    time_axis: bool = False,
) -> None:
    """Check side conditions against ``spec`` (``None`` conditions are fine if none required).

    With ``time_axis`` (a sequence batch) each condition has ``T`` after ``B``, except
    the ``per_episode`` ones, which may also come without it.
    """
    if conditions is None:
        if spec is not None and spec.required:
            raise ContractError(f"conditions {list(spec.required)} are required; got None")
        return
    if not isinstance(conditions, ConditionPayload):
        raise ContractError(
            f"conditions must be a ConditionPayload; got {type(conditions).__name__}"
        )
    if spec is None:
        if conditions.tensors or conditions.extras:
            raise ContractError("the model takes no conditions; got a non-empty payload")
        return
    conditions.validate(
        strict=spec.allowed_extra_keys is not None,
        allowed_extra_keys=spec.allowed_extra_keys,
    )
    missing = [k for k in spec.required if k not in conditions.tensors]
    unknown = [k for k in conditions.tensors if k not in spec.tensors]
    if missing or unknown:
        raise ContractError(
            f"condition tensors do not match the contract: missing {missing}, unexpected "
            f"{unknown}; expected {list(spec.tensors)}"
        )
    for key, value in conditions.tensors.items():
        tensor_spec = spec.tensors[key]
        # A per-episode condition comes without T, or already repeated over T.
        over_time = time_axis and not (
            key in spec.per_episode
            and isinstance(value, torch.Tensor)
            and value.dim() == len(tensor_spec.shape)
        )
        check_tensor(tensor_spec, f"conditions[{key!r}]", value, bindings, time_axis=over_time)


def check_batch(
    contract: IOContract, batch: object, bindings: dict[str, int] | None = None
) -> None:
    """Check a `WorldModelInput` training batch against the contract."""
    if not isinstance(batch, WorldModelInput):
        raise ContractError(f"batch must be a WorldModelInput; got {type(batch).__name__}")
    seq = batch.sequence
    bindings = {} if bindings is None else bindings
    lead = ("B", "T") if seq else ("B",)
    check_observation(contract, batch.obs, bindings, time_axis=seq)
    if batch.actions is not None:
        check_action(contract.action, batch.actions, bindings, lead=lead)
    check_conditions(contract.condition, batch.conditions, bindings, time_axis=seq)
    for name, key in (("rewards", "reward"), ("continues", "continue"), ("mask", "")):
        value = getattr(batch, name)
        if value is not None:
            # A per-agent prediction (an "A" axis) trains on one target per agent.
            agents = (len(contract.agents),) if per_agent(contract, key) else ()
            check_shape(f"batch.{name}", value, lead + agents, bindings)
