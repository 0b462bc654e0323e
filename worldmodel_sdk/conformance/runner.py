"""Run conformance checks on a target and collect a `Report`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from ..model import WorldModel
from .context import CheckContext
from .registry import Check, get_check, select_checks
from .results import CheckFailure, CheckResult, NotApplicable, Report, Status
from .target import PROFILES, Profile, Target, load_target

__all__ = [
    "SAMPLE_CHECK",
    "resolve_profile",
    "run_check",
    "run_checks",
]


def _failure(ctx: CheckContext, check: Check, call: str, expected: str, got: str) -> CheckResult:
    reproduce = ctx.reproduce(check.name)
    got = got.rstrip(". ")
    message = f"{check.name}: {call}: expected {expected}; got {got}. Reproduce: {reproduce}"
    return CheckResult(
        check.name, Status.FAILED, 0.0, message, call, expected, got, reproduce=reproduce
    )


SAMPLE_CHECK = "contract.sample"


def _execute(ctx: CheckContext, check: Check) -> CheckResult:
    try:
        if check.name != SAMPLE_CHECK and ctx.sample_error is not None:
            skipped = f"the factory's sample does not fit the contract (see {SAMPLE_CHECK})"
            return CheckResult(check.name, Status.NOT_APPLICABLE, 0.0, skipped)
        reason = check.not_applicable(ctx)
        if reason is not None:
            return CheckResult(check.name, Status.NOT_APPLICABLE, 0.0, reason)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.profile.seed)
            note = check.fn(ctx)
    except NotApplicable as exc:
        return CheckResult(check.name, Status.NOT_APPLICABLE, 0.0, str(exc))
    except CheckFailure as exc:
        return _failure(ctx, check, exc.call, exc.expected, exc.got)
    except Exception as exc:  # a crash in the check (or an un-wrapped model call)
        call = f"{check.name} on {type(ctx.model).__name__}"
        return _failure(ctx, check, call, "no exception", f"{type(exc).__name__}: {exc}")
    return CheckResult(check.name, Status.PASSED, 0.0, note or "")


def run_check(
    ctx: CheckContext, check: Check, xfail: Mapping[str, str] | None = None
) -> CheckResult:
    """Run one check, timing it and applying a declared expected failure.

    An expected failure that passes is reported as failed, so stale declarations
    are noticed.
    """
    start = time.perf_counter()
    result = _execute(ctx, check)
    result.time = time.perf_counter() - start
    reasons = {**ctx.target.xfail, **(xfail or {})}
    reason = reasons.get(check.name)
    if reason is None:
        return result
    if result.status is Status.FAILED:
        result.status = Status.XFAIL
        result.message = f"expected failure ({reason}): {result.message}"
    elif result.status is Status.PASSED:
        result.status = Status.FAILED
        result.message = (
            f"{check.name}: declared as an expected failure ({reason}) but it passed; remove "
            "the declaration"
        )
    return result


def run_checks(
    target: str | Callable[[], Any] | WorldModel | Target,
    *,
    only: Iterable[str] = (),
    profile: Profile | str = "default",
    max_examples: int | None = None,
    xfail: Mapping[str, str] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[Check, int, int], None] | None = None,
    allow_missing_extras: bool = False,
) -> Report:
    """Run the selected checks on ``target`` and return the report.

    The model is put in eval mode; the checks that cover train mode switch it there
    and back themselves. A factory's sample is validated first: if it does not fit
    the contract, ``contract.sample`` fails (whatever ``only`` says) and every other
    check is reported as not applicable.

    Args:
        target: ``"pkg.mod:factory"``, a registry name, a ``save_pretrained``
            directory, a factory, a model or a `Target`.
        only: Check names or areas to run (all if empty).
        profile: ``"default"``, ``"thorough"`` or a `Profile`.
        max_examples: Override the profile's Hypothesis example count.
        xfail: Expected failures (check name to reason), on top of the target's.
        on_result: Called with each result as it is produced (for progress output).
        on_start: Called with each check, its index and the number of checks, before it runs.
        allow_missing_extras: Checks needing an optional extra that is not installed are
            not applicable instead of failed.

    Example:
        >>> report = run_checks("example", only=["rollout"])
        >>> report.ok
        True
    """
    prof = resolve_profile(profile, max_examples)
    loaded = load_target(target)
    loaded.model.eval()
    ctx = CheckContext(loaded, prof, allow_missing_extras=allow_missing_extras)
    report = Report(loaded.spec, loaded.model_name, prof.name)
    checks = select_checks(only)
    if ctx.sample_error is not None and all(c.name != SAMPLE_CHECK for c in checks):
        checks.insert(0, get_check(SAMPLE_CHECK))
    for i, check in enumerate(checks):
        if on_start is not None:
            on_start(check, i, len(checks))
        result = run_check(ctx, check, xfail)
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report


def resolve_profile(profile: Profile | str, max_examples: int | None = None) -> Profile:
    """The profile named ``profile`` (or given), with ``max_examples`` overridden if set.

    Raises:
        ValueError: for an unknown profile name.
    """
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
        profile = PROFILES[profile]
    if max_examples is None:
        return profile
    return dataclasses.replace(profile, max_examples=max_examples)
