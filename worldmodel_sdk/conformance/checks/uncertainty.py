"""Uncertainty checks: a model declaring ``epistemic_uncertainty`` reports it as declared.

The capability promises, for every prediction ``k``, a prediction
``disagreement_key(k)`` of ``k``'s spec: how unsure the model is of ``k``, a
non-negative spread such as the variance across an ensemble's members. A model
that does not declare the capability is not checked here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from ...capabilities import DISAGREEMENT_SUFFIX, Capability, disagreement_key
from ...ensemble import WEIGHTS_KEY, Ensemble
from ...payloads.outputs import ModelOutput
from ...payloads.state import State
from ..asserts import describe, expect_call
from ..context import CheckContext
from ..registry import check
from ..results import CheckFailure, NotApplicable

__all__ = ["contract", "disagreement", "identical_members"]

_NEEDS = (Capability.EPISTEMIC_UNCERTAINTY,)


def _reported(ctx: CheckContext) -> list[str]:
    """The predictions whose uncertainty the model must report."""
    return [k for k in ctx.contract.prediction if not k.endswith(DISAGREEMENT_SUFFIX)]


def _declared(ctx: CheckContext) -> list[str]:
    """The disagreement keys, once the contract declares every one (else not applicable)."""
    keys = [disagreement_key(k) for k in _reported(ctx)]
    if not keys or any(k not in ctx.contract.prediction for k in keys):
        raise NotApplicable(
            "the contract does not declare the disagreements (see uncertainty.contract)"
        )
    return keys


@check("uncertainty.contract", requires=_NEEDS)
def contract(ctx: CheckContext) -> None:
    """The contract declares ``k.disagreement`` with ``k``'s shape and dtype for every ``k``."""
    call = f"{ctx.name}.io_contract().prediction"
    prediction = ctx.contract.prediction
    reported = _reported(ctx)
    if not reported:
        raise CheckFailure(
            call, "a prediction whose uncertainty is reported", repr(sorted(prediction))
        )
    for name in reported:
        key, spec = disagreement_key(name), prediction[name]
        declared = prediction.get(key)
        if declared is None:
            raise CheckFailure(
                call,
                f"{key!r} beside {name!r} (epistemic_uncertainty is declared)",
                f"keys {sorted(prediction)}",
            )
        if declared.shape != spec.shape or declared.dtype != spec.dtype:
            raise CheckFailure(
                call,
                f"{key!r} {spec.show()} {spec.dtype}, as {name!r}",
                f"{declared.show()} {declared.dtype}",
            )


def _decoded(ctx: CheckContext) -> list[tuple[str, Callable[[], Any]]]:
    """The decodes to look at: of the state and, if the model steps, of the next state.

    A model may decode an encoded state back to its observation exactly (members then
    agree), so the uncertainty of a prediction is looked for one step ahead too.
    """
    m, cond = ctx.model, ctx.conditions
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("decode(state)", lambda: m.decode(ctx.state, cond))
    ]
    if ctx.has(Capability.LATENT_DYNAMICS):
        action: Any = ctx.actions(1)[0] if ctx.contract.action is not None else None
        calls.append(
            (
                "decode(transition(state, action, deterministic=True))",
                lambda: m.decode(m.transition(ctx.state, action, cond, True), cond),
            )
        )
    return calls


def _spread(call: str, out: object, name: str, key: str) -> torch.Tensor:
    """The disagreement ``key`` of ``out``, checked for shape, finiteness and sign."""
    if not isinstance(out, ModelOutput):
        raise CheckFailure(call, "a ModelOutput", describe(out))
    value, prediction = out.predictions.get(key), out.predictions.get(name)
    if value is None or prediction is None:
        raise CheckFailure(call, f"predictions[{key!r}]", f"predictions {sorted(out.predictions)}")
    if value.shape != prediction.shape:
        raise CheckFailure(
            call,
            f"predictions[{key!r}] of shape {tuple(prediction.shape)}, as {name!r}",
            f"shape {tuple(value.shape)}",
        )
    spread = value.detach()
    if not bool(torch.isfinite(spread).all()):
        raise CheckFailure(call, f"predictions[{key!r}] finite", "NaN or inf")
    if bool((spread < 0).any()):
        raise CheckFailure(
            call,
            f"predictions[{key!r}] >= 0 everywhere (a spread)",
            f"min {float(spread.min()):.3g}",
        )
    return spread


@check("uncertainty.disagreement", requires=_NEEDS)
def disagreement(ctx: CheckContext) -> None:
    """``decode`` reports each disagreement in its prediction's shape, >= 0, not all zero."""
    keys = _declared(ctx)
    positive = False
    labels = []
    for label, fn in _decoded(ctx):
        call = f"{ctx.name}.{label}"
        labels.append(label)
        with torch.no_grad():
            out = expect_call(call, fn)
        for name, key in zip(_reported(ctx), keys, strict=True):
            positive = positive or bool((_spread(call, out, name, key) > 0).any())
    if not positive:
        raise CheckFailure(
            f"{ctx.name}.{' and '.join(labels)}",
            "some positive disagreement (the model's members, trained or fresh, differ)",
            "zero in every disagreement",
        )


def _is_ensemble(ctx: CheckContext) -> str | None:
    if isinstance(ctx.model, Ensemble):
        return None
    return "applies to Ensemble models, whose members can be made identical"


def _same_members(state: State) -> State:
    """``state`` with every member's part replaced by member 0's (weights kept)."""
    return State(
        {
            k: v if k == WEIGHTS_KEY else v[:, :1].expand_as(v).clone()
            for k, v in state.tensors.items()
        },
        state.meta,
    )


@check("uncertainty.identical_members", requires=_NEEDS, applies=_is_ensemble)
def identical_members(ctx: CheckContext) -> None:
    """An `Ensemble` whose members are copies of one member reports exactly zero disagreement."""
    model = ctx.model
    assert isinstance(model, Ensemble)
    keys = _declared(ctx)
    twin = copy.deepcopy(model)
    first = twin.members[0].state_dict()
    for member in twin.members[1:]:
        member.load_state_dict(first)
    state, cond = _same_members(ctx.state), ctx.conditions
    calls = [("decode(state)", lambda: twin.decode(state, cond))]
    if ctx.has(Capability.LATENT_DYNAMICS):
        action: Any = ctx.actions(1)[0] if ctx.contract.action is not None else None
        calls.append(
            (
                "decode(transition(state, action, deterministic=True))",
                lambda: twin.decode(twin.transition(state, action, cond, True), cond),
            )
        )
    for label, fn in calls:
        call = f"{ctx.name}.{label} with every member a copy of member 0"
        with torch.no_grad():
            out = expect_call(call, fn)
        for key in keys:
            spread = out.predictions[key].detach()
            if bool((spread != 0).any()):
                raise CheckFailure(
                    call,
                    f"predictions[{key!r}] zero everywhere (the members agree)",
                    f"max {float(spread.abs().max()):.3g}",
                )
