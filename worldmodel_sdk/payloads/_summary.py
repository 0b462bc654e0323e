"""Cheap one-line summaries of tensors for the ``repr`` of payload containers.

A summary reads only metadata (dtype, shape, device), never tensor values, so it
costs the same for a tensor of ten elements as for one of ten million and never
synchronises with an accelerator.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

_DTYPE_PREFIX = "torch."


def describe(value: object) -> str:
    """``float32[4, 128] cpu`` for a tensor, ``None`` for None; else the type name."""
    if value is None:
        return "None"
    if not isinstance(value, torch.Tensor):
        return type(value).__name__
    dtype = str(value.dtype).removeprefix(_DTYPE_PREFIX)
    shape = ", ".join(str(n) for n in value.shape)
    return f"{dtype}[{shape}] {value.device}"


def describe_mapping(values: Mapping[str, object]) -> str:
    """``{'h': float32[4, 128] cpu, 'z': ...}``: one summary per key, in order."""
    return "{" + ", ".join(f"{key!r}: {describe(v)}" for key, v in values.items()) + "}"
