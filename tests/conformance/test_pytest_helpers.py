"""`parametrize_with_checks` and the pytest plugin, run in a child pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from worldmodel_sdk.conformance import parametrize_with_checks

from .broken import SPEC, tiny

pytest_plugins = ["pytester"]


@parametrize_with_checks(tiny, only=["rollout", "loss"])
def test_parametrize_with_checks_on_a_factory(check: object) -> None:
    check()  # type: ignore[operator]


def test_outcomes_in_a_child_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        from worldmodel_sdk.conformance import parametrize_with_checks

        @parametrize_with_checks("{SPEC}:loss_not_finite", only=["loss", "env.gymnasium_api"])
        def test_plain(check):
            check()

        @parametrize_with_checks(
            "{SPEC}:loss_not_finite", only=["loss.finite"], xfail={{"loss.finite": "known"}}
        )
        def test_xfail(check):
            check()
        """
    )
    root = Path(__file__).resolve().parents[2]
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        f"--rootdir={pytester.path}",
        "-o",
        f"pythonpath={root}",
    )
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            f"*loss.finite: LossNotFinite.loss(batch*Reproduce: wmsdk check {SPEC}:loss_not_finite --only loss.finite*"
        ]
    )


def test_plugin_options_in_a_child_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from worldmodel_sdk.conformance import pytest_plugin

        def pytest_addoption(parser, pluginmanager):
            if not pluginmanager.is_registered(pytest_plugin):
                pluginmanager.register(pytest_plugin, pytest_plugin.PLUGIN_NAME)
        """
    )
    pytester.makepyfile(
        """
        from worldmodel_sdk.conformance.pytest_plugin import run_check_in_pytest

        def test_horizon(wm_context):
            run_check_in_pytest(wm_context, "rollout.horizon")
        """
    )
    root = Path(__file__).resolve().parents[2]
    args = ["-p", "no:cacheprovider", "-p", "no:asyncio", "-o", f"pythonpath={root}", "-v"]
    result = pytester.runpytest_subprocess(
        *args, "--wm-target", f"{SPEC}:rollout_off_by_one", "--wm-target", f"{SPEC}:tiny"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_horizon?tests.conformance.broken:tiny? PASSED*"])
