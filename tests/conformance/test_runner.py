"""The runner, reports (JSON, JUnit XML), profiles, selection and expected failures."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

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
from worldmodel_sdk.conformance.reports import REPORT_VERSION
from worldmodel_sdk.conformance.runner import resolve_profile
from worldmodel_sdk.registry import create_model

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
    assert names == [
        "rollout.horizon",
        "loss.scalar",
        "loss.finite",
        "loss.gradients",
        "loss.batch_unchanged",
        "loss.uses_targets",
    ]
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
    assert data["report_version"] == REPORT_VERSION == 1
    assert data["counts"] == {"passed": 3, "failed": 1, "not_applicable": 2, "xfail": 0}
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
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "1", "2")
    failure = suite.find(
        "testcase[@name='loss.finite[tests.conformance.broken:loss_not_finite]']/failure"
    )
    assert failure is not None and "reproduce: wmsdk check" in (failure.text or "")
    assert junit_xml(report).startswith("<?xml")


def test_a_saved_model_directory_is_a_target(tmp_path: Path) -> None:
    model = create_model("rdlm")
    model.save_pretrained(tmp_path / "rdlm")
    target = load_target(str(tmp_path / "rdlm"))
    assert target.spec == str(tmp_path / "rdlm") and target.factory is not None
    assert torch.equal(
        target.model.state_dict()["rnn.weight_ih_l0"], model.state_dict()["rnn.weight_ih_l0"]
    )
    report = run_checks(target, only=["persistence", "rollout.horizon"])
    assert report.ok, [r.message for r in report.failed]


def test_an_invalid_sample_fails_first_and_nothing_else_runs() -> None:
    report = run_checks(f"{SPEC}:invalid_sample", only=["rollout", "loss.scalar"])
    first = report.results[0]
    assert first.check == "contract.sample" and first.status is Status.FAILED
    assert first.message == (
        "contract.sample: Tiny.validate_batch_contract(sample): expected a sample that fits "
        "the contract; got ContractError: obs['obs'] has shape (2, 3, 5); contract expects "
        "(B, T, 4) [Tiny.validate_batch_contract]. Reproduce: wmsdk check "
        f"{SPEC}:invalid_sample --only contract.sample"
    )
    rest = report.results[1:]
    assert len(rest) == 10
    assert {r.status for r in rest} == {Status.NOT_APPLICABLE}
    assert rest[0].message == "the factory's sample does not fit the contract (see contract.sample)"
    assert run_checks(f"{SPEC}:with_sample", only=["contract.sample"]).ok
    no_sample = run_checks(f"{SPEC}:tiny", only=["contract.sample"]).results[0]
    assert no_sample.status is Status.NOT_APPLICABLE


def test_env_checks_fail_loudly_without_the_envs_extra_unless_opted_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "worldmodel_sdk.envs", None)
    report = run_checks(f"{SPEC}:multi_tiny", only=["env"])
    result = report.result("env.pettingzoo_api")
    assert result.status is Status.FAILED
    assert result.message.startswith(
        "env.pettingzoo_api: import worldmodel_sdk.envs: expected the 'envs' extra installed (pip "
        "install 'worldmodel-sdk[envs]'), or --allow-missing-extras to skip the env checks; "
        "got ModuleNotFoundError: import of worldmodel_sdk.envs halted; None in sys.modules"
    )
    opted = run_checks(f"{SPEC}:multi_tiny", only=["env"], allow_missing_extras=True)
    assert {r.status for r in opted.results} == {Status.NOT_APPLICABLE}
    assert opted.ok


def test_run_checks_reports_each_check_before_it_runs() -> None:
    started: list[tuple[str, int, int]] = []
    run_checks(
        f"{SPEC}:tiny",
        only=["loss.scalar", "loss.finite"],
        on_start=lambda c, i, n: started.append((c.name, i, n)),
    )
    assert started == [("loss.scalar", 0, 2), ("loss.finite", 1, 2)]
