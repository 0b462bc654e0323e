"""The uncertainty checks: ensembles pass the whole suite; each broken model fails its check."""

from __future__ import annotations

import re

import pytest

from worldmodel_sdk.conformance import Status, run_checks

from .broken_uncertainty import SPEC

NUM = "<num>"


def _pattern(text: str) -> str:
    return re.escape(text).replace(re.escape(NUM), r"[0-9.e+-]+")


UNCERTAINTY = ["uncertainty.contract", "uncertainty.disagreement", "uncertainty.identical_members"]

# factory -> (every check it fails, the check whose message is pinned, that message)
CASES: dict[str, tuple[set[str], str, str]] = {
    "spread_undeclared": (
        {"uncertainty.contract"},
        "uncertainty.contract",
        "uncertainty.contract: SpreadUndeclared.io_contract().prediction: expected "
        "'obs.disagreement' beside 'obs' (epistemic_uncertainty is declared); got keys "
        "['obs', 'reward']",
    ),
    "spread_negative": (
        {"uncertainty.disagreement"},
        "uncertainty.disagreement",
        "uncertainty.disagreement: SpreadNegative.decode(state): expected "
        f"predictions['obs.disagreement'] >= 0 everywhere (a spread); got min {NUM}",
    ),
    "spread_zero": (
        {"uncertainty.disagreement"},
        "uncertainty.disagreement",
        "uncertainty.disagreement: SpreadZero.decode(state) and decode(transition(state, "
        "action, deterministic=True)): expected some positive disagreement (the model's "
        "members, trained or fresh, differ); got zero in every disagreement",
    ),
    "floored_ensemble": (
        {"uncertainty.identical_members"},
        "uncertainty.identical_members",
        "uncertainty.identical_members: FlooredEnsemble.decode(state) with every member a copy "
        "of member 0: expected predictions['obs.disagreement'] zero everywhere (the members "
        f"agree); got max {NUM}",
    ),
}


@pytest.mark.parametrize("factory", sorted(CASES))
def test_broken_model_fails_exactly_its_check(factory: str) -> None:
    failing, pinned, message = CASES[factory]
    spec = f"{SPEC}:{factory}"
    report = run_checks(spec)
    assert {r.check for r in report.failed} == failing
    reproduce = f"wmsdk check {spec} --only {pinned}"
    assert re.fullmatch(
        _pattern(f"{message}. Reproduce: {reproduce}"), report.result(pinned).message
    )


@pytest.mark.parametrize("factory", ["example_ensemble", "jopm_ensemble", "shared_state_ensemble"])
def test_ensembles_pass_the_whole_suite_uncertainty_included(factory: str) -> None:
    report = run_checks(f"{SPEC}:{factory}")
    assert report.ok, [r.message for r in report.failed]
    assert {report.result(name).status for name in UNCERTAINTY} == {Status.PASSED}


def test_models_without_the_capability_are_not_checked() -> None:
    report = run_checks("example", only=["uncertainty"])
    for name in UNCERTAINTY:
        result = report.result(name)
        assert result.status is Status.NOT_APPLICABLE
        assert result.message == "needs capabilities ['epistemic_uncertainty']"


def test_identical_members_applies_to_ensembles_only() -> None:
    report = run_checks(f"{SPEC}:spread_negative", only=["uncertainty.identical_members"])
    result = report.result("uncertainty.identical_members")
    assert result.status is Status.NOT_APPLICABLE
    assert result.message == "applies to Ensemble models, whose members can be made identical"
