"""The conformance suite: small named checks that any `WorldModel` must pass.

Run it from the command line (``wmsdk check pkg.mod:factory``), from pytest
(`parametrize_with_checks`, or ``pytest contracts --wm-target pkg.mod:factory``)
or from Python:

Example:
    ```python
    from worldmodel_sdk.conformance import run_checks

    report = run_checks("my_pkg.models:make_model")
    assert report.ok, [r.message for r in report.failed]
    ```
"""

from __future__ import annotations

import typing
from typing import Any

from .. import _lazy

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .context import CheckContext
    from .registry import AREAS, Check, all_checks, check, get_check, select_checks
    from .reports import junit_xml, write_json, write_junit_xml
    from .results import CheckFailure, CheckResult, NotApplicable, Report, Status
    from .runner import run_check, run_checks
    from .target import PROFILES, Profile, Target, load_target, registered_targets


def parametrize_with_checks(
    target: str | Callable[[], Any],
    *,
    only: Iterable[str] = (),
    profile: str = "default",
    xfail: Mapping[str, str] | None = None,
) -> Any:
    """A ``pytest.mark.parametrize`` over the checks (see `pytest_plugin.parametrize_with_checks`).

    pytest is imported only when this is called, so the suite runs without it.
    """
    from .pytest_plugin import parametrize_with_checks as impl

    return impl(target, only=only, profile=profile, xfail=xfail)


__all__ = [
    "AREAS",
    "PROFILES",
    "Check",
    "CheckContext",
    "CheckFailure",
    "CheckResult",
    "NotApplicable",
    "Profile",
    "Report",
    "Status",
    "Target",
    "all_checks",
    "check",
    "get_check",
    "junit_xml",
    "load_target",
    "parametrize_with_checks",
    "registered_targets",
    "run_check",
    "run_checks",
    "select_checks",
    "write_json",
    "write_junit_xml",
]

# Resolved on first use, so that the pytest plugin (``pytest_plugin``, loaded by every
# pytest run where the SDK is installed) imports nothing heavy until a test needs it.
_ORIGINS = {
    "CheckContext": ".context",
    "AREAS": ".registry",
    "Check": ".registry",
    "all_checks": ".registry",
    "check": ".registry",
    "get_check": ".registry",
    "select_checks": ".registry",
    "junit_xml": ".reports",
    "write_json": ".reports",
    "write_junit_xml": ".reports",
    "CheckFailure": ".results",
    "CheckResult": ".results",
    "NotApplicable": ".results",
    "Report": ".results",
    "Status": ".results",
    "run_check": ".runner",
    "run_checks": ".runner",
    "PROFILES": ".target",
    "Profile": ".target",
    "Target": ".target",
    "load_target": ".target",
    "registered_targets": ".target",
}

if not typing.TYPE_CHECKING:  # mypy sees the imports above; runtime resolves names on first use
    __getattr__, __dir__ = _lazy.lazy_attributes(__name__, _ORIGINS, globals())
