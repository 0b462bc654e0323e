"""``update(..., deterministic=...)``: sampled posteriors, and subclasses written before it."""

import inspect

import torch

from worldmodel_sdk import ConditionPayload
from worldmodel_sdk.conformance import Status, Target, run_checks

from .goal_models import LegacyUpdate, SampledRSSM


def _inputs(model):
    state = model.encode(torch.zeros(2, 3), deterministic=True)
    goal = ConditionPayload(tensors={"goal": torch.ones(2, 2)})
    return state, torch.tensor([1, 2]), torch.randn(2, 3), goal


def test_sampled_posterior_draws_unless_deterministic():
    model = SampledRSSM()
    state, action, obs, goal = _inputs(model)
    drawn = [model.update(state, action, obs, goal)["z"] for _ in range(2)]
    assert not torch.equal(*drawn)
    torch.manual_seed(1)
    first = model.update(state, action, obs, goal, deterministic=True)["z"]
    torch.manual_seed(2)
    assert torch.equal(model.update(state, action, obs, goal, True)["z"], first)
    assert torch.equal(model.teacher_forcing_step(state, action, obs, goal, True)["z"], first)


def test_sampled_posterior_model_passes_the_conformance_suite():
    report = run_checks(Target(model=SampledRSSM(), spec="tests:SampledRSSM"))
    failed = {r.check: r.message for r in report.results if r.status is Status.FAILED}
    assert failed == {}
    assert report.result("determinism.repeat").status is Status.PASSED


def test_update_written_without_deterministic_keeps_working(monkeypatch):
    model = LegacyUpdate()
    model.seen = []
    state, action, obs, goal = _inputs(model)
    # Whether update takes the flag is decided when the class is made, not per call.
    monkeypatch.setattr(inspect, "signature", None)
    out = [
        model.update(state, action, obs, goal),
        model.update(state, action, obs, goal, True),
        model.update(state, action, obs, conditions=goal, deterministic=False),
        model.teacher_forcing_step(state, action, obs, goal, deterministic=True),
    ]
    assert model.seen == [(2, True)] * 4
    assert all(torch.equal(o["z"], out[0]["z"]) for o in out)


def test_legacy_update_shows_the_protocol_signature():
    params = list(inspect.signature(LegacyUpdate.update).parameters)
    assert params == ["self", "state", "action", "obs", "conditions", "deterministic"]
    report = run_checks(Target(model=LegacyUpdate(), spec="tests:LegacyUpdate"), only=["interface"])
    assert report.ok, [r.message for r in report.failed]
