"""The README's example must run as written."""

import re
from pathlib import Path

import torch

from worldmodel_sdk import load_pretrained
from worldmodel_sdk.registry import unregister_model

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    try:
        exec(compile(blocks[0], str(README), "exec"), namespace)
        trajectory = namespace["trajectory"]
        assert trajectory.horizon == 15 and trajectory.batch_size == 8  # type: ignore[attr-defined]
        loaded = load_pretrained(tmp_path / "runs" / "drift")
        assert type(loaded).__name__ == "Drift"
        x = torch.randn(2, 4)
        assert torch.equal(loaded.encode(x)["z"], x)
    finally:
        unregister_model("drift")
