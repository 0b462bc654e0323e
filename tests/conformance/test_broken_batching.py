"""Broken imagination and coalescing models fail exactly their checks, with the exact message."""

from __future__ import annotations

import re

import pytest

from worldmodel_sdk.conformance import run_checks

from .broken_batching import SPEC

NUM = "<num>"
TOL = "values within rtol=1e-4, atol=1e-5"


def _pattern(text: str) -> str:
    return re.escape(text).replace(re.escape(NUM), r"[0-9.e+-]+")


# factory -> (every check it fails, the check whose message is pinned, that message)
CASES: dict[str, tuple[set[str], str, str]] = {
    "imagine_skips_policy": (
        {"rollout.imagine_policy"},
        "rollout.imagine_policy",
        "rollout.imagine_policy: ImagineSkipsPolicy.imagine(state, policy, 3, deterministic=True): "
        "expected 3 policy calls, one per step; got 1 call",
    ),
    "imagine_ignores_deterministic": (
        {"rollout.imagine_replays"},
        "rollout.imagine_replays",
        "rollout.imagine_replays: ImagineIgnoresDeterministic.imagine(state, policy, 3, "
        "deterministic=True): states[1] vs its replay by rollout: expected State['z']: "
        f"{TOL}; got max abs difference {NUM}",
    ),
    "transition_coupled": (
        {
            "determinism.batch_independence",
            "determinism.batch_independence_train_mode",
            "rollout.coalesced_async",
        },
        "rollout.coalesced_async",
        "rollout.coalesced_async: 3 concurrent await TransitionCoupled.async_rollout(item, ...) "
        "under no_grad: item 0 vs its rollout alone: states[1]: expected State['z']: "
        f"{TOL}; got max abs difference {NUM}",
    ),
}

# Models of tests.conformance.broken whose flaw these checks see as well.
ALSO_FAILING: dict[str, set[str]] = {
    "async_differs": {"rollout.coalesced_async"},
    "async_predictions_differ": {"rollout.coalesced_async"},
    "batch_coupled": {"rollout.coalesced_async"},
    "noisy_dynamics": {"rollout.imagine_replays", "rollout.coalesced_async"},
    "rollout_off_by_one": {"rollout.imagine_replays"},
}


@pytest.mark.parametrize("factory", sorted(CASES))
def test_broken_model_fails_exactly_its_checks(factory: str) -> None:
    failing, pinned, message = CASES[factory]
    spec = f"{SPEC}:{factory}"
    report = run_checks(spec)
    assert {r.check for r in report.failed} == failing
    reproduce = f"wmsdk check {spec} --only {pinned}"
    assert re.fullmatch(
        _pattern(f"{message}. Reproduce: {reproduce}"), report.result(pinned).message
    )
