"""Request batching for the async twins: one compute worker per model and event loop.

Async callers validate their inputs in the event loop, then enqueue a request
with a *compatibility key*. A single worker thread per (model, loop) takes the
oldest request and every waiting request with an equal key (up to
``max_batch_size`` rows), concatenates them along ``B``, makes one call and
splits the result back. Requests made in one event-loop iteration (an
``asyncio.gather``) are all queued before the worker looks; a lone request then
waits at most ``window`` seconds for company, and a batch runs as soon as it has
some. The worker thread exists only while requests are waiting or running, and
for one window after.

Keys never match (so a request runs alone) when the model is in train mode, when
grad is enabled (coalesced callers would share one autograd graph), when its
class sets ``batch_independent = False``, or when its inputs cannot be
concatenated along ``B``. The caller's grad mode applies while its request runs.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import torch

from ._coalesce import UNBATCHABLE

if TYPE_CHECKING:
    from .model import WorldModel

__all__ = ["BatchSettings", "Failed", "Job", "submit"]

_P = TypeVar("_P")
_R = TypeVar("_R")


@final
@dataclass(frozen=True, slots=True)
class BatchSettings:
    """How a model's concurrent async calls are coalesced.

    Attributes:
        max_batch_size: Most rows (summed ``B``) in one coalesced call. A single
            request larger than this still runs, alone.
        window: Seconds a request that finds the worker idle waits for others to
            join it (the added latency of a lone request is at most this). Requests
            that arrive while a batch runs wait for that batch instead.

    Example:
        >>> model.batching = BatchSettings(max_batch_size=64, window=0.0005)
    """

    max_batch_size: int = 256
    window: float = 0.001

    def __post_init__(self) -> None:
        if isinstance(self.max_batch_size, bool) or not isinstance(self.max_batch_size, int):
            raise TypeError(f"max_batch_size must be an int; got {self.max_batch_size!r}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1; got {self.max_batch_size}")
        if not 0.0 <= self.window <= 1.0:
            raise ValueError(f"window must be in [0, 1] seconds; got {self.window!r}")


@final
@dataclass(frozen=True, slots=True)
class Failed:
    """A result slot holding the error of one request of a batch that ran for the others."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class Job(Generic[_P, _R]):
    """One kind of batchable call: how to run many payloads at once.

    ``run(payloads, sizes)`` gets the payloads of one batch (all with equal keys)
    and their row counts, and returns one result per payload, in order: a `Failed`
    in place of a result raises its error in that caller only.
    """

    name: str
    run: Callable[[Sequence[_P], Sequence[int]], Sequence[_R | Failed]]


@dataclass(slots=True, eq=False)
class _Request:
    job: Job[Any, Any]
    key: Hashable
    size: int
    payload: Any
    future: asyncio.Future[Any]
    grad: bool
    arrived: float = field(default_factory=time.monotonic)


def _settle(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if type(result) is Failed:
            future.set_exception(result.error)
        else:
            future.set_result(result)


def _worker_threads() -> int:
    """Torch threads for a compute thread: the caller's count, leaving the loop a CPU.

    The event loop thread runs beside the compute thread; torch helper threads that
    take every CPU make the two compete, which on a small machine costs more than the
    extra helper thread gains (see docs/batching.md).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cpus - 1))


class _Batcher:
    """The queue and worker thread of one model on one event loop."""

    def __init__(self, settings: BatchSettings) -> None:
        # No reference to the loop: the batcher is held weakly by its loop's entry, and
        # each request's future knows its loop.
        self.settings = settings
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._rows: dict[Hashable, int] = {}
        self._thread: threading.Thread | None = None
        self._waking = False

    def put(self, request: _Request) -> None:
        """Queue a request; the worker is woken once the loop's current iteration ends."""
        with self._cond:
            self._pending.append(request)
            self._rows[request.key] = self._rows.get(request.key, 0) + request.size
            wake, self._waking = not self._waking, True
        if wake:
            # Every task that is ready now runs before this callback: requests made in
            # one iteration (an asyncio.gather, say) are all queued when the worker looks.
            request.future.get_loop().call_soon(self._wake)

    def _wake(self) -> None:
        with self._cond:
            self._waking = False
            if self._thread is None:
                if not self._pending:
                    return
                # OpenMP's thread count is per thread: the worker takes the loop thread's
                # torch.get_num_threads(), less the CPU the event loop itself needs.
                # Not a daemon: a worker still idling its window when the interpreter
                # exits would be torn down mid-wait, which aborts the process in torch's
                # thread-local cleanup. Exit waits for it instead, at most one window.
                self._thread = threading.Thread(
                    target=self._work,
                    args=(_worker_threads(),),
                    name="wmsdk-batcher",
                )
                self._thread.start()
            else:
                self._cond.notify()

    def withdraw(self, request: _Request) -> None:
        """Drop a request that no worker has taken yet (its caller was cancelled)."""
        with self._cond:
            try:
                self._pending.remove(request)
            except ValueError:
                return
            self._forget(request)

    def _forget(self, request: _Request) -> None:
        left = self._rows[request.key] - request.size
        if left:
            self._rows[request.key] = left
        else:
            del self._rows[request.key]

    def _work(self, threads: int) -> None:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        while True:
            with self._cond:
                batch = self._next_batch()
                if not batch:
                    self._thread = None
                    return
            self._execute(batch)
            del batch  # the requests hold their loop: keep none of them while idle

    def _next_batch(self) -> list[_Request]:
        """Take the oldest request's batch once it has company or its window ends (lock held).

        Nothing is taken while the loop is still queueing the requests of an iteration
        (it wakes the worker when it is done, or has queued nothing for a window). The
        window then only keeps a lone request waiting for a first companion: once others
        of its key wait too, the batch runs, and later arrivals gather while it runs. An
        idle worker stays for one window, so that bursts do not each start a thread.
        """
        limit, window = self.settings.max_batch_size, self.settings.window
        if not self._pending:
            self._cond.wait(window)
        while self._pending:
            first = self._pending[0]
            rows = self._rows[first.key]
            if rows >= limit:
                break
            if self._waking:
                # The loop is still queueing this iteration's requests and wakes us after;
                # a loop that has queued nothing for a window (stopped, closed) is not awaited.
                quiet = self._pending[-1].arrived + window - time.monotonic()
                if quiet > 0:
                    self._cond.wait(quiet)
                    continue
            left = first.arrived + window - time.monotonic()
            if left <= 0 or rows > first.size:
                break
            self._cond.wait(left)
        if not self._pending:
            return []
        batch: list[_Request] = []
        rows, keep = 0, deque[_Request]()
        for request in self._pending:
            if request.future.cancelled():  # its caller is gone and withdraws it soon
                self._forget(request)
            elif not batch or (request.key == batch[0].key and rows + request.size <= limit):
                batch.append(request)
                rows += request.size
                self._forget(request)
            else:
                keep.append(request)
        self._pending = keep
        return batch

    def _execute(self, batch: list[_Request]) -> None:
        first = batch[0]
        pairs: list[tuple[asyncio.Future[Any], Any]]
        try:
            # Requests share a batch only with grad disabled; a lone one keeps its own mode.
            with torch.set_grad_enabled(first.grad):
                results = first.job.run([r.payload for r in batch], [r.size for r in batch])
        except Exception as error:  # noqa: BLE001 - delivered to this batch's callers
            failed = Failed(error)
            pairs = [(r.future, failed) for r in batch]
        else:
            pairs = [(r.future, result) for r, result in zip(batch, results, strict=True)]
        try:
            batch[0].future.get_loop().call_soon_threadsafe(_settle, pairs)
        except RuntimeError:  # the loop closed while the batch ran: nobody is waiting
            pass


_BATCHERS: weakref.WeakKeyDictionary[
    WorldModel, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher]
] = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def _batcher(model: WorldModel, loop: asyncio.AbstractEventLoop) -> _Batcher:
    per_loop = _BATCHERS.get(model)
    batcher = None if per_loop is None else per_loop.get(loop)
    if batcher is not None and batcher.settings is model.batching:
        return batcher
    with _BATCHERS_LOCK:
        per_loop = _BATCHERS.get(model)
        if per_loop is None:
            per_loop = _BATCHERS[model] = weakref.WeakKeyDictionary()
        batcher = per_loop.get(loop)
        if batcher is None or batcher.settings != model.batching:
            batcher = per_loop[loop] = _Batcher(model.batching)
        return batcher


def _key(model: WorldModel, key: Hashable, grad: bool) -> Hashable:
    """The request's key; unbatchable in train mode, with grad enabled, or when opted out.

    With grad enabled, callers sharing a batch would share one autograd graph: the
    first ``backward()`` would free what the others still need.
    """
    if model.training or grad or not type(model).batch_independent:
        return UNBATCHABLE()
    return key


async def submit(model: WorldModel, job: Job[_P, _R], key: Hashable, size: int, payload: _P) -> _R:
    """Run ``payload`` on the model's worker, coalesced with compatible waiting requests.

    The caller's grad mode applies while its request runs.
    Cancelling the caller removes its request if no batch has taken it yet.
    """
    loop = asyncio.get_running_loop()
    batcher = _batcher(model, loop)
    grad = torch.is_grad_enabled()
    request = _Request(
        job=job,
        key=(job.name, _key(model, key, grad)),
        size=size,
        payload=payload,
        future=loop.create_future(),
        grad=grad,
    )
    batcher.put(request)
    try:
        return await request.future  # type: ignore[no-any-return]
    except asyncio.CancelledError:
        batcher.withdraw(request)
        raise
