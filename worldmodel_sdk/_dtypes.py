"""The package's one dtype table: torch dtypes by canonical name, and their NumPy twins."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import ContractError

__all__ = ["DTYPES", "NAMES", "NUMPY", "dtype_from_name", "dtype_name"]

# Every torch dtype under its canonical name ("float32", not the alias "float").
DTYPES: dict[str, torch.dtype] = {
    name: value
    for name in dir(torch)
    if isinstance(value := getattr(torch, name), torch.dtype) and name == str(value)[6:]
}
NAMES: dict[torch.dtype, str] = {dtype: name for name, dtype in DTYPES.items()}
# The dtypes NumPy can view without a copy, with their NumPy dtypes.
NUMPY: dict[torch.dtype, np.dtype[Any]] = {
    DTYPES[name]: np.dtype(name)
    for name in ("bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64",
                 "uint64", "float16", "float32", "float64", "complex64", "complex128")
}  # fmt: skip


def dtype_from_name(name: str) -> torch.dtype:
    """Return the torch dtype called ``name`` (``"float32"``, ``"int64"``, ``"bool"``...).

    Raises:
        ContractError: if torch has no dtype of that name.
    """
    try:
        return DTYPES[name]
    except KeyError:
        raise ContractError(
            f"unknown dtype {name!r}; expected a torch dtype name such as "
            "'float32', 'int64' or 'bool'"
        ) from None


def dtype_name(dtype: torch.dtype) -> str:
    """Return the canonical name of a torch dtype (``torch.float32`` -> ``"float32"``)."""
    return NAMES.get(dtype) or str(dtype).removeprefix("torch.")
