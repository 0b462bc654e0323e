"""Row helpers shared by the vector envs: replace rows of a batch state, check predictions."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ContractError
from ..payloads.state import State

__all__ = ["finite", "rows_of"]


def rows_of(state: State, rows: np.ndarray, fresh: State) -> State:
    """``state`` with the given rows replaced by the rows of ``fresh`` (no in-place writes)."""
    index = torch.as_tensor(np.flatnonzero(rows))
    return State(
        {k: v.index_put((index,), fresh.tensors[k].to(v.dtype)) for k, v in state.tensors.items()},
        state.meta,
    )


def finite(where: str, name: str, value: np.ndarray) -> np.ndarray:
    """``value``, or a ContractError if the model predicted NaN or inf."""
    if not np.isfinite(value).all():
        raise ContractError(f"the model predicted NaN or inf in {name} [{where}]")
    return value
