"""The palaestrAI bridge against the real palaestrAI: a full experiment run, then its store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from palaestrai.agent import ActuatorInformation

from worldmodel_sdk import ActionPayload, ContractError
from worldmodel_sdk.adapters.palaestrai import WorldModelEnvironment, decode_world_state
from worldmodel_sdk.adapters.palaestrai_store import read_run_store
from worldmodel_sdk.data import AgentSpec, DatasetSpec, Episode, EpisodeDataset
from worldmodel_sdk.models import JOPM, JOPMConfig, JOPMWithHeads, JOPMWithHeadsConfig
from worldmodel_sdk.training import fit

ROOT = Path(__file__).resolve().parents[2]
AGENTS = (
    AgentSpec(name="agent_2", obs_size=2, action_kind="discrete", action_size=3),
    AgentSpec(name="agent_10", obs_size=3, action_kind="discrete", action_size=2),
)
NAMES = ["agent_2", "agent_10"]
TASK = {
    "reward_fn": "tests.adapters.palaestrai_task:distance",
    "done_fn": "tests.adapters.palaestrai_task:never",
}


def starts() -> EpisodeDataset:
    rng = np.random.default_rng(0)
    episodes = [
        Episode(
            obs={
                a.name: torch.tensor(rng.uniform(-0.5, 0.5, (4, a.obs_size)), dtype=torch.float32)
                for a in AGENTS
            },
            actions={a.name: torch.tensor(rng.integers(0, a.action_size, 3)) for a in AGENTS},
        )
        for _ in range(3)
    ]
    return EpisodeDataset(DatasetSpec(agents=AGENTS), episodes)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("palaestrai")
    torch.manual_seed(0)
    config = JOPMWithHeadsConfig(
        agents=AGENTS, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8, task_head_width=8
    )
    JOPMWithHeads(config).save_pretrained(root / "model")
    starts().save(root / "starts")
    return root


def environment(files: Path, **params) -> WorldModelEnvironment:
    return WorldModelEnvironment(
        "wm", 3, model=str(files / "model"), starts=str(files / "starts"), **{**TASK, **params}
    )


def test_publishes_sensors_actuators_and_routed_rewards(files) -> None:
    env = environment(files, max_steps=2)
    baseline = env.start_environment()
    uids = [s.uid for s in baseline.sensors_available]
    assert uids == [
        "agent_2.obs.0",
        "agent_2.obs.1",
        "agent_10.obs.0",
        "agent_10.obs.1",
        "agent_10.obs.2",
    ]
    assert [a.uid for a in baseline.actuators_available] == ["agent_2.action", "agent_10.action"]
    assert baseline.static_world_model["agents"] == NAMES
    obs = {
        n: np.array(
            [s.value for s in baseline.sensors_available if s.uid.startswith(n + ".")], np.float32
        )
        for n in NAMES
    }
    model = env.model
    with torch.no_grad():
        latent = model.encode(
            {n: torch.from_numpy(obs[n])[None] for n in NAMES}, deterministic=True
        )
        latent = model.transition(
            latent,
            ActionPayload(
                kind="joint", agents={"agent_2": torch.tensor([2]), "agent_10": torch.tensor([1])}
            ),
            deterministic=True,
        )
        predicted = model.decode(latent).predictions
    state = env.update(
        [
            ActuatorInformation(2, baseline.actuators_available[0].space, "agent_2.action"),
            ActuatorInformation(1, baseline.actuators_available[1].space, "agent_10.action"),
        ]
    )
    values = {s.uid: s.value for s in state.sensor_information}
    for n in NAMES:
        got = [values[f"{n}.obs.{i}"] for i in range(predicted[n].shape[1])]
        assert all(type(v) is float for v in got) and got == predicted[n][0].tolist()  # exact
    rewards = {r.uid: r.value for r in state.rewards}
    assert rewards == {f"{n}.reward": -float(np.abs(predicted[n][0].numpy()).sum()) for n in NAMES}
    assert torch.equal(decode_world_state(state.world_state)["h"], latent["h"])  # memory carried
    assert (state.done, state.terminated, state.truncated) == (False, False, False)
    state = env.update([])  # nobody set an actuator: zeros
    assert (state.done, state.terminated, state.truncated) == (True, False, True)


def test_bad_configuration_is_a_clear_error(files) -> None:
    with pytest.raises(
        ContractError,
        match=re.escape(
            "WorldModelEnvironment reward_fn: cannot import 'no.such:fn'; expected 'module:function'"
        ),
    ):
        environment(files, reward_fn="no.such:fn")
    with pytest.raises(
        ContractError,
        match=re.escape("WorldModelEnvironment.update called before start_environment()"),
    ):
        environment(files).update([])
    with pytest.raises(
        ContractError, match=re.escape("read_run_store: no sqlite store at 'missing.db'")
    ):
        read_run_store("missing.db")


@pytest.fixture(scope="module")
def store(files) -> Path:
    """Run the experiment file with palaestrAI's own command line, on a local sqlite store."""
    run = (Path(__file__).parent / "palaestrai_run.yml").read_text("utf-8")
    run = run.replace("MODEL_DIR", str(files / "model")).replace(
        "STARTS_DIR", str(files / "starts")
    )
    (files / "run.yml").write_text(run, "utf-8")
    database = files / "store.db"
    (files / "runtime.yml").write_text(
        f"store_uri: sqlite:///{database}\nlog_store_uri: sqlite:///{files / 'log.db'}\ndata_path: {files / 'out'}\n",
        "utf-8",
    )
    cli = [str(Path(sys.executable).parent / "palaestrai"), "-c", str(files / "runtime.yml")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["database-create"], ["experiment-start", str(files / "run.yml")]):
        done = subprocess.run(
            cli + args, cwd=files, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return database


def test_a_real_experiment_runs_in_the_world_model_and_its_store_trains_a_model(
    files, store
) -> None:
    data = read_run_store(store, experiment_run="worldmodel-bridge-run", phase=0)
    assert data.spec.agent_names == ("agent_2", "agent_10")
    assert [a.action_kind for a in data.spec.agents] == ["discrete", "discrete"]
    assert data.lengths == [4, 4]  # max_steps: 4, two episodes
    model = JOPMWithHeads.from_pretrained(files / "model")
    for episode in data:
        assert episode.truncated["agent_2"].tolist() == [False, False, False, True]
        assert not episode.terminated["agent_10"].any()
        # Replaying the stored actions through the model gives the stored observations bit
        # for bit: values crossed palaestrAI and its store exactly, memory carried.
        with torch.no_grad():
            latent = model.encode({n: episode.obs[n][:1] for n in NAMES}, deterministic=True)
            for t in range(episode.length):
                payload = ActionPayload(
                    kind="joint", agents={n: episode.actions[n][t : t + 1] for n in NAMES}
                )
                latent = model.transition(latent, payload, deterministic=True)
                predicted = model.decode(latent).predictions
                for n in NAMES:
                    assert torch.equal(predicted[n][0], episode.obs[n][t + 1]), (n, t)
        # Each agent's objective picked its own reward by uid.
        for n in NAMES:
            expected = [-float(np.abs(o.numpy()).sum()) for o in episode.obs[n][1:]]
            assert episode.rewards[n].tolist() == pytest.approx(expected, rel=1e-6)
        assert episode.rewards["agent_2"].tolist() != episode.rewards["agent_10"].tolist()
    learner = JOPM(
        JOPMConfig.from_spec(data.spec, latent_dim=4, vae_width=8, rnn_hidden=8, head_width=8)
    )
    result = fit(
        learner, data, val_data=data, window=3, epochs=2, batch_size=4, progress=False, threads=1
    )
    assert np.isfinite(result.best_val_loss)
    with pytest.raises(
        ContractError,
        match=re.escape("read_run_store: no muscle actions for experiment_run='other', phase=None"),
    ):
        read_run_store(store, experiment_run="other")
