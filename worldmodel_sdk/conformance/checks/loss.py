"""Loss checks: a finite scalar total, finite components, gradients that reach parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ...capabilities import Capability
from ...errors import ContractError
from ...model import WorldModel
from ...payloads.outputs import LossOutput, WorldModelInput
from ..asserts import describe, expect_call
from ..context import CheckContext
from ..inputs import changed_tensor
from ..registry import check
from ..results import CheckFailure, NotApplicable
from .outputs import expect_unchanged, snapshot

__all__ = [
    "TARGETS",
    "accepted_batch",
    "batch_unchanged",
    "compute_loss",
    "finite",
    "gradients",
    "loss_stub",
    "scalar",
    "uses_targets",
]


@contextmanager
def _training(model: WorldModel) -> Iterator[None]:
    """Train mode with gradients; afterwards the mode, the buffers and ``.grad`` are restored."""
    was = model.training
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    model.train()
    try:
        with torch.enable_grad():
            yield
    finally:
        model.train(was)
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
        for p in model.parameters():
            p.grad = None


def compute_loss(ctx: CheckContext) -> tuple[str, LossOutput]:
    """``loss`` on the first batch layout the model accepts (sample, sequence, then flat).

    A batch the model refuses with `ContractError` moves on to the next layout; any
    other error, or a refusal of every layout, fails the check. A ``loss`` that raises
    ``NotImplementedError`` makes the check not applicable: ``interface.loss`` fails.
    """
    call, _, out = accepted_batch(ctx)
    return call, out


def accepted_batch(ctx: CheckContext) -> tuple[str, WorldModelInput, LossOutput]:
    """The call, the batch and the loss of `compute_loss`."""
    refusals = []
    for batch in ctx.batches():
        layout = "[B, T, ...]" if batch.sequence else "[B, ...]"
        call = f"{ctx.name}.loss(batch {layout})"
        try:
            out = ctx.model.loss(batch)
        except ContractError as exc:
            refusals.append(f"{layout}: {exc}")
            continue
        except NotImplementedError as exc:
            raise NotApplicable(f"{call} is not implemented (see interface.loss): {exc}") from exc
        except Exception as exc:
            raise CheckFailure(call, "no exception", f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(out, LossOutput):
            raise CheckFailure(call, "a LossOutput", describe(out))
        return call, batch, out
    raise CheckFailure(
        f"{ctx.name}.loss(batch)",
        "a batch layout it accepts",
        "ContractError for each: " + " | ".join(refusals),
    )


def loss_stub(ctx: CheckContext) -> tuple[str, NotImplementedError] | None:
    """The call and error if ``loss`` raises ``NotImplementedError`` on the first batch it takes.

    Batches refused with `ContractError` are skipped; any other outcome is left to the
    ``loss`` checks.
    """
    with _training(ctx.model):
        for batch in ctx.batches():
            layout = "[B, T, ...]" if batch.sequence else "[B, ...]"
            try:
                ctx.model.loss(batch)
            except ContractError:
                continue
            except NotImplementedError as exc:
                return f"{ctx.name}.loss(batch {layout})", exc
            except Exception:
                return None
            return None
    return None


@check("loss.scalar")
def scalar(ctx: CheckContext) -> None:
    """``loss(batch)`` returns a `LossOutput` whose total is a floating 0-dim tensor."""
    with _training(ctx.model):
        call, out = compute_loss(ctx)
    total: object = out.total
    if not isinstance(total, torch.Tensor) or total.dim() != 0 or not total.is_floating_point():
        raise CheckFailure(call, "total: a floating 0-dim tensor", describe(total))


@check("loss.finite")
def finite(ctx: CheckContext) -> None:
    """The total and every component are finite."""
    with _training(ctx.model):
        call, out = compute_loss(ctx)
    for name, value in out.items():
        if not isinstance(value, torch.Tensor):
            raise CheckFailure(call, f"{name}: a tensor", describe(value))
        if value.is_floating_point() and not bool(torch.isfinite(value.detach()).all()):
            raise CheckFailure(call, f"{name}: finite values", str(value.detach().tolist()))


def _has_parameters(ctx: CheckContext) -> str | None:
    trainable = any(p.requires_grad for p in ctx.model.parameters())
    return None if trainable else "the model has no trainable parameters"


@check("loss.gradients", applies=_has_parameters)
def gradients(ctx: CheckContext) -> None:
    """``total.backward()`` gives finite gradients, some of them non-zero."""
    with _training(ctx.model):
        call, out = compute_loss(ctx)
        if not out.total.requires_grad:
            raise CheckFailure(
                f"{call}.total", "a tensor attached to the parameters", "requires_grad=False"
            )
        expect_call(f"{call}.total.backward()", torch.autograd.backward, out.total)
        grads = {n: p.grad for n, p in ctx.model.named_parameters() if p.grad is not None}
        bad = [n for n, g in grads.items() if not bool(torch.isfinite(g).all())]
        nonzero = [n for n, g in grads.items() if bool(g.abs().sum() > 0)]
    call = f"{call}.total.backward()"
    if bad:
        raise CheckFailure(call, "finite gradients", f"NaN or inf in {bad[:4]}")
    if not nonzero:
        raise CheckFailure(
            call,
            "a non-zero gradient on some parameter",
            f"{len(grads)} parameters with a gradient, all zero",
        )


def _fields(batch: WorldModelInput) -> dict[str, Any]:
    conditions = batch.conditions.tensors if batch.conditions is not None else None
    return {
        "batch.obs": batch.obs,
        "batch.actions": batch.actions,
        "batch.rewards": batch.rewards,
        "batch.continues": batch.continues,
        "batch.conditions": conditions,
        "batch.mask": batch.mask,
    }


@check("loss.batch_unchanged")
def batch_unchanged(ctx: CheckContext) -> None:
    """``loss(batch)`` leaves every tensor of its batch as it was."""
    with _training(ctx.model):
        batch = accepted_batch(ctx)[1]
        before = {k: snapshot(v) for k, v in _fields(batch).items()}
        layout = "[B, T, ...]" if batch.sequence else "[B, ...]"
        call = f"{ctx.name}.loss(batch {layout})"
        expect_call(call, ctx.model.loss, batch)
    for key, value in _fields(batch).items():
        expect_unchanged(call, key, before[key], value)


# Prediction heads whose targets a batch carries: capability, field, prediction key.
TARGETS = (
    (Capability.REWARD_PRED, "rewards", "reward"),
    (Capability.CONTINUE_PRED, "continues", "continue"),
    (Capability.OBS_DECODER, "obs", "observation"),
)


def _changed_target(name: str, value: Any, gen: torch.Generator) -> Any:
    if name == "continues" and value.is_floating_point():
        return 1 - value
    if isinstance(value, dict):
        return {k: changed_tensor(v, gen) for k, v in value.items()}
    return changed_tensor(value, gen)


def _total(ctx: CheckContext, call: str, batch: WorldModelInput) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.profile.seed)
        out = expect_call(call, ctx.model.loss, batch)
    return out.total.detach()


def _declared_targets(ctx: CheckContext) -> str | None:
    if any(cap in ctx.capabilities for cap, _, _ in TARGETS):
        return None
    return "the model declares no reward, continue or observation head"


@check("loss.uses_targets", applies=_declared_targets)
def uses_targets(ctx: CheckContext) -> str:
    """For each declared head whose target the batch carries, the total depends on that target.

    Both totals are computed under the same global seed, so a loss that samples
    still compares like with like.
    """
    checked = []
    with _training(ctx.model):
        call, batch, _ = accepted_batch(ctx)
        base = _total(ctx, call, batch)
        if not bool(torch.isfinite(base).all()):
            raise NotApplicable(f"{call}.total is not finite (see loss.finite)")
        for cap, name, head in TARGETS:
            value = getattr(batch, name)
            if cap not in ctx.capabilities or value is None:
                continue
            changed = dataclasses.replace(
                batch, **{name: _changed_target(name, value, ctx.generator(13))}
            )
            where = f"{call} with only batch.{name} changed"
            total = _total(ctx, where, changed)
            if torch.equal(total, base):
                raise CheckFailure(
                    where,
                    f"a different total (the model declares {cap.value}, so its loss must "
                    f"learn the {head} targets)",
                    f"the same total {float(total):.6g}",
                )
            checked.append(name)
    if not checked:
        raise NotApplicable("the batch carries no target of a declared head")
    return f"depends on batch.{', batch.'.join(checked)}"
