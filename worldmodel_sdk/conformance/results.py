"""Outcomes of conformance checks: `Status`, `CheckFailure`, `CheckResult`, `Report`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["CheckFailure", "CheckResult", "NotApplicable", "Report", "Status"]


class Status(str, Enum):
    """What happened when a check ran."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"
    XFAIL = "xfail"

    def __str__(self) -> str:
        return self.value


class CheckFailure(AssertionError):
    """Raised by a check when the model does not do what the protocol says.

    Attributes:
        call: The call that misbehaved, e.g. ``model.rollout(state, actions[T=3, B=2])``.
        expected: What the protocol expects.
        got: What arrived.
    """

    def __init__(self, call: str, expected: str, got: str) -> None:
        super().__init__(f"{call}: expected {expected}; got {got}")
        self.call = call
        self.expected = expected
        self.got = got


class NotApplicable(Exception):
    """Raised by a check (or its applicability test) when it does not apply to the model."""


@dataclass(slots=True)
class CheckResult:
    """The result of one check on one target.

    Attributes:
        check: The check's name, ``area.name``.
        status: What happened.
        time: Wall time in seconds.
        message: Why it failed, was not applicable or was expected to fail; or a note.
        call: For failures, the call that misbehaved.
        expected: For failures, what was expected.
        got: For failures, what arrived.
        reproduce: A command line that runs this check alone.
    """

    check: str
    status: Status
    time: float
    message: str = ""
    call: str = ""
    expected: str = ""
    got: str = ""
    reproduce: str = ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict of the result."""
        return {
            "check": self.check,
            "status": self.status.value,
            "time": round(self.time, 6),
            "message": self.message,
            "call": self.call,
            "expected": self.expected,
            "got": self.got,
            "reproduce": self.reproduce,
        }


@dataclass(slots=True)
class Report:
    """All results of one conformance run on one target.

    Attributes:
        target: The target spec (``pkg.mod:factory`` or a registry name).
        model: The model class, ``module:QualName``.
        profile: The profile name (``default`` or ``thorough``).
        results: One result per selected check, in registry order.
    """

    target: str
    model: str
    profile: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no check failed."""
        return all(r.status is not Status.FAILED for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        """The failed results."""
        return [r for r in self.results if r.status is Status.FAILED]

    @property
    def counts(self) -> dict[str, int]:
        """Number of results per status, every status present."""
        seen = Counter(r.status.value for r in self.results)
        return {s.value: seen.get(s.value, 0) for s in Status}

    @property
    def time(self) -> float:
        """Total time of all checks, in seconds."""
        return sum(r.time for r in self.results)

    def result(self, check: str) -> CheckResult:
        """The result of the check named ``check``.

        Raises:
            KeyError: if the check was not run.
        """
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(f"check {check!r} was not run; ran: {[r.check for r in self.results]}")

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict of the report."""
        return {
            "target": self.target,
            "model": self.model,
            "profile": self.profile,
            "ok": self.ok,
            "counts": self.counts,
            "time": round(self.time, 6),
            "results": [r.to_dict() for r in self.results],
        }
