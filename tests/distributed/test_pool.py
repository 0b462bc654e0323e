"""RolloutPool against a real local Ray (127.0.0.1 only, started and stopped here)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import torch

from worldmodel_sdk import (
    CapabilityError,
    ContractError,
    SerializationError,
    State,
    Trajectory,
    WorldModel,
    create_model,
)
from worldmodel_sdk.conformance.inputs import (
    make_action_sequence,
    make_observation,
    make_state,
    stack_actions,
)
from worldmodel_sdk.distributed import DistributedError, RolloutPool

from .policies import make_policy

pytestmark = pytest.mark.timeout(600)

MODELS = ("example", "jopm", "jopm_with_heads", "rdlm")
# Workers reserve a fraction of a CPU so that every pool of this module fits on the
# two CPUs the local Ray is given.
SMALL = {"worker_cpus": 0.25, "start_timeout": 120.0}


def _listening() -> set[tuple[str, str]]:
    """(address, port) of every listening TCP socket on this machine, hex as in /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    address, port = fields[1].rsplit(":", 1)
                    found.add((address, port))
    return found


def _loopback(address: str) -> bool:
    # 127.0.0.1 as IPv4, or as IPv4-mapped IPv6 (little-endian words in /proc).
    return address in ("0100007F", "0000000000000000FFFF00000100007F") or address.endswith(
        "0100007F"
    )


def _ray_processes(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _inputs(model: WorldModel, batch: int = 3, horizon: int = 4) -> tuple[State, object]:
    gen = torch.Generator().manual_seed(7)
    contract = model.contract()
    if model.supports("representation"):
        state = model.encode(make_observation(contract, batch, gen), deterministic=True)
    else:
        state = make_state(contract, batch, gen)
    assert contract.action is not None
    actions = stack_actions(make_action_sequence(contract.action, horizon, batch, gen))
    return state, actions


def _assert_same(got: Trajectory, want: Trajectory) -> None:
    assert got.horizon == want.horizon and got.batch_size == want.batch_size
    for a, b in zip(want.states, got.states, strict=True):
        assert list(a.tensors) == list(b.tensors)
        for key in a.tensors:
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)
    for name in ("actions", "rewards", "values", "continues"):
        mine, theirs = getattr(want, name), getattr(got, name)
        assert (mine is None) == (theirs is None), name
        if mine is not None:
            torch.testing.assert_close(theirs, mine, rtol=1e-5, atol=1e-6)
    assert sorted(want.predictions or {}) == sorted(got.predictions or {})


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[WorldModel, Path]]:
    models = {}
    for name in (*MODELS, "vae"):
        torch.manual_seed(0)
        model = create_model(name)
        model.eval()
        directory = tmp_path_factory.mktemp(name)
        model.save_pretrained(directory)
        models[name] = (model, directory)
    return models


@pytest.fixture(scope="module")
def cluster(saved: dict[str, tuple[WorldModel, Path]]) -> Iterator[dict[str, object]]:
    """One pool per model: the first starts Ray (and owns it), the others join it."""
    assert not ray.is_initialized()
    before = _listening()
    first = RolloutPool(
        saved["example"][1],
        num_workers=2,
        max_in_flight=2,
        ray_options={"num_cpus": 2, "object_store_memory": 128 * 1024 * 1024},
        **SMALL,
    )
    temp_dir = first._temp_dir
    assert temp_dir is not None
    pools: dict[str, RolloutPool] = {"example": first}
    try:
        for name in MODELS[1:]:
            pools[name] = RolloutPool(saved[name][1], num_workers=1, **SMALL)
        yield {"pools": pools, "before": before, "temp_dir": temp_dir}
    finally:
        for name in reversed(MODELS):
            if name in pools:
                pools[name].close()


@pytest.mark.parametrize("name", MODELS)
def test_pool_rollout_equals_the_local_rollout(
    name: str, saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved[name]
    pool = cluster["pools"][name]  # type: ignore[index]
    state, actions = _inputs(model)
    with torch.no_grad():
        want = model.rollout(state, actions, deterministic=True)  # type: ignore[arg-type]
    got = asyncio.run(pool.rollout(state, actions, deterministic=True))
    _assert_same(got, want)
    latent = asyncio.run(pool.rollout(state, actions, deterministic=True, mode="latent"))
    assert latent.predictions is None and len(latent.states) == len(want.states)


def test_concurrent_requests_are_all_answered_exactly(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["example"]
    pool: RolloutPool = cluster["pools"]["example"]  # type: ignore[index]
    inputs = [_inputs(model, batch=1 + i % 3, horizon=3) for i in range(12)]
    peak: list[int] = []

    async def watch(stop: asyncio.Event) -> None:
        while not stop.is_set():
            peak.append(max(pool.outstanding))
            await asyncio.sleep(0)

    async def main() -> list[Trajectory]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(stop))
        results = await asyncio.gather(
            *(pool.rollout(s, a, deterministic=True) for s, a in inputs)  # type: ignore[arg-type]
        )
        stop.set()
        await watcher
        return list(results)

    results = asyncio.run(main())
    with torch.no_grad():
        for (state, actions), got in zip(inputs, results, strict=True):
            _assert_same(got, model.rollout(state, actions, deterministic=True))  # type: ignore[arg-type]
    # Backpressure: never more than max_in_flight requests on one worker.
    assert max(peak) <= pool.max_in_flight
    assert pool.outstanding == [0, 0]


def test_model_errors_arrive_with_their_type_and_message(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["example"]
    pool: RolloutPool = cluster["pools"]["example"]  # type: ignore[index]
    state, _ = _inputs(model)
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action_sequence has shape (2, 3, 5); contract expects (T, B, 2) [ExampleModel.rollout]"
        ),
    ):
        asyncio.run(pool.rollout(state, torch.zeros(2, 3, 5)))
    with pytest.raises(ValueError, match=re.escape("unknown rollout mode 'dream'")):
        asyncio.run(pool.rollout(state, torch.zeros(2, 3, 2), mode="dream"))


def test_a_worker_killed_mid_run_loses_no_request(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["example"]
    pool: RolloutPool = cluster["pools"]["example"]  # type: ignore[index]
    inputs = [_inputs(model, batch=2, horizon=64) for _ in range(8)]
    victim = pool.workers[0]

    async def main() -> list[Trajectory]:
        tasks = [
            asyncio.create_task(pool.rollout(s, a, deterministic=True))  # type: ignore[arg-type]
            for s, a in inputs
        ]
        while pool.outstanding[0] == 0:
            await asyncio.sleep(0.001)
        ray.kill(victim, no_restart=True)
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(main())
    assert pool.workers[0] is not victim
    with torch.no_grad():
        for (state, actions), got in zip(inputs, results, strict=True):
            _assert_same(got, model.rollout(state, actions, deterministic=True))  # type: ignore[arg-type]


def test_a_cancelled_caller_frees_its_slot_and_spares_the_others(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["example"]
    pool: RolloutPool = cluster["pools"]["example"]  # type: ignore[index]
    slow, quick = _inputs(model, batch=4, horizon=256), _inputs(model, batch=2, horizon=3)

    async def main() -> Trajectory:
        doomed = asyncio.create_task(pool.rollout(*slow))  # type: ignore[arg-type]
        kept = asyncio.create_task(pool.rollout(*quick, deterministic=True))  # type: ignore[arg-type]
        while sum(pool.outstanding) < 2:
            await asyncio.sleep(0.001)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await kept

    got = asyncio.run(main())
    assert pool.outstanding == [0, 0]
    with torch.no_grad():
        _assert_same(got, model.rollout(*quick, deterministic=True))  # type: ignore[arg-type]


def test_pool_imagine_equals_the_local_imagine_with_shipped_weights(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["example"]
    pool: RolloutPool = cluster["pools"]["example"]  # type: ignore[index]
    state, _ = _inputs(model, batch=3)
    torch.manual_seed(3)
    actor = make_policy()
    with torch.no_grad():
        want = model.imagine(state, actor, 6, deterministic=True)
    got = asyncio.run(
        pool.imagine(
            state,
            "tests.distributed.policies:make_policy",
            6,
            deterministic=True,
            policy_weights=actor.state_dict(),
        )
    )
    _assert_same(got, want)
    # Replaying the recorded actions reproduces the imagined states.
    replay = asyncio.run(pool.rollout(state, got.actions, deterministic=True))
    _assert_same(replay, got)


def test_pool_imagine_refuses_policies_it_cannot_build(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["example"]
    pool: RolloutPool = cluster["pools"]["example"]  # type: ignore[index]
    state, _ = _inputs(model, batch=2)
    with pytest.raises(ValueError, match=re.escape("'package.module:make_policy'; got '<lambda>'")):
        asyncio.run(pool.imagine(state, "<lambda>", 3))
    with pytest.raises(
        DistributedError,
        match=re.escape(
            "policy 'tests.distributed.policies:broken_factory' could not be built on a worker: "
            "RuntimeError: no policy today"
        ),
    ):
        asyncio.run(pool.imagine(state, "tests.distributed.policies:broken_factory", 3))


def test_a_request_whose_workers_keep_dying_is_a_distributed_error(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    model, _ = saved["rdlm"]
    pool: RolloutPool = cluster["pools"]["rdlm"]  # type: ignore[index]
    state, actions = _inputs(model)
    pool.max_retries = 0
    try:
        ray.kill(pool.workers[0], no_restart=True)
        with pytest.raises(DistributedError, match=r"rollout failed on 1 worker\(s\) that died"):
            asyncio.run(pool.rollout(state, actions))  # type: ignore[arg-type]
    finally:
        pool.max_retries = 2
    # The dead worker was replaced: the pool serves again.
    got = asyncio.run(pool.rollout(state, actions, deterministic=True))  # type: ignore[arg-type]
    assert got.horizon == 4


def test_a_model_without_dynamics_reports_the_capability_error(
    saved: dict[str, tuple[WorldModel, Path]], cluster: dict[str, object]
) -> None:
    vae, directory = saved["vae"]
    state = vae.encode(make_observation(vae.contract(), 2, torch.Generator()))
    with RolloutPool(directory, num_workers=1, **SMALL) as pool:
        with pytest.raises(CapabilityError, match="does not declare capability 'latent_dynamics'"):
            asyncio.run(pool.rollout(state, torch.zeros(2, 2, 1)))
    with pytest.raises(DistributedError, match=re.escape("RolloutPool is closed")):
        asyncio.run(pool.rollout(state, torch.zeros(2, 2, 1)))


def test_a_model_the_workers_cannot_find_fails_at_start(
    tmp_path: Path, cluster: dict[str, object]
) -> None:
    model = create_model("example")
    model.save_pretrained(tmp_path)
    config = (tmp_path / "config.json").read_text().replace('"example"', '"nowhere_model"')
    (tmp_path / "config.json").write_text(config)
    with pytest.raises(DistributedError, match="a worker could not load the model"):
        RolloutPool(tmp_path, num_workers=1, **SMALL)


def test_bad_arguments_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(SerializationError):
        RolloutPool(tmp_path / "missing")
    with pytest.raises(ValueError, match=re.escape("num_workers must be a positive int; got 0")):
        RolloutPool(tmp_path, num_workers=0)


def test_ray_binds_only_loopback_and_close_leaves_nothing_behind(
    cluster: dict[str, object],
) -> None:
    new = _listening() - cluster["before"]  # type: ignore[operator]
    assert new, "the local Ray should be listening"
    assert all(_loopback(address) for address, _ in new), sorted(new)
    temp_dir = str(cluster["temp_dir"])
    shm_before = set(os.listdir("/dev/shm"))
    for pool in reversed(cluster["pools"].values()):  # type: ignore[attr-defined]
        pool.close()  # the pool that started Ray last
    assert not ray.is_initialized()
    assert not Path(temp_dir).exists()
    deadline = time.monotonic() + 30
    while _ray_processes(temp_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _ray_processes(temp_dir) == []
    assert set(os.listdir("/dev/shm")) <= shm_before
