"""`RolloutPool`: rollouts of one saved model served by a pool of Ray actors.

The model crosses once, as the bytes of its saved directory put in Ray's object
store; every worker loads it with `load_pretrained` (all of its checks apply).
Requests and trajectories cross as wire-format envelopes. The pool routes each
request to the worker with the least outstanding work, bounds the requests in
flight per worker (backpressure), and replaces a worker that dies, retrying
its requests elsewhere up to ``max_retries`` times.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_tensors

from ..errors import DistributedError, SerializationError
from ..payloads.condition import ConditionPayload
from ..payloads.state import State
from ..payloads.trajectory import Trajectory
from ..persistence import CONFIG_NAME, WEIGHTS_NAME, read_config
from ..rollout import MODES
from ._codec import ActionSequence, decode_trajectory, encode_request
from ._worker import POLICY_REFERENCE, RolloutWorker, error_from_record

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "worldmodel_sdk.distributed needs Ray: pip install 'worldmodel-sdk[distributed]'"
    ) from exc

__all__ = ["RolloutPool"]

_MAX_MODEL_BYTES = 1 << 34
_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_INLINE_BYTES = 64 * 1024


@dataclass(slots=True)
class _Slot:
    """One worker position: the live actor, its outstanding requests, its generation."""

    index: int
    handle: Any
    outstanding: int = 0
    generation: int = 0


class RolloutPool:
    """Serve ``rollout`` of a saved model from ``num_workers`` Ray actors.

    Args:
        model_dir: A directory written by `WorldModel.save_pretrained`.
        num_workers: Number of worker actors (each loads the model once).
        address: ``None`` joins the Ray of this process if one is running, else
            starts a local one bound to 127.0.0.1 (stopped again by `close`);
            an address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``)
            joins an existing cluster.
        batching: Coalesce concurrent requests on each worker (``async_rollout``);
            ``False`` serves one request at a time per worker.
        max_in_flight: Requests in flight per worker; further requests wait in
            the caller's process until a worker has room.
        max_retries: How often a request is retried on another worker after the
            worker serving it died.
        imports: Modules each worker imports before loading (for models that
            register themselves on import rather than through an entry point).
        worker_cpus: CPUs Ray reserves for each worker.
        worker_threads: torch threads inside each worker.
        start_timeout: Seconds to wait for the workers to load the model.
        ray_options: Extra keyword arguments for ``ray.init`` when the pool
            starts Ray itself (for example ``object_store_memory``).

    Raises:
        SerializationError: ``model_dir`` is not a loadable saved model.
        DistributedError: Ray could not be started or joined, or a worker could
            not load the model (the worker's error is in the message).

    Example:
        ```python
        async with RolloutPool("runs/jopm", num_workers=2) as pool:
            trajectory = await pool.rollout(state, actions, deterministic=True)
        ```
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        num_workers: int = 2,
        address: str | None = None,
        batching: bool = True,
        max_in_flight: int = 8,
        max_retries: int = 2,
        imports: Sequence[str] = (),
        worker_cpus: float = 1.0,
        worker_threads: int = 1,
        start_timeout: float = 120.0,
        ray_options: dict[str, Any] | None = None,
    ) -> None:
        _check_positive(num_workers=num_workers, max_in_flight=max_in_flight)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {max_retries}")
        config, weights = _read_model(Path(model_dir))
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self._closed = False
        self._owns_ray = False
        self._temp_dir: str | None = None
        self._condition: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_ray(address, ray_options or {})
        try:
            self._weights = ray.put(weights)
            self._actor = ray.remote(RolloutWorker).options(
                num_cpus=worker_cpus, max_concurrency=max(max_in_flight, 1) + 1
            )
            self._args = (config, self._weights, list(imports), worker_threads, batching)
            self._slots = [_Slot(i, self._actor.remote(*self._args)) for i in range(num_workers)]
            self._await_ready(self._slots, start_timeout)
        except BaseException:
            self.close()
            raise

    # -- lifecycle ------------------------------------------------------------------------

    def _start_ray(self, address: str | None, options: dict[str, Any]) -> None:
        if address is None and ray.is_initialized():
            return
        try:
            if address is None:
                self._temp_dir = tempfile.mkdtemp(prefix="wmsdk-ray-")
                settings: dict[str, Any] = {
                    "include_dashboard": False,
                    "_node_ip_address": "127.0.0.1",
                    "_temp_dir": self._temp_dir,
                    "log_to_driver": False,
                    "logging_level": "WARNING",
                    "configure_logging": False,
                }
                with _loopback_only():
                    ray.init(address="local", **{**settings, **options})
            else:
                ray.init(address=address, log_to_driver=False, **options)
        except Exception as exc:
            self._remove_temp_dir()
            where = "a local Ray on 127.0.0.1" if address is None else f"Ray at {address!r}"
            raise DistributedError(f"could not start or join {where}: {exc}") from exc
        self._owns_ray = True

    def _await_ready(self, slots: Sequence[_Slot], timeout: float) -> None:
        try:
            ray.get([s.handle.pid.remote() for s in slots], timeout=timeout)
        except GetTimeoutError:
            raise DistributedError(
                f"workers did not load the model within {timeout} s; raise start_timeout or "
                "check the cluster's free CPUs"
            ) from None
        except RayActorError as exc:
            raise DistributedError(f"a worker could not load the model: {_reason(exc)}") from None

    def close(self) -> None:
        """Stop the workers, and Ray itself if this pool started it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if ray.is_initialized():  # else the Ray they lived in is gone, and they with it
            for slot in getattr(self, "_slots", []):
                ray.kill(slot.handle, no_restart=True)
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        self._remove_temp_dir()

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def aclose(self) -> None:
        """Async twin of `close`."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> RolloutPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> RolloutPool:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def workers(self) -> list[Any]:
        """The live actor handles, one per worker (``ray.kill`` one to test failover)."""
        return [slot.handle for slot in self._slots]

    @property
    def outstanding(self) -> list[int]:
        """Requests in flight per worker."""
        return [slot.outstanding for slot in self._slots]

    # -- requests -------------------------------------------------------------------------

    async def rollout(
        self,
        initial_state: State,
        action_sequence: ActionSequence,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Trajectory:
        """`WorldModel.rollout` on a worker: same arguments, same result.

        Raises:
            ContractError, CapabilityError, ...: what the model raised, with its
                original type and message.
            DistributedError: the pool is closed, or every attempt's worker died.
        """
        if self._closed:
            raise DistributedError("RolloutPool is closed; create a new pool")
        if mode not in MODES:
            raise ValueError(f"unknown rollout mode {mode!r}; expected one of {MODES}")
        request = _ship(encode_request(initial_state, action_sequence, conditions))
        return await self._submit("rollout", request, bool(deterministic), mode)

    async def imagine(
        self,
        initial_state: State,
        policy: str,
        horizon: int,
        *,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
        policy_weights: Mapping[str, torch.Tensor] | None = None,
    ) -> Trajectory:
        """`WorldModel.imagine` on a worker, with a policy the workers build themselves.

        A policy is code, and code does not cross the pool pickled: ``policy``
        names a zero-argument factory importable on every worker,
        ``"package.module:make_policy"``, and ``policy_weights`` (a state dict,
        shipped as safetensors bytes) are loaded into what it returns, so a
        training loop can send its current actor's weights with each request.
        Workers keep the last few policies built, keyed by reference and weights.

        Raises:
            ValueError: ``policy`` is not a ``"module:factory"`` reference.
            DistributedError: a worker could not build the policy (the reason is in
                the message), the pool is closed, or every attempt's worker died.
        """
        if self._closed:
            raise DistributedError("RolloutPool is closed; create a new pool")
        if not isinstance(policy, str) or not POLICY_REFERENCE.match(policy):
            raise ValueError(
                "policy must name a factory importable on the workers, "
                f"'package.module:make_policy'; got {policy!r}"
            )
        if mode not in MODES:
            raise ValueError(f"unknown rollout mode {mode!r}; expected one of {MODES}")
        request = _ship(encode_request(initial_state, None, conditions))
        weights = None
        if policy_weights is not None:
            blob = save_tensors({k: v.detach().contiguous() for k, v in policy_weights.items()})
            weights = ray.put(np.frombuffer(blob, dtype=np.uint8))
        return await self._submit(
            "imagine", request, policy, weights, int(horizon), bool(deterministic), mode
        )

    async def _submit(self, method: str, request: Any, *args: Any) -> Trajectory:
        failures: list[str] = []
        for _ in range(self.max_retries + 1):
            slot = await self._acquire()
            generation, handle = slot.generation, slot.handle
            ref = getattr(handle, method).remote(request, *args)
            try:
                status, body = await ref
            except asyncio.CancelledError:
                ray.cancel(ref)
                raise
            except RayActorError as exc:
                failures.append(f"worker {slot.index}: {_reason(exc)}")
                self._replace(slot, generation)
                continue
            finally:
                await self._release(slot)
            if status == "ok":
                return decode_trajectory(body)
            raise error_from_record(body, DistributedError)
        raise DistributedError(
            f"{method} failed on {len(failures)} worker(s) that died (max_retries="
            f"{self.max_retries}): {'; '.join(failures)}"
        )

    def _lock(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._condition is None or self._loop is not loop:
            self._condition, self._loop = asyncio.Condition(), loop
        return self._condition

    async def _acquire(self) -> _Slot:
        condition = self._lock()
        async with condition:
            while True:
                if self._closed:
                    raise DistributedError("RolloutPool was closed while the request waited")
                slot = min(self._slots, key=lambda s: (s.outstanding, s.index))
                if slot.outstanding < self.max_in_flight:
                    slot.outstanding += 1
                    return slot
                await condition.wait()

    async def _release(self, slot: _Slot) -> None:
        condition = self._lock()
        async with condition:
            slot.outstanding -= 1
            condition.notify()

    def _replace(self, slot: _Slot, generation: int) -> None:
        """Start a new worker in ``slot`` unless another failure already did."""
        if slot.generation != generation or self._closed:
            return
        slot.generation += 1
        ray.kill(slot.handle, no_restart=True)
        slot.handle = self._actor.remote(*self._args)


@contextmanager
def _loopback_only() -> Iterator[None]:
    """While a local Ray starts: advertise and bind 127.0.0.1, not the host's address.

    Ray replaces a loopback node address by the machine's reachable one unless
    its cluster mode is off; the setting is read by this process (a module
    constant) and by the processes Ray starts (the environment), so both are set
    for the start only and restored afterwards.
    """
    from ray._private import ray_constants

    saved_env = os.environ.get(_CLUSTER_ENV)
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(_CLUSTER_ENV, None)
        else:
            os.environ[_CLUSTER_ENV] = saved_env


def _ship(envelope: np.ndarray) -> Any:
    """A request as it is sent: small envelopes inline with the call, large ones put once.

    Ray copies a small argument into the call itself, which saves the object store's
    round trip; a large one goes to the store once and every retry reuses it.
    """
    return envelope if envelope.nbytes <= _INLINE_BYTES else ray.put(envelope)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")


def _read_model(directory: Path) -> tuple[bytes, np.ndarray]:
    """The saved model's config bytes (checked) and weights as one uint8 array."""
    read_config(directory)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise SerializationError(
            f"{weights} is missing or not a regular file; expected the weights written by "
            "save_pretrained"
        )
    size = weights.stat().st_size
    if size > _MAX_MODEL_BYTES:
        raise SerializationError(f"{weights} is {size} bytes; the pool ships at most 16 GiB")
    data = np.fromfile(weights, dtype=np.uint8)
    return (directory / CONFIG_NAME).read_bytes(), data


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
