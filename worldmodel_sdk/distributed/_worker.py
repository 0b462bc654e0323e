"""The rollout worker: one process (a Ray actor) serving one loaded model.

The worker receives the saved model as bytes (``config.json`` and the safetensors
weights), writes them to a private temporary directory only long enough for
`load_pretrained` to check and load them, and serves rollouts with
``async_rollout``, so concurrent requests on one worker are coalesced into
batches. Results and errors go back as plain data: envelopes, or the error's
type name and message, never pickled exceptions or tensors.
"""

from __future__ import annotations

import builtins
import importlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import errors
from ..persistence import CONFIG_NAME, WEIGHTS_NAME
from ..registry import load_pretrained
from ._codec import decode_request, encode_trajectory

__all__ = ["RolloutWorker", "error_from_record", "error_record"]


def error_record(exc: BaseException) -> dict[str, str]:
    """What crosses back for a failed request: the error's type name and message."""
    return {"type": type(exc).__name__, "message": str(exc)}


def error_from_record(record: dict[str, str], fallback: type[Exception]) -> Exception:
    """Rebuild an error of the SDK's tree or a builtin type; anything else as ``fallback``."""
    name, message = record.get("type", ""), record.get("message", "")
    cls = getattr(errors, name, None) if name in errors.__all__ else None
    if cls is None:
        candidate = getattr(builtins, name, None)
        if isinstance(candidate, type) and issubclass(candidate, Exception):
            cls = candidate
    if cls is None:
        return fallback(f"worker raised {name}: {message}")
    return cls(message)


class RolloutWorker:
    """Loads a saved model from bytes and serves rollouts (used as a Ray actor)."""

    def __init__(
        self,
        config: bytes,
        weights: np.ndarray,
        imports: Sequence[str],
        threads: int,
        batching: bool,
    ) -> None:
        torch.set_num_threads(threads)
        for module in imports:
            importlib.import_module(module)
        with tempfile.TemporaryDirectory(prefix="wmsdk-worker-") as directory:
            Path(directory, CONFIG_NAME).write_bytes(config)
            Path(directory, WEIGHTS_NAME).write_bytes(weights.data)
            self.model = load_pretrained(directory)
        # Served models answer requests; they are never trained here.
        self.model.eval()
        self.batching = batching

    def pid(self) -> int:
        """This worker's process id (for operators and tests)."""
        return os.getpid()

    async def rollout(self, request: np.ndarray, deterministic: bool, mode: str) -> tuple[str, Any]:
        """Serve one rollout; returns ``("ok", envelope)`` or ``("error", record)``."""
        try:
            state, actions, conditions = decode_request(request)
            with torch.no_grad():
                if self.batching:
                    trajectory = await self.model.async_rollout(
                        state, actions, conditions, deterministic, mode
                    )
                else:
                    trajectory = self.model.rollout(state, actions, conditions, deterministic, mode)
            return "ok", encode_trajectory(trajectory)
        except Exception as exc:  # delivered to the caller as its type and message
            return "error", error_record(exc)
