"""Contract checks: ``io_contract()`` is valid and stable; validation accepts and rejects.

Payloads are drawn by Hypothesis from the contract itself: every valid one must
pass the model's ``validate_*`` methods, and every invalid one (wrong key, shape,
dtype, agent, NaN where forbidden) must be rejected with `ContractError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from ...contract import FINGERPRINT_PREFIX, IOContract
from ...errors import ContractError
from ..asserts import describe
from ..context import CheckContext
from ..registry import check
from ..results import CheckFailure, NotApplicable
from ..strategies import (
    Invalid,
    InvalidKind,
    check_property,
    invalid_actions,
    invalid_observations,
    invalid_states,
    valid_actions,
    valid_observations,
    valid_states,
)

__all__ = [
    "accepts_valid",
    "fingerprint",
    "rejects_nan",
    "rejects_wrong_agent",
    "rejects_wrong_dtype",
    "rejects_wrong_key",
    "rejects_wrong_shape",
    "sample",
    "valid",
]


@check("contract.valid")
def valid(ctx: CheckContext) -> None:
    """``io_contract()`` returns an `IOContract` that survives a JSON round trip."""
    contract: object = ctx.model.io_contract()
    call = f"{ctx.name}.io_contract()"
    if not isinstance(contract, IOContract):
        raise CheckFailure(call, "an IOContract", type(contract).__name__)
    again = IOContract.model_validate_json(contract.model_dump_json())
    if again != contract:
        raise CheckFailure(
            f"IOContract.model_validate_json({call}.model_dump_json())",
            "an equal contract",
            again.canonical_json(),
        )
    if not contract.observation and not contract.state:
        raise CheckFailure(call, "observation or state specs", "an empty contract")


def _has_sample(ctx: CheckContext) -> str | None:
    return None if ctx.target.sample is not None else "the factory returns no sample"


@check("contract.sample", applies=_has_sample)
def sample(ctx: CheckContext) -> None:
    """The factory's sample fits the contract (every other check uses it)."""
    if ctx.sample_error is not None:
        raise CheckFailure(
            f"{ctx.name}.validate_batch_contract(sample)",
            "a sample that fits the contract",
            f"ContractError: {ctx.sample_error}",
        )


@check("contract.fingerprint")
def fingerprint(ctx: CheckContext) -> None:
    """The fingerprint is versioned and stable across calls, rebuilds and round trips."""
    call = f"{ctx.name}.contract_fingerprint()"
    first = ctx.model.contract_fingerprint()
    if not first.startswith(FINGERPRINT_PREFIX) or len(first) != len(FINGERPRINT_PREFIX) + 64:
        raise CheckFailure(call, f"'{FINGERPRINT_PREFIX}<sha256 hex>'", repr(first))
    rebuilt = ctx.model.io_contract().fingerprint
    if rebuilt != first:
        raise CheckFailure(f"{ctx.name}.io_contract().fingerprint", first, rebuilt)
    parsed = IOContract.model_validate_json(ctx.contract.canonical_json()).fingerprint
    if parsed != first:
        raise CheckFailure("fingerprint after a canonical JSON round trip", first, parsed)
    if ctx.model.contract_fingerprint() != first:
        raise CheckFailure(f"a second {call}", first, ctx.model.contract_fingerprint())


def _accepts(call: str, validate: Callable[[Any], None]) -> Callable[[Any], None]:
    def body(value: Any) -> None:
        try:
            validate(value)
        except ContractError as exc:
            raise CheckFailure(
                f"{call} on a valid {describe(value)}", "no error", f"ContractError: {exc}"
            ) from None

    return body


@check("contract.accepts_valid")
def accepts_valid(ctx: CheckContext) -> None:
    """Valid observations, actions and states drawn from the contract are accepted."""
    model, c, prof = ctx.model, ctx.contract, ctx.profile
    runs: list[tuple[str, st.SearchStrategy[Any], Callable[[Any], None]]] = []
    if c.observation:
        runs.append(("validate_observation", valid_observations(c), model.validate_observation))
    if c.action is not None:
        runs.append(("validate_action", valid_actions(c.action), model.validate_action))
    if c.state:
        runs.append(("validate_state_contract", valid_states(c), model.validate_state_contract))
    for method, strategy, validate in runs:
        body = _accepts(f"{ctx.name}.{method}(...)", validate)
        check_property(strategy, body, max_examples=prof.max_examples, derandomize=prof.derandomize)


def _rejects(ctx: CheckContext, kind: InvalidKind) -> None:
    model, c = ctx.model, ctx.contract
    cases: list[tuple[str, st.SearchStrategy[Invalid], Callable[[Any], None]]] = [
        ("validate_observation", invalid_observations(c, kind), model.validate_observation),
        ("validate_action", invalid_actions(c.action, kind), model.validate_action),
        ("validate_state_contract", invalid_states(c, kind), model.validate_state_contract),
    ]
    cases = [case for case in cases if not case[1].is_empty]
    if not cases:
        raise NotApplicable(f"the contract has nothing that can be broken as {kind!r}")
    for method, strategy, validate in cases:

        def body(bad: Invalid, method: str = method, validate: Any = validate) -> None:
            call = f"{ctx.name}.{method}(<{bad.kind} at {bad.where}>)"
            try:
                validate(bad.value)
            except ContractError:
                return
            except Exception as exc:
                raise CheckFailure(call, "ContractError", f"{type(exc).__name__}: {exc}") from None
            raise CheckFailure(call, "ContractError", "no error (the payload was accepted)")

        check_property(
            strategy,
            body,
            max_examples=ctx.profile.max_examples,
            derandomize=ctx.profile.derandomize,
        )


@check("contract.rejects_wrong_key")
def rejects_wrong_key(ctx: CheckContext) -> None:
    """Observations with a missing or unexpected key, and states missing a key, are rejected.

    States may carry extra tensors beyond the contract, so an unexpected state key
    is not an error.
    """
    _rejects(ctx, "wrong_key")


@check("contract.rejects_wrong_shape")
def rejects_wrong_shape(ctx: CheckContext) -> None:
    """Observations, actions and states of the wrong shape are rejected."""
    _rejects(ctx, "wrong_shape")


@check("contract.rejects_wrong_dtype")
def rejects_wrong_dtype(ctx: CheckContext) -> None:
    """Observations, actions and states of the wrong dtype are rejected."""
    _rejects(ctx, "wrong_dtype")


@check("contract.rejects_wrong_agent")
def rejects_wrong_agent(ctx: CheckContext) -> None:
    """Multi-agent observations and joint actions with a missing or unknown agent are rejected."""
    _rejects(ctx, "wrong_agent")


@check("contract.rejects_nan")
def rejects_nan(ctx: CheckContext) -> None:
    """NaN in a tensor whose spec forbids non-finite values is rejected."""
    _rejects(ctx, "nan")
