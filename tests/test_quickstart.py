from __future__ import annotations

import io
import json

import numpy as np
from rich.console import Console

from worldmodel_sdk.envs import WorldModelEnv
from worldmodel_sdk.models import JOPM
from worldmodel_sdk.quickstart import QuickstartSettings, results_table, run_quickstart

PNG = b"\x89PNG\r\n\x1a\n"


def test_quickstart_runs_end_to_end(tmp_path) -> None:
    settings = QuickstartSettings(
        episodes=6, eval_episodes=2, epochs=2, max_cycles=12, out_dir=tmp_path, progress=False
    )
    console = Console(file=io.StringIO(), width=120)
    result = run_quickstart(settings, console=console)
    errors = result.errors
    assert list(errors.mse) == ["copy-last", "JOPM", "mlp", "mlp+hist"]
    assert errors.horizon == 10 and result.horizon == 5
    # Whole episodes of 12 steps: 12 starts predict one step ahead, 3 starts ten steps.
    assert errors.counts == [12 * 2 - 2 * k for k in range(10)]
    assert all(v > 0 for parts in errors.mse.values() for v in parts["joint"])
    assert set(result.train_seconds) == {"JOPM", "mlp", "mlp+hist"}
    assert [f.name for f in result.figures] == ["error_vs_horizon.png", "arena.png"]
    assert all(f.read_bytes()[:8] == PNG for f in result.figures)
    assert isinstance(JOPM.from_pretrained(result.model_dir), JOPM)
    assert result.env_return < 0
    console.print(results_table(result))
    text = console.file.getvalue()
    assert "/copy h=5" in text and "mlp+hist" in text

    # The saved directory alone rebuilds the env: model, recorded starts, components.
    saved = json.loads((result.model_dir / "env.json").read_text())
    assert saved == {
        "format": "worldmodel-sdk/env-v1",
        "max_cycles": 12,
        "components": "mpe2.simple_spread_v3",
    }
    env = WorldModelEnv.from_pretrained(result.model_dir)
    assert env.max_cycles == 12 and len(env.initial_obs) == 6  # type: ignore[arg-type]
    obs, _ = env.reset(seed=3)
    starts = env.initial_obs.starts  # type: ignore[attr-defined]
    assert any(np.array_equal(obs["agent_0"], row) for row in starts["agent_0"])
    steps = 0
    while env.agents:
        _, rewards, _, _, _ = env.step({a: 0 for a in env.agents})
        assert set(rewards) == {"agent_0", "agent_1", "agent_2"}
        steps += 1
    assert steps == 12
