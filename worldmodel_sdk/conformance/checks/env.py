"""Environment checks: a `WorldModelEnv` driven by the model passes the env libraries' checkers.

Applies to models declaring ``representation``, ``latent_dynamics``, ``obs_decoder``
and ``multi_agent`` (what `WorldModelEnv` needs). Without the ``envs`` extra
(PettingZoo, Gymnasium) they fail, unless the run opts out with
``--allow-missing-extras``. The env gets zero rewards, never terminates,
and starts from observations drawn from the contract. The checkers' own warnings
are reported in the note of a passing check.
"""

from __future__ import annotations

import importlib
import io
import warnings
from contextlib import redirect_stdout
from typing import Any

import numpy as np

from ...capabilities import Capability
from ..asserts import expect_call
from ..context import CheckContext
from ..inputs import resolve_shape
from ..registry import check
from ..results import CheckFailure, NotApplicable

__all__ = [
    "NEEDS",
    "gymnasium_api",
    "make_env",
    "pettingzoo_api",
    "require_envs",
]

NEEDS = (
    Capability.REPRESENTATION,
    Capability.LATENT_DYNAMICS,
    Capability.OBS_DECODER,
    Capability.MULTI_AGENT,
)


def require_envs(ctx: CheckContext) -> None:
    """Fail loudly unless ``worldmodel_sdk.envs`` and the env libraries are importable.

    With ``allow_missing_extras`` (``--allow-missing-extras``) the check is not applicable
    instead, so skipping it is an explicit choice.
    """
    module = "worldmodel_sdk.envs"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for module in ("worldmodel_sdk.envs", "pettingzoo", "gymnasium"):
                importlib.import_module(module)
    except ImportError as exc:
        if ctx.allow_missing_extras:
            raise NotApplicable(
                f"the 'envs' extra is not installed ({exc}); skipped as --allow-missing-extras asks"
            ) from None
        raise CheckFailure(
            f"import {module}",
            "the 'envs' extra installed (pip install 'worldmodel-sdk[envs]'), or "
            "--allow-missing-extras to skip the env checks",
            f"{type(exc).__name__}: {exc}",
        ) from None


def make_env(ctx: CheckContext) -> Any:
    """A `WorldModelEnv` over the model: zero rewards, no termination, contract-drawn starts."""
    envs = importlib.import_module("worldmodel_sdk.envs")
    specs = ctx.contract.observation

    def initial_obs(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            name: rng.standard_normal(resolve_shape(spec, {"B": 1})[1:]).astype(np.float32)
            for name, spec in specs.items()
        }

    components = envs.ComponentFunctions(
        reward_fn=lambda obs, action, nxt: {k: 0.0 for k in nxt},
        done_fn=lambda obs, action, nxt: {k: False for k in nxt},
    )
    return expect_call(
        f"WorldModelEnv({ctx.name}, components, initial_obs, max_cycles=8)",
        envs.WorldModelEnv,
        ctx.model,
        components,
        initial_obs,
        max_cycles=8,
    )


def _import_quietly(module: str, name: str) -> Any:
    """``module.name``, ignoring the deprecation warnings some checkers raise on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(importlib.import_module(module), name)


def _run_checker(call: str, checker: Any, *args: Any, **kwargs: Any) -> str | None:
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            checker(*args, **kwargs)
        except Exception as exc:
            raise CheckFailure(call, "no error", f"{type(exc).__name__}: {exc}") from exc
    notes = sorted({str(w.message).splitlines()[0] for w in caught})
    return f"checker warnings: {'; '.join(notes)}" if notes else None


@check("env.pettingzoo_api", requires=NEEDS)
def pettingzoo_api(ctx: CheckContext) -> str | None:
    """PettingZoo's ``parallel_api_test`` passes on the model's `WorldModelEnv`."""
    require_envs(ctx)
    parallel_api_test = _import_quietly("pettingzoo.test", "parallel_api_test")
    env = make_env(ctx)
    try:
        return _run_checker(
            "pettingzoo.test.parallel_api_test(WorldModelEnv(...))",
            parallel_api_test,
            env,
            num_cycles=ctx.profile.horizon * 4,
        )
    finally:
        env.close()


@check("env.gymnasium_api", requires=NEEDS)
def gymnasium_api(ctx: CheckContext) -> str | None:
    """Gymnasium's ``check_env`` passes on `SingleAgentEnv` of each agent."""
    require_envs(ctx)
    check_env = _import_quietly("gymnasium.utils.env_checker", "check_env")
    envs = importlib.import_module("worldmodel_sdk.envs")
    notes = []
    for agent in ctx.contract.agents:
        env = envs.SingleAgentEnv(make_env(ctx), agent=agent)
        try:
            note = _run_checker(
                f"gymnasium.utils.env_checker.check_env(SingleAgentEnv(..., agent={agent!r}))",
                check_env,
                env,
                skip_render_check=True,
            )
        finally:
            env.close()
        if note:
            notes.append(f"{agent}: {note}")
    return "; ".join(notes) or None
