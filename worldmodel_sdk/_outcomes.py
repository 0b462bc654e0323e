"""Rewards and terminations read from a model's ``reward`` and ``continue`` predictions.

A model predicts them for the whole team, ``[B]`` (one value per sample), or per
agent, ``[B, A]`` with the agents in the contract's order. The contract says which:
a prediction spec whose shape has the ``"A"`` axis is per agent. Every simulator
built on a model (`WorldModelEnv`, the batched env, the framework bridges) reads
them here, so that a team prediction is given to every agent and a per-agent one
to each agent alike everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .contract import IOContract
from .errors import ContractError

__all__ = ["per_agent", "predicted_rewards", "predicted_terminations"]


def per_agent(contract: IOContract, key: str) -> bool:
    """Whether the contract's ``key`` prediction has one value per agent (an ``"A"`` axis)."""
    spec = contract.prediction.get(key)
    return spec is not None and "A" in spec.shape


def _predicted(
    contract: IOContract, decoded: Mapping[str, torch.Tensor], key: str, rows: int, where: str
) -> torch.Tensor:
    """``decoded[key]`` as ``[rows, A]`` (a team prediction repeated for every agent)."""
    agents = len(contract.agents)
    value = decoded.get(key)
    if not isinstance(value, torch.Tensor):
        got = "nothing" if value is None else f"a {type(value).__name__}"
        raise ContractError(f"the model predicted {got} for {key!r}; expected a tensor [{where}]")
    if not value.is_floating_point():
        raise ContractError(
            f"the model predicted {key!r} of dtype {value.dtype}; expected a floating-point "
            f"tensor [{where}]"
        )
    if per_agent(contract, key):
        if tuple(value.shape) != (rows, agents):
            raise ContractError(
                f"the model predicted {key!r} of shape {tuple(value.shape)}; expected "
                f"{(rows, agents)} = (B, A) for the agents {list(contract.agents)} [{where}]"
            )
        return value.detach()
    if value.numel() != rows:
        raise ContractError(
            f"the model predicted {key!r} of shape {tuple(value.shape)}; expected ({rows},) = "
            f"(B,), one team value per sample [{where}]"
        )
    return value.detach().reshape(rows, 1).expand(rows, agents)


def _finite(
    contract: IOContract, decoded: Mapping[str, torch.Tensor], key: str, rows: int, where: str
) -> np.ndarray:
    """``decoded[key]`` as float64 ``[rows, A]``, refused if any value is NaN or infinite."""
    values = _predicted(contract, decoded, key, rows, where).double().cpu().numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = float(values[row, column])
        if per_agent(contract, key):
            agent = contract.agents[column]
            raise ContractError(f"the model predicted {key} {value} for agent {agent!r} [{where}]")
        raise ContractError(f"the model predicted {key} {value} [{where}]")
    return np.array(values, dtype=np.float64)


def predicted_rewards(
    contract: IOContract, decoded: Mapping[str, torch.Tensor], rows: int, where: str
) -> np.ndarray:
    """Rewards ``[rows, A]`` float64 from the ``reward`` prediction, checked to be finite."""
    return _finite(contract, decoded, "reward", rows, where)


def predicted_terminations(
    contract: IOContract,
    decoded: Mapping[str, torch.Tensor],
    rows: int,
    threshold: float,
    where: str,
) -> np.ndarray:
    """Terminations ``[rows, A]``: where the ``continue`` probability is below ``threshold``.

    A NaN or infinite probability is refused rather than read as "not terminated".
    """
    continues = _finite(contract, decoded, "continue", rows, where)
    return np.array(continues < threshold, dtype=np.bool_)
