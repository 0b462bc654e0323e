"""Environment checks: a `WorldModelEnv` driven by the model passes the env libraries' checkers.

Applies to models declaring ``latent_dynamics``, ``obs_decoder`` and ``multi_agent``
when ``worldmodel_sdk.envs`` and PettingZoo / Gymnasium are importable. The checkers'
own warnings are reported in the note of a passing check.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from ...capabilities import Capability
from ..asserts import expect_call
from ..context import CheckContext
from ..registry import check
from ..results import CheckFailure, NotApplicable

NEEDS = (Capability.LATENT_DYNAMICS, Capability.OBS_DECODER, Capability.MULTI_AGENT)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotApplicable(f"{name} is not importable: {exc}") from None


def _envs_available(ctx: CheckContext) -> str | None:
    try:
        importlib.import_module("worldmodel_sdk.envs")
    except ImportError as exc:
        return f"worldmodel_sdk.envs is not importable: {exc}"
    return None


def make_env(ctx: CheckContext, kind: str) -> Any:
    """Build the model's env: ``WorldModelEnv.parallel`` / ``.gymnasium`` or the class itself."""
    envs = _import("worldmodel_sdk.envs")
    cls = getattr(envs, "WorldModelEnv", None)
    if cls is None:
        raise NotApplicable("worldmodel_sdk.envs has no WorldModelEnv")
    factory = getattr(cls, kind, None) or getattr(cls, f"as_{kind}", None) or cls
    return expect_call(f"WorldModelEnv({ctx.name})", factory, ctx.model)


def _run_checker(call: str, checker: Any, *args: Any, **kwargs: Any) -> str | None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            checker(*args, **kwargs)
        except Exception as exc:
            raise CheckFailure(call, "no error", f"{type(exc).__name__}: {exc}") from exc
    notes = sorted({str(w.message).splitlines()[0] for w in caught})
    return f"checker warnings: {'; '.join(notes)}" if notes else None


@check("env.pettingzoo_api", requires=NEEDS, applies=_envs_available)
def pettingzoo_api(ctx: CheckContext) -> str | None:
    """PettingZoo's ``parallel_api_test`` passes on the model's parallel env."""
    pz = _import("pettingzoo")
    test = _import("pettingzoo.test")
    env = make_env(ctx, "parallel")
    if not isinstance(env, pz.ParallelEnv):
        raise NotApplicable(f"WorldModelEnv is a {type(env).__name__}, not a ParallelEnv")
    try:
        return _run_checker(
            "pettingzoo.test.parallel_api_test(env)",
            test.parallel_api_test,
            env,
            num_cycles=ctx.profile.horizon * 4,
        )
    finally:
        env.close()


@check("env.gymnasium_api", requires=NEEDS, applies=_envs_available)
def gymnasium_api(ctx: CheckContext) -> str | None:
    """Gymnasium's ``check_env`` passes on the model's single-agent (joint) env."""
    gym = _import("gymnasium")
    checker = _import("gymnasium.utils.env_checker")
    env = make_env(ctx, "gymnasium")
    if not isinstance(env, gym.Env):
        raise NotApplicable(f"WorldModelEnv is a {type(env).__name__}, not a gymnasium.Env")
    try:
        return _run_checker(
            "gymnasium.utils.env_checker.check_env(env)",
            checker.check_env,
            env,
            skip_render_check=True,
        )
    finally:
        env.close()
