"""Hypothesis strategies drawing valid and invalid payloads from an `IOContract`.

Valid strategies draw a batch size and a seed and build tensors that satisfy the
contract. Invalid strategies draw one valid payload and break it in exactly one
way, returning an `Invalid` that says how (``kind``) and where.

Example:
    >>> from hypothesis import given
    >>> @given(invalid_observations(contract, kind="wrong_shape"))
    ... def test_rejects(bad):
    ...     with pytest.raises(ContractError):
    ...         model.validate_observation(bad.value)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import strategies as st

from ..contract import ActionSpec, IOContract, TensorSpec
from ..payloads.action import ActionPayload
from ..payloads.state import State
from . import inputs

__all__ = [
    "INVALID_KINDS",
    "Invalid",
    "InvalidKind",
    "break_tensor",
    "check_property",
    "invalid_actions",
    "invalid_observations",
    "invalid_states",
    "valid_actions",
    "valid_observations",
    "valid_states",
]

InvalidKind = Literal["wrong_key", "wrong_shape", "wrong_dtype", "wrong_agent", "nan"]
INVALID_KINDS: tuple[InvalidKind, ...] = (
    "wrong_key",
    "wrong_shape",
    "wrong_dtype",
    "wrong_agent",
    "nan",
)
_seeds = st.integers(0, 2**31 - 1)
_batches = st.integers(1, 4)


@dataclass(frozen=True, slots=True)
class Invalid:
    """A payload broken in one way.

    Attributes:
        kind: How it is broken (one of `INVALID_KINDS`).
        where: Which part, e.g. ``obs['agent_0']``.
        value: The payload.
    """

    kind: InvalidKind
    where: str
    value: Any

    def __repr__(self) -> str:
        return f"Invalid({self.kind} at {self.where})"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def valid_observations(contract: IOContract) -> st.SearchStrategy[dict[str, torch.Tensor]]:
    """Observation mappings that satisfy ``contract``."""
    return st.builds(lambda b, s: inputs.make_observation(contract, b, _gen(s)), _batches, _seeds)


def valid_actions(spec: ActionSpec) -> st.SearchStrategy[ActionPayload | torch.Tensor]:
    """Action batches (tensors, or joint payloads) that satisfy ``spec``."""
    return st.builds(lambda b, s: inputs.make_action(spec, (b,), _gen(s)), _batches, _seeds)


def valid_states(contract: IOContract) -> st.SearchStrategy[State]:
    """States holding every declared state tensor."""
    return st.builds(lambda b, s: inputs.make_state(contract, b, _gen(s)), _batches, _seeds)


def _nan_able(spec: TensorSpec, shape: tuple[int, ...]) -> bool:
    floating = spec.torch_dtype.is_floating_point or spec.torch_dtype.is_complex
    return floating and not spec.allow_nonfinite and all(s > 0 for s in shape)


def break_tensor(
    kind: InvalidKind, value: torch.Tensor, spec: TensorSpec | None, pick: int
) -> torch.Tensor | None:
    """``value`` broken in the way ``kind`` says, or None if that is impossible here."""
    if kind == "wrong_shape":
        fixed = [i for i, a in enumerate(spec.shape if spec else ()) if isinstance(a, int)]
        if fixed and pick % 2:
            axis = fixed[pick % len(fixed)]
            shape = list(value.shape)
            shape[axis] += 1
            return torch.zeros(shape, dtype=value.dtype)
        return value.unsqueeze(-1)
    if kind == "wrong_dtype":
        if value.is_floating_point():
            return value.to(torch.float64 if value.dtype != torch.float64 else torch.float32)
        return value.to(torch.float32)
    if kind == "nan":
        if spec is None or not _nan_able(spec, tuple(value.shape)) or not value.numel():
            return None
        broken = value.clone()
        broken.view(-1)[pick % value.numel()] = float("nan")
        return broken
    return None


def _eligible(kind: InvalidKind, specs: dict[str, TensorSpec]) -> list[str]:
    """Keys that can be broken in the way ``kind`` says."""
    if kind != "nan":
        return list(specs)
    batch = {"B": 1}
    return [k for k, v in specs.items() if _nan_able(v, inputs.resolve_shape(v, batch))]


def _break_mapping(
    kind: InvalidKind,
    label: str,
    values: dict[str, torch.Tensor],
    specs: dict[str, TensorSpec],
    pick: int,
) -> Invalid:
    keys = list(values) if kind in ("wrong_key", "wrong_agent") else _eligible(kind, specs)
    key = keys[pick % len(keys)]
    if kind in ("wrong_key", "wrong_agent"):
        broken = dict(values)
        if pick % 3 == 0:
            broken.pop(key)
            return Invalid(kind, f"{label} without {key!r}", broken)
        broken[f"{key}_unexpected" if pick % 3 == 1 else "unexpected"] = broken.pop(key)
        return Invalid(kind, f"{label}[{key!r}] renamed", broken)
    tensor = break_tensor(kind, values[key], specs[key], pick // len(keys))
    assert tensor is not None
    return Invalid(kind, f"{label}[{key!r}]", {**values, key: tensor})


def invalid_observations(contract: IOContract, kind: InvalidKind) -> st.SearchStrategy[Invalid]:
    """Observations broken in the way ``kind`` says (``wrong_agent``: multi-agent only)."""
    specs = dict(contract.observation)
    names = kind in ("wrong_key", "wrong_agent")
    if (names and (kind == "wrong_agent") != bool(contract.agents)) or not _eligible(kind, specs):
        return st.nothing()

    def build(b: int, s: int, pick: int) -> Invalid:
        obs = inputs.make_observation(contract, b, _gen(s))
        return _break_mapping(kind, "obs", obs, specs, pick)

    return st.builds(build, _batches, _seeds, st.integers(0, 63))


def invalid_states(contract: IOContract, kind: InvalidKind) -> st.SearchStrategy[Invalid]:
    """States broken in the way ``kind`` says (a dropped key for ``wrong_key``)."""
    specs = dict(contract.state)
    if kind == "wrong_agent" or not _eligible(kind, specs):
        return st.nothing()

    def build(b: int, s: int, pick: int) -> Invalid:
        state = inputs.make_state(contract, b, _gen(s))
        if kind == "wrong_key":
            key = list(state.tensors)[pick % len(state.tensors)]
            rest = {k: v for k, v in state.tensors.items() if k != key}
            return Invalid(kind, f"State without {key!r}", State(rest))
        broken = _break_mapping(kind, "State", dict(state.tensors), specs, pick)
        return Invalid(kind, broken.where, State(broken.value))

    return st.builds(build, _batches, _seeds, st.integers(0, 63))


def _action_breakable(kind: InvalidKind, spec: ActionSpec) -> bool:
    if kind == "wrong_agent":
        return spec.kind == "joint"
    if kind == "nan":
        subs = (spec.agents or {}).values() if spec.kind == "joint" else [spec]
        return any(s.kind == "continuous" for s in subs)
    return kind != "wrong_key"


def invalid_actions(spec: ActionSpec | None, kind: InvalidKind) -> st.SearchStrategy[Invalid]:
    """Action batches broken in the way ``kind`` says (``wrong_agent``: joint only)."""
    if spec is None or not _action_breakable(kind, spec):
        return st.nothing()

    def build(b: int, s: int, pick: int) -> Invalid:
        action = inputs.make_action(spec, (b,), _gen(s))
        if not isinstance(action, ActionPayload):
            return _break_action(kind, spec, action, pick)
        agents = dict(action.agents or {})
        if kind == "wrong_agent":
            broken = _break_mapping(kind, "action", agents, {}, pick)
            return Invalid(kind, broken.where, ActionPayload("joint", agents=broken.value))
        subs = spec.agents or {}
        names = [n for n in spec.agent_names if _action_breakable(kind, subs[n])]
        name = names[pick % len(names)]
        one = _break_action(kind, subs[name], agents[name], pick)
        joint = ActionPayload("joint", agents={**agents, name: one.value})
        return Invalid(kind, f"action[{name!r}]", joint)

    return st.builds(build, _batches, _seeds, st.integers(0, 63))


def _break_action(kind: InvalidKind, spec: ActionSpec, action: torch.Tensor, pick: int) -> Invalid:
    if kind == "wrong_shape":
        return Invalid(kind, "action", action.unsqueeze(-1))
    if kind == "wrong_dtype":
        wrong = action.float() if spec.kind != "continuous" else action.long()
        return Invalid(kind, "action", wrong)
    broken = action.clone()
    broken.view(-1)[pick % broken.numel()] = float("nan")
    return Invalid(kind, "action", broken)


def check_property(
    strategy: st.SearchStrategy[Any],
    body: Callable[[Any], None],
    *,
    max_examples: int,
    derandomize: bool,
) -> None:
    """Run ``body`` on examples drawn from ``strategy``, re-raising the minimal failure.

    Runs without a deadline, example database or health checks, so that timing and
    the environment never make a conformance run flaky.
    """

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(strategy)
    def run(value: Any) -> None:
        body(value)

    run()
