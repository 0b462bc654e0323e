"""The wire's dtype names as torch dtypes (the torch side of `_layout.WIRE_DTYPES`)."""

from __future__ import annotations

import torch

from .._dtypes import DTYPES
from ._layout import WIRE_DTYPES

__all__ = ["DTYPE_BY_NAME", "NAME_BY_DTYPE"]

DTYPE_BY_NAME: dict[str, torch.dtype] = {
    name: DTYPES[name] for name in WIRE_DTYPES if name in DTYPES
}
"""Every wire dtype name this torch build has, with its torch dtype."""
NAME_BY_DTYPE: dict[torch.dtype, str] = {dtype: name for name, dtype in DTYPE_BY_NAME.items()}
