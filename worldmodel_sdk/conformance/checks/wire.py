"""Wire checks: the model's real states survive the envelope and shared memory exactly."""

from __future__ import annotations

import torch

from ...capabilities import Capability
from ...payloads.state import State
from ..asserts import compare_states, expect_call
from ..context import CheckContext
from ..registry import check
from ..results import CheckFailure

__all__ = ["envelope_round_trip", "real_states", "shared_memory_round_trip"]


def _wire_available(ctx: CheckContext) -> str | None:
    try:
        State({"x": torch.zeros(1)}).serialize()
    except (ImportError, NotImplementedError) as exc:
        return f"the wire format is not available in this build ({type(exc).__name__})"
    return None


def real_states(ctx: CheckContext) -> dict[str, State]:
    """States the model itself produces: encode/transition/update outputs and a rollout end."""
    states = {"initial state": ctx.state}
    m = ctx.model
    with torch.no_grad():
        if ctx.has(Capability.LATENT_DYNAMICS):
            action = ctx.actions(1)[0]
            states["transition(state, action)"] = expect_call(
                f"{ctx.name}.transition(state, action)",
                m.transition,
                ctx.state,
                action,
                ctx.conditions,
                False,
            )
        if ctx.has(Capability.POSTERIOR_UPDATE):
            action = ctx.actions(1)[0]
            states["update(state, action, obs)"] = expect_call(
                f"{ctx.name}.update(state, action, obs)",
                m.update,
                ctx.state,
                action,
                ctx.obs,
                ctx.conditions,
            )
    return states


def _same_meta(call: str, got: State, want: State) -> None:
    if (got.meta or None) != (want.meta or None):
        raise CheckFailure(call, f"meta {want.meta!r}", repr(got.meta))


@check("wire.envelope_round_trip", applies=_wire_available)
def envelope_round_trip(ctx: CheckContext) -> None:
    """``State.deserialize(state.serialize())`` gives back equal tensors and metadata."""
    for label, state in real_states(ctx).items():
        call = f"State.deserialize({label}.serialize())"
        data = expect_call(f"{label}.serialize()", state.detach().serialize)
        for copy in (False, True):
            back = expect_call(call, State.deserialize, data, copy=copy)
            compare_states(f"{call} (copy={copy})", back, state)
            _same_meta(call, back, state)


@check("wire.shared_memory_round_trip", applies=_wire_available)
def shared_memory_round_trip(ctx: CheckContext) -> None:
    """A state published to shared memory attaches back equal, and its segment is removed."""
    for label, state in real_states(ctx).items():
        owned = state.detach().clone()
        call = f"State.from_shared_memory({label}.to_shared_memory())"
        descriptor = expect_call(f"{label}.to_shared_memory()", owned.to_shared_memory)
        try:
            attached = expect_call(call, State.from_shared_memory, descriptor)
            try:
                compare_states(call, attached, owned)
                _same_meta(call, attached, owned)
            finally:
                attached.close_shared_memory()
        finally:
            owned.close_shared_memory(unlink=True)
