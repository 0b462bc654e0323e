"""The runner, reports (JSON, JUnit XML), profiles, selection and expected failures."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from worldmodel_sdk.conformance import (
    AREAS,
    PROFILES,
    Status,
    Target,
    all_checks,
    get_check,
    junit_xml,
    load_target,
    run_checks,
    select_checks,
    write_json,
    write_junit_xml,
)
from worldmodel_sdk.conformance.runner import resolve_profile

from .broken import SPEC, Tiny, loss_not_finite


def test_every_check_is_named_area_dot_name_and_documented() -> None:
    for check in all_checks():
        assert check.area in AREAS
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", check.name)
        assert check.doc


def test_contracts_has_one_test_per_check() -> None:
    root = Path(__file__).resolve().parents[2] / "contracts"
    found = set()
    for area in AREAS:
        text = (root / f"test_{area}.py").read_text()
        found |= set(re.findall(r'run\(wm_context, "([a-z_.]+)"\)', text))
    assert found == {c.name for c in all_checks()}


def test_select_checks_by_name_and_area() -> None:
    names = [c.name for c in select_checks(["loss", "rollout.horizon"])]
    assert names == ["rollout.horizon", "loss.scalar", "loss.finite", "loss.gradients"]
    with pytest.raises(KeyError, match=re.escape("unknown check 'rollout.horizn'. Did you mean")):
        select_checks(["rollout.horizn"])
    with pytest.raises(KeyError, match=re.escape("unknown check 'nope'.")):
        get_check("nope")


def test_not_applicable_is_not_passed() -> None:
    report = run_checks("vae", only=["rollout.horizon", "env"])
    assert {r.status for r in report.results} == {Status.NOT_APPLICABLE}
    assert report.result("rollout.horizon").message == "needs capabilities ['latent_dynamics']"
    assert report.ok


def test_declared_expected_failure_is_xfail() -> None:
    report = run_checks(loss_not_finite, only=["loss"], xfail={"loss.finite": "known inf"})
    result = report.result("loss.finite")
    assert result.status is Status.XFAIL
    assert result.message.startswith("expected failure (known inf): loss.finite: ")
    assert report.ok


def test_expected_failure_that_passes_fails() -> None:
    target = Target(model=Tiny(), xfail={"loss.finite": "stale"}, spec="tiny")
    report = run_checks(target, only=["loss.finite"])
    assert report.result("loss.finite").status is Status.FAILED
    assert report.result("loss.finite").message == (
        "loss.finite: declared as an expected failure (stale) but it passed; remove the declaration"
    )


def test_targets_load_from_spec_name_callable_model_and_pair() -> None:
    assert load_target(f"{SPEC}:tiny").spec == f"{SPEC}:tiny"
    assert load_target("example").spec == "example"
    assert load_target(Tiny).spec.endswith(":Tiny")
    assert load_target(Tiny()).sample is None
    assert load_target(f"{SPEC}:with_sample").sample is not None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon_here:", "target 'no_colon_here:' must look like 'pkg.module:factory'"),
        ("not.a.module:f", "cannot import 'not.a.module' for target 'not.a.module:f'"),
        (f"{SPEC}:missing", f"module '{SPEC}' has no attribute 'missing'"),
        (f"{SPEC}:SPEC", f"{SPEC}:SPEC is not callable; got str"),
    ],
)
def test_bad_targets_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_target(spec)


def test_factory_returning_junk_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must return a WorldModel, a \\(WorldModel, Worl"):
        load_target(lambda: 3)


def test_profiles() -> None:
    assert PROFILES["default"].derandomize
    assert PROFILES["thorough"].max_examples > PROFILES["default"].max_examples
    assert resolve_profile("default", 3).max_examples == 3
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        resolve_profile("fast")


def test_json_and_junit_reports(tmp_path: Path) -> None:
    report = run_checks(f"{SPEC}:loss_not_finite", only=["loss", "env.gymnasium_api"])
    write_json(report, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] is False
    assert data["counts"] == {"passed": 2, "failed": 1, "not_applicable": 1, "xfail": 0}
    failed = [r for r in data["results"] if r["status"] == "failed"][0]
    assert failed["check"] == "loss.finite"
    assert failed["reproduce"] == f"wmsdk check {SPEC}:loss_not_finite --only loss.finite"
    assert set(failed) == {
        "check",
        "status",
        "time",
        "message",
        "call",
        "expected",
        "got",
        "reproduce",
    }
    write_junit_xml([report], tmp_path / "r.xml")
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    failure = suite.find(
        "testcase[@name='loss.finite[tests.conformance.broken:loss_not_finite]']/failure"
    )
    assert failure is not None and "reproduce: wmsdk check" in (failure.text or "")
    assert junit_xml(report).startswith("<?xml")
