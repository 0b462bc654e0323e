"""Environment steps per second: vector envs against the single-env loop, in one run.

1. Multi-agent: a `JOPM` sized for ``simple_spread`` (3 agents, 18-dim observations,
   5 discrete actions). Baselines: `WorldModelEnv` and `SingleAgentEnv` stepped one
   episode at a time. Against them: `BatchedWorldModelEnv` at num_envs 1, 16, 256.
2. Single-agent: `ExampleModel` in `WorldModelVectorEnv` at num_envs 1, 16, 256
   (num_envs=1 is the single-env loop of a single-agent model).

An env step is one step of one sub-environment, so a vector step at num_envs N
counts N. Target: >= 10x the single env's steps/s at 256.

Run: ``python benchmarks/vector_env.py [--seconds S]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.envs import (
    BatchedWorldModelEnv,
    ComponentFunctions,
    SingleAgentEnv,
    WorldModelEnv,
    WorldModelVectorEnv,
)
from worldmodel_sdk.models import JOPM, ExampleModel, JOPMConfig

AGENTS = [f"agent_{i}" for i in range(3)]


def steps_per_second(step: Callable[[], int], seconds: float) -> float:
    """Call ``step`` (returning the env steps it made) for about ``seconds``."""
    step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def jopm() -> JOPM:
    spec = DatasetSpec.from_agents(
        [AgentSpec(name=a, obs_size=18, action_kind="discrete", action_size=5) for a in AGENTS]
    )
    return JOPM(JOPMConfig.from_spec(spec)).eval()


def start(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {a: rng.normal(size=18).astype(np.float32) for a in AGENTS}


def never(obs, actions, next_obs):  # type: ignore[no-untyped-def]
    return {a: np.zeros(np.shape(next_obs[a])[:-1], bool) for a in AGENTS}


def distance(obs, actions, next_obs):  # type: ignore[no-untyped-def]
    return {a: -np.abs(next_obs[a][..., 2:4]).sum(-1) for a in AGENTS}


def multi_agent(seconds: float) -> None:
    model = jopm()
    components = ComponentFunctions(reward_fn=distance, done_fn=never)
    env = WorldModelEnv(model, components, start, max_cycles=25)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def single_step() -> int:
        if not env.agents:
            env.reset()
        env.step({a: int(rng.integers(5)) for a in env.agents})
        return 1

    one = SingleAgentEnv(WorldModelEnv(model, components, start, max_cycles=25))
    one.reset(seed=0)

    def gym_step() -> int:
        _, _, term, trunc, _ = one.step(one.action_space.sample())
        if term or trunc:
            one.reset()
        return 1

    base = steps_per_second(single_step, seconds)
    print("multi-agent JOPM (3 agents, obs 18, 5 actions)")
    print(f"{'WorldModelEnv loop':>32}: {base:10.0f} steps/s (baseline)")
    print(f"{'SingleAgentEnv loop':>32}: {steps_per_second(gym_step, seconds):10.0f} steps/s")
    ratio = 0.0
    for n in (1, 16, 256):
        envs = BatchedWorldModelEnv(model, components, start, n, max_cycles=25)
        envs.reset(seed=0)
        actions = {a: rng.integers(5, size=n) for a in AGENTS}

        def vector_step(
            envs: BatchedWorldModelEnv = envs, n: int = n, actions: dict = actions
        ) -> int:
            envs.step(actions)
            return n

        rate = steps_per_second(vector_step, seconds)
        ratio = rate / base
        print(f"{f'BatchedWorldModelEnv N={n}':>32}: {rate:10.0f} steps/s ({ratio:6.1f}x)")
    print(f"target >= 10x the single env at N=256: {'met' if ratio >= 10 else 'NOT met'}")


def single_agent(seconds: float) -> None:
    model = ExampleModel().eval()
    print("single-agent ExampleModel (obs 8, 2 continuous actions)")
    base = 0.0
    for n in (1, 16, 256):
        envs = WorldModelVectorEnv(
            model,
            n,
            lambda rng, k: rng.normal(size=(k, 8)),
            done_fn=lambda o, a, nxt: np.abs(nxt).max(-1) > 5.0,
        )
        envs.reset(seed=0)
        actions = np.random.default_rng(0).uniform(-1, 1, (n, 2)).astype(np.float32)

        def vector_step(
            envs: WorldModelVectorEnv = envs, n: int = n, actions: np.ndarray = actions
        ) -> int:
            envs.step(actions)
            return n

        rate = steps_per_second(vector_step, seconds)
        base = base or rate
        print(f"{f'WorldModelVectorEnv N={n}':>32}: {rate:10.0f} steps/s ({rate / base:6.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.no_grad():
        multi_agent(args.seconds)
        single_agent(args.seconds)


if __name__ == "__main__":
    main()
