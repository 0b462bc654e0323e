"""pytest integration: the ``wmsdk`` plugin and `parametrize_with_checks`.

Registered through the ``pytest11`` entry point, the plugin adds

* options ``--wm-target`` (repeatable; or the ``WMSDK_TARGET`` environment variable,
  comma-separated), ``--wm-thorough``, ``--wm-max-examples`` and
  ``--wm-allow-missing-extras``;
* a ``wm_target`` parameter (every target given, or every registered model) for any
  test that asks for ``wm_context``, a session-scoped `CheckContext`.

Authors who prefer one test per check in their own suite use `parametrize_with_checks`:

Example:
    ```python
    from worldmodel_sdk.conformance import parametrize_with_checks

    @parametrize_with_checks("my_pkg.models:make_model")
    def test_conformance(check):
        check()
    ```
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

__all__ = [
    "ENV_VAR",
    "PLUGIN_NAME",
    "ConformanceCase",
    "load_context",
    "parametrize_with_checks",
    "pytest_addoption",
    "pytest_generate_tests",
    "run_check_in_pytest",
    "targets",
    "wm_context",
]

PLUGIN_NAME = "wmsdk"
ENV_VAR = "WMSDK_TARGET"
_CONTEXTS: dict[tuple[str, str, int | None, bool], Any] = {}
# Contexts of factory callables, keyed by the callable's id and profile. Each entry
# holds the callable itself, so the id cannot be reused by another object while
# cached (names are no key: lambdas and partials share theirs).
_CALLABLE_CONTEXTS: dict[tuple[int, str], tuple[Callable[[], Any], Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--wm-*`` options."""
    group = parser.getgroup("wmsdk", "worldmodel-sdk conformance")
    group.addoption(
        "--wm-target",
        action="append",
        default=[],
        metavar="MODULE:FACTORY",
        help=f"model to check (repeatable); default: ${ENV_VAR}, else every registered model",
    )
    group.addoption(
        "--wm-thorough", action="store_true", help="use the thorough profile (more examples)"
    )
    group.addoption(
        "--wm-max-examples", type=int, default=None, help="Hypothesis examples per property"
    )
    group.addoption(
        "--wm-allow-missing-extras",
        action="store_true",
        help="checks whose optional extra (envs) is not installed are skipped, not failed",
    )


def targets(config: pytest.Config) -> list[str]:
    """Targets from ``--wm-target``, else ``$WMSDK_TARGET``, else every registered model."""
    given: list[str] = list(config.getoption("--wm-target") or [])
    if not given and os.environ.get(ENV_VAR):
        given = [t.strip() for t in os.environ[ENV_VAR].split(",") if t.strip()]
    if given:
        return given
    from .target import registered_targets

    return registered_targets()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``wm_target`` over the targets."""
    if "wm_target" in metafunc.fixturenames:
        specs = targets(metafunc.config)
        metafunc.parametrize("wm_target", specs, ids=specs, scope="session")


def load_context(
    spec: str,
    profile: str = "default",
    max_examples: int | None = None,
    allow_missing_extras: bool = False,
) -> Any:
    """A cached `CheckContext` for ``spec`` (the model is loaded once per session)."""
    key = (spec, profile, max_examples, allow_missing_extras)
    if key not in _CONTEXTS:
        from .context import CheckContext
        from .runner import resolve_profile
        from .target import load_target

        target = load_target(spec)
        target.model.eval()
        _CONTEXTS[key] = CheckContext(
            target, resolve_profile(profile, max_examples), allow_missing_extras
        )
    return _CONTEXTS[key]


@pytest.fixture(scope="session")
def wm_context(request: pytest.FixtureRequest, wm_target: str) -> Any:
    """The `CheckContext` of the target under check."""
    profile = "thorough" if request.config.getoption("--wm-thorough") else "default"
    return load_context(
        wm_target,
        profile,
        request.config.getoption("--wm-max-examples"),
        bool(request.config.getoption("--wm-allow-missing-extras")),
    )


def run_check_in_pytest(ctx: Any, name: str, xfail: Mapping[str, str] | None = None) -> None:
    """Run the check ``name`` and turn its result into a pytest outcome.

    Failed checks fail the test with the check's message; not-applicable checks are
    skipped; declared expected failures are reported as xfail.
    """
    from .registry import get_check
    from .results import Status
    from .runner import run_check

    result = run_check(ctx, get_check(name), xfail)
    if result.status is Status.FAILED:
        pytest.fail(result.message, pytrace=False)
    elif result.status is Status.NOT_APPLICABLE:
        pytest.skip(f"not applicable: {result.message}")
    elif result.status is Status.XFAIL:
        pytest.xfail(result.message)


class ConformanceCase:
    """One check on one target, callable from a test: ``check()``."""

    def __init__(
        self,
        target: str | Callable[[], Any],
        name: str,
        profile: str,
        xfail: Mapping[str, str],
    ) -> None:
        self.target = target
        self.name = name
        self.profile = profile
        self.xfail = dict(xfail)

    def __repr__(self) -> str:
        return f"ConformanceCase({self.name!r})"

    def context(self) -> Any:
        """The target's cached `CheckContext`."""
        spec = self.target
        if callable(spec):
            key = (id(spec), self.profile)
            cached = _CALLABLE_CONTEXTS.get(key)
            if cached is None or cached[0] is not spec:
                from .context import CheckContext
                from .runner import resolve_profile
                from .target import load_target

                target = load_target(spec)
                target.model.eval()
                ctx = CheckContext(target, resolve_profile(self.profile, None))
                cached = _CALLABLE_CONTEXTS[key] = (spec, ctx)
            return cached[1]
        return load_context(spec, self.profile)

    def __call__(self) -> None:
        """Run the check, failing, skipping or xfailing the calling test."""
        run_check_in_pytest(self.context(), self.name, self.xfail)


def parametrize_with_checks(
    target: str | Callable[[], Any],
    *,
    only: Iterable[str] = (),
    profile: str = "default",
    xfail: Mapping[str, str] | None = None,
) -> Any:
    """A ``pytest.mark.parametrize`` over the checks, passing a `ConformanceCase` as ``check``.

    Args:
        target: ``"pkg.mod:factory"``, a registry name, or a factory callable.
        only: Check names or areas to include (all if empty).
        profile: ``"default"`` or ``"thorough"``.
        xfail: Expected failures: check name to reason.

    The model is built once, on the first check that runs.
    """
    from .registry import select_checks

    names = [c.name for c in select_checks(only)]
    cases = [ConformanceCase(target, n, profile, xfail or {}) for n in names]
    return pytest.mark.parametrize("check", cases, ids=names)
