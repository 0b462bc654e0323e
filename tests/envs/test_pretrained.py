"""``save_env`` / ``WorldModelEnv.from_pretrained``: an env rebuilt from its directory alone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodel_sdk import CapabilityError, ContractError, RegistryError, SerializationError
from worldmodel_sdk.envs import (
    ComponentFunctions,
    RecordedStarts,
    WorldModelEnv,
    register_components,
    save_env,
)
from worldmodel_sdk.envs.pretrained import _COMPONENTS
from worldmodel_sdk.models import JOPM, JOPMConfig

AGENTS = ["agent_0", "agent_1", "agent_2"]


def tiny_model() -> JOPM:
    torch.manual_seed(0)
    return JOPM(JOPMConfig(latent_dim=8, vae_width=16, rnn_hidden=16, head_width=16)).eval()


def starts(n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.normal(size=(n, 18)).astype(np.float32) for name in AGENTS}


def test_round_trip_keeps_model_starts_and_settings(tmp_path: Path) -> None:
    model, recorded = tiny_model(), starts()
    save_env(tmp_path, model, recorded, components="mpe2.simple_spread_v3", max_cycles=7)
    env = WorldModelEnv.from_pretrained(tmp_path)
    assert env.max_cycles == 7 and env.possible_agents == AGENTS
    for (name, a), (_, b) in zip(
        model.state_dict().items(), env.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    obs, _ = env.reset(seed=1)
    rows = [i for i in range(4) if np.array_equal(recorded["agent_0"][i], obs["agent_0"])]
    assert len(rows) == 1
    assert all(np.array_equal(obs[n], recorded[n][rows[0]]) for n in AGENTS)
    _, rewards, _, _, _ = env.step({a: 1 for a in env.agents})
    assert set(rewards) == set(AGENTS) and all(r <= 0 for r in rewards.values())
    assert WorldModelEnv.from_pretrained(tmp_path, max_cycles=3).max_cycles == 3


def test_components_registered_in_code_and_overridden(tmp_path: Path) -> None:
    calls = []

    def factory(agents: list[str]) -> ComponentFunctions:
        calls.append(agents)
        return ComponentFunctions(
            reward_fn=lambda o, a, n: dict.fromkeys(n, 1.0),
            done_fn=lambda o, a, n: dict.fromkeys(n, False),
        )

    register_components("test.ones", factory)
    try:
        save_env(tmp_path, tiny_model(), starts(), components="test.ones")
        env = WorldModelEnv.from_pretrained(tmp_path)
        env.reset(seed=0)
        assert env.step({a: 0 for a in env.agents})[1] == dict.fromkeys(AGENTS, 1.0)
        assert calls == [AGENTS]
        given = ComponentFunctions(
            reward_fn=lambda o, a, n: dict.fromkeys(n, 2.0),
            done_fn=lambda o, a, n: dict.fromkeys(n, False),
        )
        env = WorldModelEnv.from_pretrained(tmp_path, components=given)
        env.reset(seed=0)
        assert env.step({a: 0 for a in env.agents})[1] == dict.fromkeys(AGENTS, 2.0)
    finally:
        del _COMPONENTS["test.ones"]


def test_no_components_takes_them_from_the_model_heads(tmp_path: Path) -> None:
    save_env(tmp_path, tiny_model(), starts())
    assert json.loads((tmp_path / "env.json").read_text())["components"] is None
    with pytest.raises(CapabilityError, match="reward_pred"):
        WorldModelEnv.from_pretrained(tmp_path)


def test_unknown_components_name(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=re.escape("no components registered as 'nope'")):
        save_env(tmp_path, tiny_model(), starts(), components="nope")
    assert not (tmp_path / "config.json").exists()
    save_env(tmp_path, tiny_model(), starts(), components="mpe2.simple_spread_v3")
    config = json.loads((tmp_path / "env.json").read_text())
    (tmp_path / "env.json").write_text(json.dumps({**config, "components": "nope"}))
    with pytest.raises(RegistryError, match=re.escape("or pass components= [WorldModelEnv]")):
        WorldModelEnv.from_pretrained(tmp_path)


def test_a_plain_model_directory_says_how_to_save_the_env(tmp_path: Path) -> None:
    tiny_model().save_pretrained(tmp_path)
    with pytest.raises(
        SerializationError,
        match=re.escape(
            f"{tmp_path} has no env.json; save the model with worldmodel_sdk.envs.save_env"
        ),
    ):
        WorldModelEnv.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "expected a JSON object with format 'worldmodel-sdk/env-v1'"),
        ({"max_cycles": 0}, "max_cycles is 0; expected an integer >= 1"),
        ({"max_cycles": True}, "max_cycles is True; expected an integer >= 1"),
        ({"components": 3}, "components is 3; expected a name or null"),
    ],
)
def test_damaged_env_json(tmp_path: Path, change, message) -> None:
    save_env(tmp_path, tiny_model(), starts(), components="mpe2.simple_spread_v3")
    config = json.loads((tmp_path / "env.json").read_text())
    (tmp_path / "env.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(SerializationError, match=re.escape(message)):
        WorldModelEnv.from_pretrained(tmp_path)


def test_damaged_starts_file(tmp_path: Path) -> None:
    save_env(tmp_path, tiny_model(), starts(), components="mpe2.simple_spread_v3")
    (tmp_path / "env_starts.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(SerializationError, match="cannot read the starts"):
        WorldModelEnv.from_pretrained(tmp_path)


def test_recorded_starts_refuses_ragged_or_empty() -> None:
    with pytest.raises(ContractError, match=re.escape("got {'a': 2, 'b': 3}")):
        RecordedStarts({"a": np.zeros((2, 4)), "b": np.zeros((3, 4))})
    with pytest.raises(ContractError, match=re.escape("got {'a': 0}")):
        RecordedStarts({"a": np.zeros((0, 4))})
