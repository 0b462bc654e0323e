"""Whether the protocol inputs of the current call have already been checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["INPUTS_CHECKED", "inputs_checked"]

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
