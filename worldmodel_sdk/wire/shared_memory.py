"""Publish a `State` in POSIX shared memory and attach to it from other processes.

One state is one segment holding one envelope (the same bytes `State.serialize`
returns). The owner writes it with ``writev`` calls, never mapping a fresh
segment (the kernel fills its pages as it copies), hashing each piece just
written while it is in cache; attachers map it privately (copy-on-write) and get
zero-copy tensor views, so an attacher's in-place writes never reach the owner
or other attachers.

Lifetime rules:

* the owner unlinks the segment (`unlink_descriptor`, ``close_state(unlink=True)``
  or the `shared_state` context manager); segments the owner forgot are unlinked
  when its interpreter exits normally, and ``wmsdk shm gc`` removes those left by
  killed processes (their names carry the owner pid);
* unlinking removes the name only: states already attached stay valid;
* closing an attached state releases the SDK's handle; the mapping itself is
  freed when the last tensor viewing it is garbage-collected, so a closed state's
  tensors never dangle.

Example:
    >>> with shared_state(state) as descriptor:          # doctest: +SKIP
    ...     send(descriptor.model_dump_json())            # another process attaches
"""

from __future__ import annotations

import atexit
import mmap
import os
import struct
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import final

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import SerializationError
from ..payloads.state import State
from ._encode import Plan, encode_into, encode_to_fd, prepare_state
from ._segments import create_segment, open_segment, unlink_segment
from ._writers import release_all, release_writer, writer_for
from .envelope import deserialize_state

__all__ = [
    "SharedStateDescriptor",
    "SharedStateHandle",
    "attach_state",
    "attached_state",
    "close_state",
    "publish_state",
    "shared_state",
    "state_handle",
    "unlink_descriptor",
]

_CHECKSUM = struct.Struct("<Q")
_MIN_CHECKED_SIZE = 64 + 8  # preamble + "{}"-sized header padded to 64, then the checksum
_MAX_REPORTED_ERRORS = 5  # problems named when descriptor JSON is rejected
_MAX_FIELD_CHARS = 40  # of each field name quoted in that message
_OWNED: dict[str, int] = {}  # segments this process created and has not unlinked -> creator pid
_FINALIZED_PID = 0  # the process whose multiprocessing exit hook unlinks its segments
# The wire package, not State, holds each state's link to its segment: id(state) ->
# (weak reference to the state, handle). The entry goes when the state does.
_HANDLES: dict[int, tuple[weakref.ref[State], SharedStateHandle]] = {}


class SharedStateDescriptor(BaseModel):
    """Where a published state lives: small, JSON-able, safe to send to another process.

    Attributes:
        name: segment name, ``<namespace>.<owner pid>.<8 hex digits>``.
        size: envelope size in bytes.
        checksum: the envelope's XXH3-64 as 16 hex digits, or None if published without one.
        owner_pid: the publishing process.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}\.[0-9]{1,10}\.[0-9a-f]{8}$")
    size: int = Field(gt=0)
    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    owner_pid: int = Field(ge=0)


@final
class SharedStateHandle:
    """A state's link to its segment: owners may unlink, attachers hold the mapping.

    Usable as a context manager: leaving it closes the handle and, for owners,
    unlinks the segment.
    """

    __slots__ = ("_mapping", "descriptor", "owner")

    def __init__(
        self, descriptor: SharedStateDescriptor, *, owner: bool, mapping: mmap.mmap | None = None
    ) -> None:
        self.descriptor = descriptor
        self.owner = owner
        self._mapping = mapping

    @property
    def closed(self) -> bool:
        """Whether this handle no longer holds a mapping (owners never hold one)."""
        return self._mapping is None

    def close(self, *, unlink: bool = False) -> None:
        """Release the mapping (deferred while tensors still view it); unlink if asked."""
        mapping, self._mapping = self._mapping, None
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                pass  # live tensors still view it; it unmaps when the last one goes
        if unlink:
            unlink_descriptor(self.descriptor)

    def __enter__(self) -> SharedStateHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(unlink=self.owner)

    def __repr__(self) -> str:
        role = "owner" if self.owner else "attached"
        return f"SharedStateHandle({self.descriptor.name!r}, {role})"


def state_handle(state: State) -> SharedStateHandle | None:
    """The shared-memory handle of ``state``: set by publishing or attaching, else None."""
    entry = _HANDLES.get(id(state))
    if entry is None or entry[0]() is not state:
        return None
    return entry[1]


def _set_handle(state: State, handle: SharedStateHandle | None) -> None:
    key = id(state)
    if handle is None:
        _HANDLES.pop(key, None)
        return

    def forget(ref: weakref.ref[State]) -> None:
        entry = _HANDLES.get(key)
        if entry is not None and entry[0] is ref:
            del _HANDLES[key]

    _HANDLES[key] = (weakref.ref(state, forget), handle)


def _check_devices(state: State, allow_copy_from_cuda: bool) -> None:
    if allow_copy_from_cuda or not isinstance(state.tensors, dict):
        return
    for key, value in state.tensors.items():
        if isinstance(value, torch.Tensor) and not value.is_cpu:
            raise SerializationError(
                f"State[{key!r}] is on {value.device}; shared memory holds CPU bytes. "
                "Pass allow_copy_from_cuda=True to copy it, or move the state to CPU first"
            )


def _check_not_published(state: State, reuse: SharedStateDescriptor | None) -> None:
    handle = state_handle(state)
    if handle is None or not handle.owner:
        return
    name = handle.descriptor.name
    if reuse is not None and reuse.name == name:
        return
    if _OWNED.get(name) == os.getpid():
        raise SerializationError(
            f"this state already owns shared-memory segment {name!r}; publishing it again "
            "would orphan that segment. Reuse its descriptor, or call "
            "close_shared_memory(unlink=True) first"
        )


def publish_state(
    state: State,
    *,
    namespace: str = "wmsdk-state",
    allow_copy_from_cuda: bool = False,
    checksum: bool = True,
    reuse: SharedStateDescriptor | None = None,
) -> SharedStateDescriptor:
    """Copy ``state`` into shared memory and return its descriptor.

    Without ``reuse`` a new segment is created. With ``reuse`` — a descriptor this
    process published and has not unlinked — the state is written into that
    segment instead (grown if it is too small): a steady stream of states then
    costs one copy each, not a fresh zero-filled segment each. Reuse a segment only
    once its consumers have closed the states they attached from it: their views
    would see the new bytes. An attacher holding the old descriptor is refused by
    the checksum comparison at attach (when the states carry checksums). A reused
    segment is still one segment: unlinking it through any of its descriptors ends it.

    The state remembers the segment as its owner handle, so
    ``state.close_shared_memory(unlink=True)`` removes it. A state owns at most one
    segment: to publish it into another, unlink the previous one first.

    Raises:
        SerializationError: ``state`` already owns another segment that is not
            unlinked, ``reuse`` names a segment this process does not own, a tensor is
            on an accelerator (unless allowed), or a tensor cannot be encoded.
        ValueError: ``namespace`` is not 1-64 characters of ``[A-Za-z0-9_-]``.
    """
    _check_not_published(state, reuse)
    _check_devices(state, allow_copy_from_cuda)
    plan, prepared = prepare_state(state, checksum)
    if reuse is None:
        name, digest = _publish_fresh(namespace, plan, prepared)
    else:
        name = _check_reusable(reuse)
        writer = writer_for(name, plan.total)
        digest = encode_into(plan, prepared, writer.address, writer.view)
    # Every field is made here to the descriptor's rules: no validation pass needed.
    descriptor = SharedStateDescriptor.model_construct(
        name=name,
        size=plan.total,
        checksum=None if digest is None else f"{digest:016x}",
        owner_pid=os.getpid(),
    )
    previous = state_handle(state)
    if previous is not None and not previous.owner:
        previous.close()
    _set_handle(state, SharedStateHandle(descriptor, owner=True))
    return descriptor


def _publish_fresh(
    namespace: str, plan: Plan, prepared: list[torch.Tensor]
) -> tuple[str, int | None]:
    name, fd = create_segment(namespace, plan.total)
    try:
        digest = encode_to_fd(plan, prepared, fd)
    except BaseException:
        unlink_segment(name, missing_ok=True)
        raise
    finally:
        os.close(fd)
    _own(name)
    return name, digest


def _check_reusable(descriptor: SharedStateDescriptor) -> str:
    name = descriptor.name
    if _OWNED.get(name) != os.getpid():
        raise SerializationError(
            f"cannot reuse shared-memory segment {name!r}: this process did not publish it, "
            "or it is unlinked"
        )
    return name


def attach_state(
    descriptor: SharedStateDescriptor | str, *, copy: bool = False, verify: bool = False
) -> State:
    """Map a published state; its tensors are zero-copy views of the segment.

    Attaching is O(1) in the state size: bounds, dtypes and shapes are always
    checked, and so is the checksum the descriptor names against the one stored in
    the segment (8 bytes), which catches a stale descriptor or a rewritten segment.

    Args:
        descriptor: the descriptor, or its JSON.
        copy: copy the tensors out and release the mapping at once.
        verify: also hash the segment and check its padding (reads every page).

    Raises:
        SerializationError: the descriptor JSON is malformed, or the segment is missing,
            has another size or checksum than the descriptor says, or is not a valid
            envelope.
    """
    if isinstance(descriptor, str):
        descriptor = _parse_descriptor(descriptor)
    mapping = open_segment(descriptor.name, descriptor.size)
    view = memoryview(mapping)
    try:
        _check_stored_checksum(view, descriptor)
        state = deserialize_state(view, copy=copy, verify=verify)
    except BaseException:
        _release(view, mapping)
        raise
    if copy:
        _release(view, mapping)
    else:
        _set_handle(state, SharedStateHandle(descriptor, owner=False, mapping=mapping))
    return state


def _parse_descriptor(text: str) -> SharedStateDescriptor:
    try:
        return SharedStateDescriptor.model_validate_json(text)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = [_describe(e["loc"], e["msg"]) for e in errors[:_MAX_REPORTED_ERRORS]]
        if len(errors) > _MAX_REPORTED_ERRORS:
            problems.append(f"and {len(errors) - _MAX_REPORTED_ERRORS} more problems")
        raise SerializationError(
            f"invalid shared-state descriptor: {'; '.join(problems)}"
        ) from None


def _describe(loc: tuple[int | str, ...], msg: str) -> str:
    if not loc:
        return msg
    # Field names may come from hostile JSON (as unknown keys): keep them short.
    where = ".".join(str(part)[:_MAX_FIELD_CHARS] for part in loc)
    return f"field {where!r}: {msg}"


def _release(view: memoryview, mapping: mmap.mmap) -> None:
    view.release()
    try:
        mapping.close()
    except BufferError:
        pass  # views made before a failure may still be referenced by the traceback


def _check_stored_checksum(view: memoryview, descriptor: SharedStateDescriptor) -> None:
    if descriptor.checksum is None:
        return
    if descriptor.size < _MIN_CHECKED_SIZE:
        raise SerializationError(
            f"descriptor size {descriptor.size} is smaller than any checksummed envelope "
            f"({_MIN_CHECKED_SIZE} bytes)"
        )
    (stored,) = _CHECKSUM.unpack_from(view, descriptor.size - 8)
    if stored != int(descriptor.checksum, 16):
        raise SerializationError(
            f"shared-memory segment {descriptor.name!r} holds checksum {stored:016x}; "
            f"the descriptor expects {descriptor.checksum}"
        )


def close_state(state: State, *, unlink: bool = False) -> None:
    """Release ``state``'s shared-memory handle (a no-op if it has none)."""
    handle = state_handle(state)
    _set_handle(state, None)
    if handle is not None:
        handle.close(unlink=unlink)


def unlink_descriptor(descriptor: SharedStateDescriptor) -> None:
    """Remove the segment's name (idempotent); attached states stay valid."""
    _OWNED.pop(descriptor.name, None)
    release_writer(descriptor.name)
    unlink_segment(descriptor.name, missing_ok=True)


@contextmanager
def shared_state(
    state: State,
    *,
    namespace: str = "wmsdk-state",
    allow_copy_from_cuda: bool = False,
    checksum: bool = True,
) -> Iterator[SharedStateDescriptor]:
    """Publish ``state`` for the duration of a ``with`` block, then unlink it."""
    descriptor = publish_state(
        state, namespace=namespace, allow_copy_from_cuda=allow_copy_from_cuda, checksum=checksum
    )
    try:
        yield descriptor
    finally:
        handle = state_handle(state)
        if handle is not None and handle.descriptor == descriptor:
            _set_handle(state, None)
        unlink_descriptor(descriptor)


@contextmanager
def attached_state(
    descriptor: SharedStateDescriptor | str, *, copy: bool = False, verify: bool = False
) -> Iterator[State]:
    """Attach a published state for the duration of a ``with`` block, then close it."""
    state = attach_state(descriptor, copy=copy, verify=verify)
    try:
        yield state
    finally:
        close_state(state)


def _own(name: str) -> None:
    """Record a segment this process made, so its exit unlinks it.

    A child started by `multiprocessing` with ``fork`` leaves through ``os._exit``,
    which skips ``atexit``; multiprocessing's own exit hook still runs there, so the
    first segment a forked process publishes registers `_unlink_owned` with it too.
    """
    global _FINALIZED_PID
    pid = os.getpid()
    _OWNED[name] = pid
    if _FINALIZED_PID != pid:
        from multiprocessing import util

        util.Finalize(None, _unlink_owned, exitpriority=0)
        _FINALIZED_PID = pid


@atexit.register
def _unlink_owned() -> None:
    release_all()
    pid = os.getpid()
    for name, creator in list(_OWNED.items()):
        if creator == pid:  # a forked child must not remove its parent's segments
            unlink_segment(name, missing_ok=True)
    _OWNED.clear()
