"""Guard plumbing: whether inputs are already checked, and the unguarded implementations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

__all__ = ["INPUTS_CHECKED", "implementation", "inputs_checked"]

# Set while a guarded call runs (and during a prepared rollout): nested protocol calls,
# such as a subclass calling super().transition(), are not checked again.
INPUTS_CHECKED: ContextVar[bool] = ContextVar("wmsdk_inputs_checked", default=False)


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
    fn = getattr(type(model), method)
    return cast("Callable[..., Any]", getattr(fn, "__wm_impl__", fn).__get__(model))
