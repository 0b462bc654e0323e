"""`parametrize_with_checks` and the pytest plugin, run in a child pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from worldmodel_sdk.conformance import parametrize_with_checks
from worldmodel_sdk.conformance.pytest_plugin import ConformanceCase

from .broken import SPEC, LacksDeclaredHead, Tiny, tiny

pytest_plugins = ["pytester"]


@parametrize_with_checks(tiny, only=["rollout", "loss"])
def test_parametrize_with_checks_on_a_factory(check: object) -> None:
    check()  # type: ignore[operator]


def _cases(mark: pytest.MarkDecorator) -> list[ConformanceCase]:
    cases = mark.args[1]
    assert all(isinstance(case, ConformanceCase) for case in cases)
    return list(cases)


def test_factories_sharing_a_name_get_their_own_context() -> None:
    # Two lambdas in one module share the qualified name 'module:<lambda>'.
    first = _cases(parametrize_with_checks(lambda: LacksDeclaredHead(), only=["capabilities"]))
    second = _cases(parametrize_with_checks(lambda: Tiny(), only=["capabilities"]))
    assert type(first[0].context().model) is LacksDeclaredHead
    assert type(second[0].context().model) is Tiny
    assert first[0].context() is first[-1].context()
    failed = []
    for case in second:
        try:
            case()
        except pytest.fail.Exception:
            failed.append(case.name)
    assert failed == []
    with pytest.raises(pytest.fail.Exception, match="capabilities.prediction_heads"):
        next(c for c in first if c.name == "capabilities.prediction_heads")()


def test_partials_of_one_function_get_their_own_context() -> None:
    from functools import partial

    from .broken import MultiTiny, MultiTinyConfig

    small = _cases(parametrize_with_checks(partial(MultiTiny, MultiTinyConfig(obs_dim=2))))
    large = _cases(parametrize_with_checks(partial(MultiTiny, MultiTinyConfig(obs_dim=5))))
    assert small[0].context().model.config.obs_dim == 2
    assert large[0].context().model.config.obs_dim == 5


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
    result.assert_outcomes(passed=3, failed=1, skipped=2, xfailed=1)
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


def test_the_missing_extras_opt_out_reaches_the_plugin_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from worldmodel_sdk.conformance.pytest_plugin import load_context, run_check_in_pytest

    monkeypatch.setitem(sys.modules, "worldmodel_sdk.envs", None)
    strict = load_context(f"{SPEC}:multi_tiny")
    assert not strict.allow_missing_extras
    with pytest.raises(pytest.fail.Exception, match="expected the 'envs' extra installed"):
        run_check_in_pytest(strict, "env.pettingzoo_api")
    lenient = load_context(f"{SPEC}:multi_tiny", allow_missing_extras=True)
    with pytest.raises(pytest.skip.Exception, match="skipped as --allow-missing-extras asks"):
        run_check_in_pytest(lenient, "env.pettingzoo_api")
