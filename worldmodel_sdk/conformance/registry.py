"""The registry of conformance checks and how a check declares where it applies.

A check is a small function taking a `CheckContext`. It raises `CheckFailure` when
the model misbehaves, `NotApplicable` when it turns out not to apply, and may
return a short note. Register it with `check`::

    @check("rollout.horizon", requires=(Capability.LATENT_DYNAMICS,))
    def horizon(ctx: CheckContext) -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..capabilities import Capability
from .context import CheckContext

__all__ = [
    "AREAS",
    "Applies",
    "Check",
    "CheckFn",
    "all_checks",
    "check",
    "get_check",
    "select_checks",
]

AREAS = (
    "interface",
    "capabilities",
    "contract",
    "outputs",
    "uncertainty",
    "determinism",
    "sensitivity",
    "rollout",
    "loss",
    "persistence",
    "wire",
    "env",
)

CheckFn = Callable[[CheckContext], "str | None"]
Applies = Callable[[CheckContext], "str | None"]


@dataclass(frozen=True, slots=True)
class Check:
    """One named conformance check.

    Attributes:
        name: ``area.name``, e.g. ``rollout.horizon``.
        fn: The check itself.
        requires: Capabilities the model must declare for the check to apply.
        applies: Extra applicability test: returns why the check does not apply, or None.
        doc: One-line description (the function's docstring summary).
    """

    name: str
    fn: CheckFn
    requires: tuple[Capability, ...] = ()
    applies: Applies | None = None
    doc: str = ""

    @property
    def area(self) -> str:
        """The area, the part of the name before the dot."""
        return self.name.split(".", 1)[0]

    def not_applicable(self, ctx: CheckContext) -> str | None:
        """Why the check does not apply to ``ctx``'s model, or None if it does."""
        missing = [c.value for c in self.requires if c not in ctx.capabilities]
        if missing:
            return f"needs capabilities {missing}"
        return self.applies(ctx) if self.applies is not None else None


_CHECKS: dict[str, Check] = {}


def check(
    name: str, *, requires: Iterable[Capability] = (), applies: Applies | None = None
) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check ``name`` (``area.name``)."""
    area = name.split(".", 1)[0]
    if area not in AREAS or "." not in name:
        raise ValueError(f"check name {name!r} must be 'area.name' with area in {AREAS}")

    def decorator(fn: CheckFn) -> CheckFn:
        if name in _CHECKS and _CHECKS[name].fn is not fn:
            raise ValueError(f"check {name!r} is already registered")
        doc = (fn.__doc__ or "").strip().splitlines()
        _CHECKS[name] = Check(name, fn, tuple(requires), applies, doc[0] if doc else "")
        return fn

    return decorator


def _load() -> None:
    from . import checks  # noqa: F401  (registers the built-in checks)


def all_checks() -> list[Check]:
    """Every registered check, grouped by area in `AREAS` order."""
    _load()
    order = {a: i for i, a in enumerate(AREAS)}
    return sorted(_CHECKS.values(), key=lambda c: order[c.area])


def get_check(name: str) -> Check:
    """The check called ``name``.

    Raises:
        KeyError: with the closest known names, if there is no such check.
    """
    _load()
    try:
        return _CHECKS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_CHECKS), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown check {name!r}.{hint}") from None


def select_checks(only: Iterable[str] = ()) -> list[Check]:
    """Checks named in ``only`` (full names or areas); every check if ``only`` is empty."""
    wanted = list(only)
    checks = all_checks()
    if not wanted:
        return checks
    chosen = []
    for check_ in checks:
        if check_.name in wanted or check_.area in wanted:
            chosen.append(check_)
    known = {c.name for c in checks} | set(AREAS)
    for name in wanted:
        if name not in known:
            get_check(name)  # raises with a hint
    return chosen
