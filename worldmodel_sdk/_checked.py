"""Guard plumbing: the public call in progress, and the unguarded implementations.

Every public entry (a protocol call, ``loss``, ``rollout``, a ``validate_*``
method) opens one `Call` with `public_call`. Calls made inside it (a subclass
calling ``super().transition()``, ``loss`` validating its batch) join the open
call instead of starting their own, so a `ContractError` raised anywhere within
names the call the user made, once, and one set of symbolic axis sizes is bound
per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

from .errors import ContractError

__all__ = [
    "CALL",
    "INPUTS_CHECKED",
    "Call",
    "implementation",
    "inputs_checked",
    "public_call",
    "tagged",
    "unbound_implementation",
]


@dataclass(slots=True)
class Call:
    """The public call in progress: how errors name it, and the axis sizes bound so far.

    The bound sizes are shared by the checks of the call's own inputs (``checking``),
    so state, action and observation agree on ``B``. A ``validate_*`` call that the
    model's code makes later in the call binds its own: a loss may well validate
    ``[B * T]`` states after a ``[B, T]`` batch.
    """

    where: str
    bindings: dict[str, int] = field(default_factory=dict)
    checking: bool = False

    def input_bindings(self) -> dict[str, int]:
        """The sizes to bind a check against: the call's while it checks its inputs."""
        return self.bindings if self.checking else {}


CALL: ContextVar[Call | None] = ContextVar("wmsdk_call", default=None)

# Set while a guarded call runs (and during a prepared rollout): nested protocol calls,
# such as a subclass calling super().transition(), are not checked again.
INPUTS_CHECKED: ContextVar[bool] = ContextVar("wmsdk_inputs_checked", default=False)


def tagged(exc: ContractError, where: str) -> ContractError:
    """``exc`` with ``[where]`` appended to its message (same type), unless already there.

    Helpers that name the call themselves (numpy conversion) are not tagged twice.
    """
    tag = f" [{where}]"
    return exc if str(exc).endswith(tag) else type(exc)(f"{exc}{tag}")


class public_call:  # lower case: it reads as a function, ``with public_call(where):``
    """Open the public call ``where`` unless one is open already (then join it).

    The outermost call appends ``[where]`` to every `ContractError` raised within.
    A class rather than a generator: it runs on every public protocol call.
    """

    __slots__ = ("_token", "_where")

    def __init__(self, where: str) -> None:
        self._where = where
        self._token: Token[Call | None] | None = None

    def __enter__(self) -> Call:
        outer = CALL.get()
        if outer is not None:
            return outer
        call = Call(self._where)
        self._token = CALL.set(call)
        return call

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is None:
            return
        CALL.reset(self._token)
        self._token = None
        if isinstance(exc, ContractError):
            raise tagged(exc, self._where) from None


@contextmanager
def inputs_checked() -> Iterator[None]:
    """Within this block, guarded protocol calls skip input checks (capabilities still hold).

    For code that has validated its inputs once, such as a rollout loop or a
    ``loss`` that called `WorldModel.validate_batch_contract` first.
    """
    token = INPUTS_CHECKED.set(True)
    try:
        yield
    finally:
        INPUTS_CHECKED.reset(token)


def implementation(model: object, method: str) -> Callable[..., Any]:
    """The bound, unguarded implementation of a protocol method (for hot loops).

    Guarded methods keep the subclass's own function as ``__wm_impl__``.
    """
    return cast("Callable[..., Any]", unbound_implementation(type(model), method).__get__(model))


def unbound_implementation(cls: type, method: str) -> Any:
    """The unguarded implementation of a protocol method of ``cls``, not bound to a model."""
    fn = getattr(cls, method)
    return getattr(fn, "__wm_impl__", fn)
