"""Behaviour on contract-generated inputs, not only on the factory's sample.

A factory's sample shows one corner of the input space. This check draws inputs
from the contract — random ones, observations at zero and at ten times the usual
scale, actions at their lower and upper bounds — and drives every declared protocol
call with them: outputs must fit the contract (finite where the spec says so) and
``deterministic=True`` calls must repeat bit for bit. The thorough profile adds many
Hypothesis-drawn inputs (batch size, seed and extreme drawn together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st

from ...capabilities import DECODE_CAPABILITIES, Capability
from ...errors import ContractError
from ...payloads.outputs import ModelOutput
from ...payloads.state import State
from ...validation import check_state
from ..asserts import compare_states, describe, expect_call
from ..context import CheckContext, call_update
from ..inputs import (
    extreme_action,
    extreme_observation,
    make_action,
    make_conditions,
    make_observation,
    make_state,
    stack_actions,
)
from ..registry import check
from ..results import CheckFailure
from ..strategies import check_property

__all__ = [
    "Inputs",
    "KINDS",
    "drive",
    "generated_inputs",
]

KINDS = {
    "drawn": "random inputs drawn from the contract",
    "low": "zero observations, actions at their lower bounds",
    "high": "observations at 10x scale, actions at their upper bounds",
}


@dataclass(frozen=True, slots=True)
class Inputs:
    """One set of generated inputs: a batch of observations and a sequence of actions."""

    kind: str
    batch: int
    seed: int

    def describe(self) -> str:
        """How the inputs are named in messages."""
        return f"{KINDS[self.kind]} (B={self.batch}, seed={self.seed})"


def _observation(ctx: CheckContext, inputs: Inputs, gen: torch.Generator) -> Any:
    if inputs.kind == "drawn":
        return make_observation(ctx.contract, inputs.batch, gen)
    return extreme_observation(ctx.contract, inputs.batch, gen, inputs.kind)


def _action(ctx: CheckContext, inputs: Inputs, gen: torch.Generator) -> Any:
    spec = ctx.contract.action
    if spec is None:
        return None
    if inputs.kind == "drawn":
        return make_action(spec, (inputs.batch,), gen)
    return extreme_action(spec, (inputs.batch,), inputs.kind)


def _fits(ctx: CheckContext, call: str, state: object, batch: int) -> State:
    if not isinstance(state, State):
        raise CheckFailure(call, "a State", describe(state))
    try:
        check_state(ctx.contract, state)
    except ContractError as exc:
        raise CheckFailure(call, "a State fitting the contract's state spec", str(exc)) from None
    if state.batch_size != batch:
        raise CheckFailure(call, f"batch size {batch}", str(state.batch_size))
    return state


def _predictions_fit(ctx: CheckContext, call: str, out: object, batch: int) -> None:
    if not isinstance(out, ModelOutput):
        raise CheckFailure(call, "a ModelOutput", describe(out))
    for key, spec in ctx.contract.prediction.items():
        if key not in out.predictions:
            raise CheckFailure(call, f"predictions[{key!r}]", repr(sorted(out.predictions)))
        try:
            spec.check(f"predictions[{key!r}]", out.predictions[key], {"B": batch})
        except ContractError as exc:
            raise CheckFailure(
                call, f"predictions[{key!r}] {spec.show()} {spec.dtype}", str(exc)
            ) from None


def _fits_and_repeats(ctx: CheckContext, call: str, batch: int, fn: Any, *args: Any) -> State:
    """``fn(*args)`` under two global seeds: the first must fit, the second must equal it."""
    results = []
    for seed in (1, 2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            results.append(expect_call(call, fn, *args))
        if seed == 1:
            _fits(ctx, call, results[0], batch)
    compare_states(f"{call} twice", results[1], results[0])
    return results[0]  # type: ignore[no-any-return]


def drive(ctx: CheckContext, inputs: Inputs) -> None:
    """Every declared protocol call on ``inputs``: fitting, finite, repeatable outputs."""
    gen = torch.Generator().manual_seed(inputs.seed)
    m, c, b = ctx.model, ctx.contract, inputs.batch
    on = f"on {inputs.describe()}"
    obs = _observation(ctx, inputs, gen)
    action = _action(ctx, inputs, gen)
    cond = make_conditions(c, b, gen)
    with torch.no_grad():
        if ctx.has(Capability.REPRESENTATION):
            call = f"{ctx.name}.encode(obs, deterministic=True) {on}"
            state = _fits_and_repeats(ctx, call, b, m.encode, obs, True)
        else:
            state = make_state(c, b, gen)
        if ctx.has(Capability.LATENT_DYNAMICS):
            call = f"{ctx.name}.transition(state, action, deterministic=True) {on}"
            _fits_and_repeats(ctx, call, b, m.transition, state, action, cond, True)
            steps = [action] * ctx.profile.horizon
            call = f"{ctx.name}.rollout(state, actions[T={len(steps)}], deterministic=True) {on}"
            traj = expect_call(call, m.rollout, state, stack_actions(steps), cond, True)
            for t, s in enumerate(traj.states):
                _fits(ctx, f"{call}: states[{t}]", s, b)
        if ctx.has(Capability.POSTERIOR_UPDATE):
            call = f"{ctx.name}.update(state, action, obs) {on}"
            out = expect_call(call, call_update, m, state, action, obs, cond)
            _fits(ctx, call, out, b)
        if ctx.capabilities & DECODE_CAPABILITIES:
            call = f"{ctx.name}.decode(state) {on}"
            _predictions_fit(ctx, call, expect_call(call, m.decode, state, cond), b)


@check("outputs.generated_inputs")
def generated_inputs(ctx: CheckContext) -> str:
    """On contract-drawn inputs, extremes included, outputs fit the contract and repeat."""
    seed = ctx.profile.seed + 100
    for kind in KINDS:
        drive(ctx, Inputs(kind, ctx.profile.batch_size, seed))
    if ctx.profile.name != "thorough":
        return f"{len(KINDS)} input sets"
    strategy = st.builds(
        Inputs, st.sampled_from(list(KINDS)), st.integers(1, 4), st.integers(0, 2**31 - 1)
    )
    check_property(
        strategy,
        lambda inputs: drive(ctx, inputs),
        max_examples=ctx.profile.max_examples,
        derandomize=ctx.profile.derandomize,
    )
    return f"{len(KINDS)} input sets and {ctx.profile.max_examples} Hypothesis-drawn ones"
