"""Interface checks: the protocol's methods, signatures and declarations are intact."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ...capabilities import Capability
from ...model import WorldModel
from ..context import CheckContext
from ..registry import check
from ..results import CheckFailure
from .loss import loss_stub

__all__ = [
    "ASYNC_TWINS",
    "PROTOCOL_METHODS",
    "async_twins",
    "base_class",
    "capabilities_declared",
    "loss_implemented",
    "model_type",
    "signatures",
]

PROTOCOL_METHODS = (
    "encode",
    "transition",
    "update",
    "decode",
    "loss",
    "plan_step",
    "sample_step",
    "teacher_forcing_step",
    "rollout",
    "async_encode",
    "async_transition",
    "async_decode",
    "async_rollout",
    "save_pretrained",
    "io_contract",
)
ASYNC_TWINS = ("async_encode", "async_transition", "async_decode", "async_rollout")


def _params(fn: Any) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


def _show(params: list[inspect.Parameter]) -> str:
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in params]
    return "(" + ", ".join(str(p) for p in bare) + ")"


def _compatible(base: list[inspect.Parameter], got: list[inspect.Parameter]) -> bool:
    """Same names, kinds and defaults in order; extra parameters must have defaults."""
    if len(got) < len(base):
        return False
    for want, have in zip(base, got, strict=False):
        if (want.name, want.kind, want.default) != (have.name, have.kind, have.default):
            return False
    extra = got[len(base) :]
    return all(
        p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in extra
    )


@check("interface.base_class")
def base_class(ctx: CheckContext) -> None:
    """The model is a `WorldModel` and a ``torch.nn.Module``."""
    model: object = ctx.model
    if not isinstance(model, WorldModel) or not isinstance(model, torch.nn.Module):
        raise CheckFailure("isinstance(model, WorldModel)", "True", type(model).__name__)


@check("interface.capabilities")
def capabilities_declared(ctx: CheckContext) -> None:
    """``capabilities`` is a class-level frozenset of `Capability`, not changed per instance."""
    cls = type(ctx.model)
    caps: object = cls.capabilities
    if not isinstance(caps, frozenset) or not all(isinstance(c, Capability) for c in caps):
        raise CheckFailure(f"{cls.__name__}.capabilities", "a frozenset of Capability", repr(caps))
    if "capabilities" in vars(ctx.model):
        raise CheckFailure(
            f"{cls.__name__}().capabilities",
            "the class-level declaration (no per-instance override)",
            repr(vars(ctx.model)["capabilities"]),
        )


@check("interface.signatures")
def signatures(ctx: CheckContext) -> None:
    """Protocol methods keep the base class's parameters (extras need defaults)."""
    cls = type(ctx.model)
    for name in PROTOCOL_METHODS:
        base, got = _params(getattr(WorldModel, name)), _params(getattr(cls, name))
        if not _compatible(base, got):
            raise CheckFailure(f"inspect.signature({cls.__name__}.{name})", _show(base), _show(got))
    base_load = _params(WorldModel.from_pretrained)
    got_load = _params(cls.from_pretrained)
    if not _compatible(base_load, got_load):
        raise CheckFailure(
            f"inspect.signature({cls.__name__}.from_pretrained)", _show(base_load), _show(got_load)
        )


@check("interface.loss")
def loss_implemented(ctx: CheckContext) -> None:
    """``loss`` and ``io_contract`` are implemented: concrete, synchronous, and no stub.

    Abstract methods cannot reach an instance, but a stub can: ``loss`` must not be
    an ``async def`` and must not raise ``NotImplementedError`` on the first batch
    the model takes (the ``loss`` area checks what it returns).
    """
    cls = type(ctx.model)
    for name in ("loss", "io_contract"):
        fn = getattr(cls, name)
        if getattr(fn, "__isabstractmethod__", False):
            raise CheckFailure(f"{cls.__name__}.{name}", "an implementation", "abstract method")
        if inspect.iscoroutinefunction(fn):
            raise CheckFailure(f"{cls.__name__}.{name}", "a plain def", "an async def")
    stub = loss_stub(ctx)
    if stub is not None:
        call, exc = stub
        raise CheckFailure(call, "an implementation", f"NotImplementedError: {exc}")


@check("interface.async_twins")
def async_twins(ctx: CheckContext) -> None:
    """The async twins are coroutine functions."""
    cls = type(ctx.model)
    for name in ASYNC_TWINS:
        if not inspect.iscoroutinefunction(getattr(cls, name)):
            raise CheckFailure(f"{cls.__name__}.{name}", "an async def", "a plain function")


@check("interface.model_type")
def model_type(ctx: CheckContext) -> None:
    """``model_type`` is a non-empty string (the name saved in ``config.json``)."""
    cls = type(ctx.model)
    value: object = cls.model_type
    if not isinstance(value, str) or not value:
        raise CheckFailure(f"{cls.__name__}.model_type", "a non-empty str", repr(value))
