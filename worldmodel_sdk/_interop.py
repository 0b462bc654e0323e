"""Interop with numpy arrays and TensorDict.

Numpy arrays are accepted wherever the protocol calls take tensors: observations,
actions (bare or in an `ActionPayload`), state tensors, condition tensors and
rollout action sequences. They become tensors with `torch.from_numpy`, which
shares memory on CPU; the only copies are of arrays torch cannot view (read-only,
negative strides, non-native byte order). The dtype is kept as it is, so the
contract checks that follow see exactly what the caller passed: a float64 array
against a float32 contract is still a `ContractError`, never a silent cast.

`State` converts to and from a TensorDict through these functions (the
``tensordict`` extra); importing worldmodel_sdk never imports tensordict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from .errors import ContractError
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.state import State

if TYPE_CHECKING:
    from tensordict import TensorDict, TensorDictBase

EXTRA_HINT = "pip install 'worldmodel-sdk[tensordict]'"


def numpy_inputs(
    args: tuple[Any, ...], kwargs: dict[str, Any], where: str, names: Sequence[str] = ()
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return ``args`` and ``kwargs`` with numpy arrays turned into tensors.

    The same objects come back when nothing holds an array (the common case costs
    a few type checks). ``names`` label positional arguments in error messages.
    """
    if not any(map(_holds_numpy, args)) and not any(map(_holds_numpy, kwargs.values())):
        return args, kwargs
    new_args = tuple(
        _convert(value, names[i] if i < len(names) else f"argument {i}", where)
        for i, value in enumerate(args)
    )
    return new_args, {key: _convert(value, key, where) for key, value in kwargs.items()}


_LEAVES = frozenset({torch.Tensor, type(None), bool})


def _holds_numpy(value: object) -> bool:
    # Exact-type tests first: the common inputs (tensors, states, None, flags) leave at
    # once, without the slower isinstance checks of torch's and abc's metaclasses.
    kind = type(value)
    if kind in _LEAVES:
        return False
    if kind is State or kind is ConditionPayload:
        return _any_array(cast("State | ConditionPayload", value).tensors)
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, torch.Tensor):
        return False
    if isinstance(value, (State, ConditionPayload)):
        return _any_array(value.tensors)
    if isinstance(value, ActionPayload):
        return isinstance(value.tensor, np.ndarray) or _any_array(value.agents or {})
    if isinstance(value, Mapping):
        return _any_array(value)
    if isinstance(value, (list, tuple)):
        return any(map(_holds_numpy, value))
    return False


def _any_array(values: Mapping[Any, object]) -> bool:
    for value in values.values():
        if isinstance(value, np.ndarray):
            return True
    return False


def _convert(value: Any, name: str, where: str) -> Any:
    if not _holds_numpy(value):
        return value
    if isinstance(value, np.ndarray):
        return as_tensor(value, name, where)
    if isinstance(value, State):
        return State(_convert_mapping(value.tensors, f"{name}[{{!r}}]", where), value.meta)
    if isinstance(value, ActionPayload):
        tensor = value.tensor
        return ActionPayload(
            kind=value.kind,
            tensor=as_tensor(tensor, f"{name}.tensor", where)
            if isinstance(tensor, np.ndarray)
            else tensor,
            agents=None
            if value.agents is None
            else _convert_mapping(value.agents, f"{name}.agents[{{!r}}]", where),
        )
    if isinstance(value, ConditionPayload):
        tensors = _convert_mapping(value.tensors, f"{name}.tensors[{{!r}}]", where)
        return ConditionPayload(tensors=tensors, extras=value.extras)
    if isinstance(value, Mapping):
        return _convert_mapping(value, f"{name}[{{!r}}]", where)
    items = [_convert(item, f"{name}[{i}]", where) for i, item in enumerate(value)]
    return items if isinstance(value, list) else tuple(items)


def _convert_mapping(values: Mapping[str, Any], label: str, where: str) -> dict[str, Any]:
    return {
        key: as_tensor(v, label.format(key), where) if isinstance(v, np.ndarray) else v
        for key, v in values.items()
    }


def as_tensor(array: np.ndarray[Any, Any], name: str, where: str) -> torch.Tensor:
    """One array as a CPU tensor of the same dtype, sharing memory where torch can.

    Raises:
        ContractError: for dtypes torch has no tensor type for (object, str, ...).
    """
    if not array.flags.writeable or any(s < 0 for s in array.strides):
        array = np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    try:
        return torch.from_numpy(array)
    except TypeError:
        raise ContractError(
            f"{name} is a numpy array of dtype {array.dtype}; torch has no tensor of that "
            f"dtype (expected bool, integer, float or complex) [{where}]"
        ) from None


def _tensordict(where: str) -> Any:
    try:
        import tensordict
    except ImportError:
        raise ImportError(
            f"{where} needs the optional package 'tensordict'; install it with {EXTRA_HINT}"
        ) from None
    return tensordict


def to_tensordict(state: State) -> TensorDict:
    """The state's tensors as a TensorDict with batch size ``[B]`` (tensors shared)."""
    module = _tensordict("State.to_tensordict")
    state.validate()
    devices = {value.device for value in state.tensors.values()}
    data: TensorDict = module.TensorDict(
        dict(state.tensors),
        batch_size=[state.batch_size] if state.tensors else [],
        device=devices.pop() if len(devices) == 1 else None,
    )
    return data


def from_tensordict(data: TensorDictBase, meta: dict[str, Any] | None = None) -> State:
    """A validated `State` holding the tensors of a flat TensorDict (tensors shared)."""
    where = "State.from_tensordict"
    module = _tensordict(where)
    if not isinstance(data, module.TensorDictBase):
        raise ContractError(f"{where} expects a TensorDict; got {type(data).__name__}")
    tensors: dict[str, torch.Tensor] = {}
    for key in data.keys(include_nested=True, leaves_only=True):
        if isinstance(key, tuple):
            raise ContractError(
                f"TensorDict entry {key} is nested; a State holds flat names "
                f"(call data.flatten_keys('.') first) [{where}]"
            )
        value = data.get(key)
        if not isinstance(value, torch.Tensor):
            raise ContractError(
                f"TensorDict entry {key!r} holds {type(value).__name__}; a State holds "
                f"tensors only (pass metadata as meta=...) [{where}]"
            )
        tensors[key] = value
    return State(tensors, meta).validate()
