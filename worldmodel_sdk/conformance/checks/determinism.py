"""Determinism checks: ``deterministic=True`` repeats bit for bit; batch items are independent.

Repeats run under different global seeds, so a model that samples from the global
random generator when told to be deterministic is caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ...capabilities import DECODE_CAPABILITIES, Capability
from ...payloads.action import ActionPayload
from ...payloads.outputs import ModelOutput
from ...payloads.state import State
from ..asserts import compare_outputs, compare_states, compare_tensors, expect_call
from ..context import CheckContext, item
from ..inputs import changed_action, changed_observation, changed_tensor, stack_actions
from ..registry import check
from ..results import CheckFailure

__all__ = [
    "DROPOUT_LAYERS",
    "Step",
    "agent_order",
    "batch_independence",
    "batch_independence_train_mode",
    "repeat",
    "repeat_train_mode",
    "rollout",
    "train_mode",
]

Step = tuple[str, Callable[[Any, Any, Any], Any]]

# The layers `Target.train_dropout` holds in eval mode during the train-mode checks.
DROPOUT_LAYERS = (
    torch.nn.Dropout,
    torch.nn.Dropout1d,
    torch.nn.Dropout2d,
    torch.nn.Dropout3d,
    torch.nn.AlphaDropout,
    torch.nn.FeatureAlphaDropout,
)


def _steps(ctx: CheckContext, conditions: Any = None) -> list[Step]:
    """(label, fn(obs, state, action)) for each declared protocol method.

    The calls take ``conditions`` (default: the context's, for the full batch).
    """
    m, cond = ctx.model, ctx.conditions if conditions is None else conditions
    steps: list[Step] = []
    if ctx.has(Capability.REPRESENTATION):
        steps.append(("encode(obs, deterministic=True)", lambda o, s, a: m.encode(o, True)))
    if ctx.has(Capability.LATENT_DYNAMICS):
        steps.append(
            (
                "transition(state, action, deterministic=True)",
                lambda o, s, a: m.transition(s, a, cond, True),
            )
        )
    if ctx.has(Capability.POSTERIOR_UPDATE):
        steps.append(
            (
                "update(state, action, obs, deterministic=True)",
                lambda o, s, a: m.update(s, a, o, cond, True),
            )
        )
    if ctx.capabilities & DECODE_CAPABILITIES:
        steps.append(("decode(state)", lambda o, s, a: m.decode(s, cond)))
    return steps


def _action(ctx: CheckContext) -> Any:
    return ctx.actions(1)[0] if ctx.contract.action is not None else None


def _compare(call: str, got: Any, want: Any, *, exact: bool) -> None:
    if isinstance(want, State) and isinstance(got, State):
        compare_states(call, got, want, exact=exact)
    elif isinstance(want, ModelOutput) and isinstance(got, ModelOutput):
        compare_outputs(call, got, want, exact=exact)


def _under_seed(seed: int, fn: Callable[..., Any], *args: Any) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn(*args)


def _repeat(ctx: CheckContext, mode: str = "") -> None:
    for label, fn in _steps(ctx):
        call = f"{ctx.name}.{label} twice{mode}"
        first = expect_call(call, _under_seed, 1, fn, ctx.obs, ctx.state, _action(ctx))
        second = expect_call(call, _under_seed, 2, fn, ctx.obs, ctx.state, _action(ctx))
        _compare(call, second, first, exact=True)


@check("determinism.repeat")
def repeat(ctx: CheckContext) -> None:
    """Each protocol call with ``deterministic=True`` repeats bit for bit, whatever the seed."""
    _repeat(ctx)


@check("determinism.rollout", requires=(Capability.LATENT_DYNAMICS,))
def rollout(ctx: CheckContext) -> None:
    """``rollout(..., deterministic=True)`` repeats bit for bit, whatever the seed."""
    actions = stack_actions(ctx.actions())
    call = f"{ctx.name}.rollout(state, actions[T={ctx.profile.horizon}], deterministic=True) twice"

    def run() -> Any:
        return ctx.model.rollout(ctx.state, actions, ctx.conditions, True)

    first = expect_call(call, _under_seed, 1, run)
    second = expect_call(call, _under_seed, 2, run)
    for t, (a, b) in enumerate(zip(first.states, second.states, strict=True)):
        compare_states(f"{call}, states[{t}]", b, a)
    for name in ("rewards", "values", "continues"):
        a_, b_ = getattr(first, name), getattr(second, name)
        if a_ is not None and b_ is not None:
            compare_tensors(call, f"trajectory.{name}", b_, a_)


@check("determinism.batch_independence")
def batch_independence(ctx: CheckContext) -> None:
    """Item i of a batched call equals the call on item i alone (within tolerance)."""
    if ctx.batch < 2:
        raise CheckFailure("generated inputs", "a batch of at least 2", str(ctx.batch))
    action = _action(ctx)
    alone_steps = [_steps(ctx, item(ctx.conditions, i)) for i in range(ctx.batch)]
    for k, (label, fn) in enumerate(_steps(ctx)):
        batched = expect_call(f"{ctx.name}.{label}", fn, ctx.obs, ctx.state, action)
        for i in range(ctx.batch):
            call = f"{ctx.name}.{label} on item {i} alone vs item {i} of the batch"
            alone_fn = alone_steps[i][k][1]
            alone = expect_call(
                call, alone_fn, ctx.obs_item(i), item(ctx.state, i), item(action, i)
            )
            _compare(call, alone, _item_of(batched, i), exact=False)


def _built_in_train_mode(ctx: CheckContext) -> str | None:
    if ctx.target.built_in_train_mode:
        return None
    return "the factory returned the model in eval mode, which the eval-mode checks cover"


@contextmanager
def train_mode(ctx: CheckContext) -> Iterator[str]:
    """The model in train mode (dropout held in eval mode if the target declares it).

    Yields a note for the result; buffers (batch-norm statistics) are restored after.
    """
    model = ctx.model
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    model.train()
    note = ""
    if ctx.target.train_dropout:
        held = [m for m in model.modules() if isinstance(m, DROPOUT_LAYERS)]
        for m in held:
            m.eval()
        note = f"train mode with {len(held)} dropout layers held in eval mode (train_dropout)"
    try:
        with torch.no_grad():
            yield note
    finally:
        model.eval()
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


@check("determinism.repeat_train_mode", applies=_built_in_train_mode)
def repeat_train_mode(ctx: CheckContext) -> str | None:
    """In train mode too, each call with ``deterministic=True`` repeats bit for bit."""
    with train_mode(ctx) as note:
        _repeat(ctx, " in train mode")
    return note or None


def _with_others_changed(value: Any, changed: Any) -> Any:
    """``value`` with item 0 kept and every other item taken from ``changed``."""
    if isinstance(value, torch.Tensor):
        return torch.cat([value[:1], changed[1:]])
    if isinstance(value, State):
        return State(
            {k: _with_others_changed(v, changed.tensors[k]) for k, v in value.tensors.items()},
            value.meta,
        )
    if isinstance(value, ActionPayload):
        if value.agents is not None:
            return ActionPayload(
                value.kind, agents=_with_others_changed(value.agents, changed.agents)
            )
        return ActionPayload(value.kind, tensor=_with_others_changed(value.tensor, changed.tensor))
    if isinstance(value, dict):
        return {k: _with_others_changed(v, changed[k]) for k, v in value.items()}
    return value


@check("determinism.batch_independence_train_mode", applies=_built_in_train_mode)
def batch_independence_train_mode(ctx: CheckContext) -> str | None:
    """In train mode too, item 0 of a batch is the same whatever the other items hold.

    The batch keeps its size (batch norm refuses single items in train mode) and both
    calls run under the same seed; only the other items change.
    """
    if ctx.batch < 2:
        raise CheckFailure("generated inputs", "a batch of at least 2", str(ctx.batch))
    obs, state, action = ctx.obs, ctx.state, _action(ctx)
    gen = ctx.generator(12)
    obs2 = _with_others_changed(obs, changed_observation(obs, None, gen))
    state2 = _with_others_changed(
        state, State({k: changed_tensor(v, gen) for k, v in state.tensors.items()})
    )
    action2 = action
    if action is not None and ctx.contract.action is not None:
        other = changed_action(ctx.contract.action, action, None, gen)
        action2 = action if other is None else _with_others_changed(action, other)
    with train_mode(ctx) as note:
        for label, fn in _steps(ctx):
            want = expect_call(
                f"{ctx.name}.{label} in train mode", _under_seed, 1, fn, obs, state, action
            )
            call = (
                f"{ctx.name}.{label} in train mode: item 0 with the other items changed vs "
                "item 0 of the original batch"
            )
            got = expect_call(call, _under_seed, 1, fn, obs2, state2, action2)
            _compare(call, _item_of(got, 0), _item_of(want, 0), exact=False)
    return note or None


def _item_of(value: Any, i: int) -> Any:
    if isinstance(value, ModelOutput):
        return ModelOutput({k: v[i : i + 1] for k, v in value.predictions.items()})
    return item(value, i)


def _reordered(value: Any, order: list[str]) -> Any:
    """``value`` with its per-agent mapping rebuilt in ``order`` (keys it lacks are kept last)."""
    if isinstance(value, ActionPayload) and value.agents is not None:
        return ActionPayload(value.kind, agents=_reordered(value.agents, order))
    if isinstance(value, dict):
        keys = [k for k in order if k in value] + [k for k in value if k not in order]
        return {k: value[k] for k in keys}
    return value


def _agent_names(ctx: CheckContext) -> list[str]:
    names = list(ctx.contract.agents)
    action = ctx.contract.action
    if action is not None and action.kind == "joint":
        names += [n for n in action.agent_names if n not in names]
    return names


def _per_agent(ctx: CheckContext) -> str | None:
    return None if len(_agent_names(ctx)) > 1 else "the model takes no per-agent inputs"


@check("determinism.agent_order", applies=_per_agent)
def agent_order(ctx: CheckContext) -> None:
    """Per-agent inputs in another dict order give bit-identical results."""
    names = _agent_names(ctx)
    orders = [names[::-1]] + ([names[1:] + names[:1]] if len(names) > 2 else [])
    obs, state, action = ctx.obs, ctx.state, _action(ctx)
    for label, fn in _steps(ctx):
        want = expect_call(f"{ctx.name}.{label}", _under_seed, 1, fn, obs, state, action)
        for order in orders:
            call = f"{ctx.name}.{label} with agents in the order {order}"
            got = expect_call(
                call, _under_seed, 1, fn, _reordered(obs, order), state, _reordered(action, order)
            )
            _compare(call, got, want, exact=True)
