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
import hashlib
import importlib
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors

from .. import errors
from ..batching import BatchSettings
from ..errors import DistributedError, SerializationError
from ..persistence import CONFIG_NAME, WEIGHTS_NAME
from ..registry import load_pretrained
from ._codec import decode_request, encode_trajectory

__all__ = ["POLICY_REFERENCE", "RolloutWorker", "error_from_record", "error_record"]

# "package.module:factory" - a zero-argument callable that returns the policy.
POLICY_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_POLICIES_KEPT = 4


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


def _serving() -> None:
    """Turn grad off on the thread running the worker's loop, and leave it off.

    A worker's loop does nothing but serve, so grad stays off there; a ``no_grad``
    block around an ``await`` would instead be unwound out of order by interleaved
    requests. With grad off, concurrent requests can share a batch.
    """
    torch.set_grad_enabled(False)


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
        if not batching:  # every request in a batch of its own, still off the actor's loop
            self.model.batching = BatchSettings(max_batch_size=1)
        self._policies: OrderedDict[tuple[str, str], Callable[..., Any]] = OrderedDict()

    def pid(self) -> int:
        """This worker's process id (for operators and tests)."""
        return os.getpid()

    async def rollout(self, request: np.ndarray, deterministic: bool, mode: str) -> tuple[str, Any]:
        """Serve one rollout; returns ``("ok", envelope)`` or ``("error", record)``."""
        try:
            state, actions, conditions = decode_request(request)
            if actions is None:
                raise SerializationError("a rollout request must carry an action sequence")
            _serving()
            trajectory = await self.model.async_rollout(
                state, actions, conditions, deterministic, mode
            )
            return "ok", encode_trajectory(trajectory)
        except Exception as exc:  # delivered to the caller as its type and message
            return "error", error_record(exc)

    async def imagine(
        self,
        request: np.ndarray,
        policy: str,
        weights: np.ndarray | None,
        horizon: int,
        deterministic: bool,
        mode: str,
    ) -> tuple[str, Any]:
        """Serve one imagination with the policy built from ``policy`` (and ``weights``)."""
        try:
            state, _, conditions = decode_request(request)
            act = self._policy(policy, weights)
            _serving()
            trajectory = await self.model.async_imagine(
                state, act, horizon, conditions=conditions, deterministic=deterministic, mode=mode
            )
            return "ok", encode_trajectory(trajectory)
        except Exception as exc:  # delivered to the caller as its type and message
            return "error", error_record(exc)

    def _policy(self, reference: str, weights: np.ndarray | None) -> Callable[..., Any]:
        """The policy ``reference`` names, with ``weights`` loaded; the last few are kept."""
        digest = "" if weights is None else hashlib.sha256(weights.data).hexdigest()
        key = (reference, digest)
        if key in self._policies:
            self._policies.move_to_end(key)
            return self._policies[key]
        module, _, name = reference.partition(":")
        try:
            target: Any = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
            policy = target()
        except Exception as exc:
            raise DistributedError(
                f"policy {reference!r} could not be built on a worker: {type(exc).__name__}: {exc}"
            ) from None
        if weights is not None:
            if not isinstance(policy, torch.nn.Module):
                raise DistributedError(
                    f"policy {reference!r} built a {type(policy).__name__}; policy_weights "
                    "need a torch.nn.Module"
                )
            policy.load_state_dict(load_tensors(weights.tobytes()))
        if isinstance(policy, torch.nn.Module):
            policy.eval()
        self._policies[key] = policy
        while len(self._policies) > _POLICIES_KEPT:
            self._policies.popitem(last=False)
        return policy  # type: ignore[no-any-return]
