"""Row helpers shared by the model envs: replace rows of a batch state, check predictions."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from ..capabilities import disagreement_key
from ..errors import ContractError
from ..payloads.state import State

__all__ = ["ModelDraws", "finite", "per_row", "positive_int", "rows_of", "spreads"]


class ModelDraws:
    """The torch random stream an env's model samples from once the env is seeded.

    Until ``seed`` is called the model draws from torch's global CPU generator, as
    any torch code does. After ``seed(n)`` it draws from a stream of its own started
    from ``n`` (the global generator is left as it was), so ``reset(seed=n)`` repeats a
    stochastic model's episodes exactly. The draws of a model call count only once the
    env commits its step (`commit`): a refused step leaves the stream where it was.
    Only the CPU generator is swapped (a model on an accelerator draws from that
    device's generator), and only while the env's model runs, one env at a time: torch
    code in other threads meanwhile draws from the same generator.
    """

    __slots__ = ("_pending", "_state")

    def __init__(self) -> None:
        self._state: torch.Tensor | None = None
        self._pending: torch.Tensor | None = None

    def seed(self, seed: int) -> None:
        """Start the stream from ``seed`` (any non-negative int, as NumPy takes)."""
        (word,) = np.random.SeedSequence(seed).generate_state(1, np.uint64)
        self._state = torch.Generator().manual_seed(int(word)).get_state()
        self._pending = None

    @contextmanager
    def active(self) -> Iterator[None]:
        """Model calls inside draw from the stream (and, as in every env, build no graph)."""
        with torch.no_grad():
            if self._state is None:
                yield
                return
            with _SWAP:
                outer = torch.get_rng_state()
                torch.set_rng_state(self._state)
                try:
                    yield
                    self._pending = torch.get_rng_state()
                finally:
                    torch.set_rng_state(outer)

    def commit(self) -> None:
        """Keep the draws of the last model calls (the env has committed their step)."""
        if self._pending is not None:
            self._state, self._pending = self._pending, None


_SWAP = threading.Lock()
"""Held while an env's stream stands in for torch's generator: one env at a time."""


def positive_int(where: str, name: str, value: object) -> int:
    """``value`` as a count or step limit: an int >= 1, else a ContractError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ContractError(f"{name} must be an int >= 1; got {value!r} [{where}]")
    return int(value)


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


def per_row(where: str, source: str, value: object, rows: int, dtype: type) -> np.ndarray:
    """What a reward or done function returned, as ``[rows]`` (a scalar stands for all).

    Raises:
        ContractError: ``value`` is not numbers, has another shape than ``()`` or
            ``(rows,)``, or holds NaN or inf; the message names ``source``.
    """
    try:
        array: np.ndarray = np.asarray(value, dtype)
    except (TypeError, ValueError):
        raise ContractError(
            f"{source} returned {type(value).__name__} {value!r:.60}; expected numbers, one "
            f"per row ({rows},) or a scalar [{where}]"
        ) from None
    if array.shape not in ((), (rows,)):
        raise ContractError(
            f"{source} returned shape {array.shape}; expected ({rows},), one value per row, "
            f"or a scalar [{where}]"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ContractError(f"{source} returned NaN or inf [{where}]")
    out: np.ndarray = np.broadcast_to(array, (rows,)).copy()
    return out


def spreads(
    where: str, decoded: Mapping[str, torch.Tensor], names: Sequence[str], rows: int
) -> dict[str, np.ndarray]:
    """Per prediction name: the disagreement ``[rows]`` on it, the mean over its entries.

    For a model that declares ``epistemic_uncertainty``; computed before an env commits
    a step, so that a model breaking its declaration changes nothing.

    Raises:
        ContractError: a disagreement prediction is missing or is NaN or inf.
    """
    found: dict[str, np.ndarray] = {}
    for name in names:
        key = disagreement_key(name)
        if key not in decoded:
            raise ContractError(
                f"the model declares epistemic_uncertainty but decode returned no {key!r}; "
                f"got {sorted(decoded)} [{where}]"
            )
        spread = decoded[key].reshape(rows, -1).mean(-1).numpy().astype(np.float64)
        found[name] = finite(where, repr(key), spread)
    return found
