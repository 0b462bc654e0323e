"""Callbacks `fit` calls while it trains: logging and extra stopping rules.

A callback sees every epoch's record (the ``history`` row: ``epoch``, ``train``,
``val``, ``monitor`` and the validation loss components as ``val_<name>``) and may
ask `fit` to stop by returning ``True`` from `Callback.on_epoch_end`.

Example:
    >>> fit(model, data, callbacks=[CSVLogger("fit.csv"), EarlyStopping("val_open_loop")])
"""

from __future__ import annotations

import csv
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import IO, final

from torch import nn

from .errors import ContractError

__all__ = ["CSVLogger", "Callback", "EarlyStopping"]


class Callback(ABC):
    """What `fit` calls: once at the start, after every epoch, once at the end."""

    def on_fit_start(self, model: nn.Module) -> None:  # noqa: B027 - optional hook
        """Called before the first epoch."""

    @abstractmethod
    def on_epoch_end(self, record: Mapping[str, float], model: nn.Module) -> bool:
        """Called after each epoch's validation; return ``True`` to stop training."""

    def on_fit_end(self, model: nn.Module) -> None:  # noqa: B027 - optional hook
        """Called after the last epoch, before the best weights are restored."""


@final
class CSVLogger(Callback):
    """Write one CSV row per epoch (the columns of the first record) to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None

    def on_fit_start(self, model: nn.Module) -> None:
        """Open (truncate) the file."""
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._writer = None

    def on_epoch_end(self, record: Mapping[str, float], model: nn.Module) -> bool:
        """Append the epoch's row; never stops training."""
        if self._file is None:
            self.on_fit_start(model)
        assert self._file is not None
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(record), restval="")
            self._writer.writeheader()
        self._writer.writerow({k: v for k, v in record.items() if k in self._writer.fieldnames})
        self._file.flush()
        return False

    def on_fit_end(self, model: nn.Module) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


@final
class EarlyStopping(Callback):
    """Stop when ``record[key]`` has not decreased by ``min_delta`` for ``patience`` epochs.

    Use it to stop on a quantity other than the one `fit` selects weights by, e.g.
    ``EarlyStopping("val_open_loop", patience=3)``.
    """

    def __init__(self, key: str, *, patience: int = 5, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ContractError(f"EarlyStopping: patience must be >= 1; got {patience}")
        self.key, self.patience, self.min_delta = key, patience, min_delta
        self.best, self.waited = math.inf, 0

    def on_fit_start(self, model: nn.Module) -> None:
        """Forget the previous fit."""
        self.best, self.waited = math.inf, 0

    def on_epoch_end(self, record: Mapping[str, float], model: nn.Module) -> bool:
        """Count epochs without improvement of ``record[key]``."""
        if self.key not in record:
            raise ContractError(
                f"EarlyStopping: {self.key!r} is not in the epoch record; available: "
                f"{sorted(record)}"
            )
        value = record[self.key]
        if value < self.best - self.min_delta:
            self.best, self.waited = value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience
