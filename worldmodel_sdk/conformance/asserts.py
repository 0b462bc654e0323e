"""Assertion helpers that name the call, what was expected and what arrived."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from ..errors import CapabilityError
from ..payloads.outputs import ModelOutput
from ..payloads.state import State
from .results import CheckFailure

__all__ = [
    "compare_mappings",
    "compare_outputs",
    "compare_states",
    "compare_tensors",
    "describe",
    "expect_call",
    "expect_capability_error",
]

_T = TypeVar("_T")


def describe(value: object) -> str:
    """Short description of a value for messages: ``Tensor(3, 8) float32``, ``State[h, z]``."""
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, State):
        return f"State[{', '.join(value.tensors)}]"
    if isinstance(value, ModelOutput):
        return f"ModelOutput[{', '.join(value.predictions)}]"
    return type(value).__name__


def expect_call(call: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run ``fn``; turn any exception into a `CheckFailure` that names ``call``."""
    try:
        return fn(*args, **kwargs)
    except CheckFailure:
        raise
    except Exception as exc:
        raise CheckFailure(call, "no exception", f"{type(exc).__name__}: {exc}") from exc


def expect_capability_error(call: str, fn: Callable[..., Any], *args: Any) -> None:
    """Fail unless ``fn(*args)`` raises `CapabilityError`."""
    try:
        result = fn(*args)
    except CapabilityError:
        return
    except Exception as exc:
        raise CheckFailure(call, "CapabilityError", f"{type(exc).__name__}: {exc}") from exc
    raise CheckFailure(call, "CapabilityError", f"it returned {describe(result)}")


def compare_tensors(
    call: str, what: str, got: torch.Tensor, want: torch.Tensor, *, exact: bool = True
) -> None:
    """Fail unless ``got`` equals ``want`` (bit for bit if ``exact``, else within tolerance)."""
    if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
        raise CheckFailure(call, f"{what} to be {describe(want)}", describe(got))
    a, b = got.detach(), want.detach()
    same = torch.equal(a, b) if exact else torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    if same:
        return
    if a.is_floating_point():
        diff = float((a.double() - b.double()).abs().nan_to_num(float("inf")).max())
        shown = f"max abs difference {diff:.3g}"
    else:
        shown = f"{int((a != b).sum())} differing elements"
    rule = "identical values" if exact else "values within rtol=1e-4, atol=1e-5"
    raise CheckFailure(call, f"{what}: {rule}", shown)


def compare_states(call: str, got: State, want: State, *, exact: bool = True) -> None:
    """Fail unless two states hold the same keys and equal tensors."""
    if list(got.tensors) != list(want.tensors):
        raise CheckFailure(call, f"State keys {list(want.tensors)}", list(got.tensors).__repr__())
    for key in want.tensors:
        compare_tensors(call, f"State[{key!r}]", got.tensors[key], want.tensors[key], exact=exact)


def compare_outputs(call: str, got: ModelOutput, want: ModelOutput, *, exact: bool = True) -> None:
    """Fail unless two model outputs hold the same predictions."""
    compare_mappings(call, "predictions", got.predictions, want.predictions, exact=exact)


def compare_mappings(
    call: str,
    what: str,
    got: Mapping[str, torch.Tensor],
    want: Mapping[str, torch.Tensor],
    *,
    exact: bool = True,
) -> None:
    """Fail unless two tensor mappings have the same keys and equal tensors."""
    if sorted(got) != sorted(want):
        raise CheckFailure(call, f"{what} keys {sorted(want)}", repr(sorted(got)))
    for key in want:
        compare_tensors(call, f"{what}[{key!r}]", got[key], want[key], exact=exact)
