from __future__ import annotations

import io

from rich.console import Console

from worldmodel_sdk.models import JOPM
from worldmodel_sdk.quickstart import QuickstartSettings, results_table, run_quickstart


def test_quickstart_runs_end_to_end(tmp_path) -> None:
    settings = QuickstartSettings(
        episodes=6, eval_episodes=2, epochs=2, max_cycles=12, out_dir=tmp_path, progress=False
    )
    console = Console(file=io.StringIO(), width=120)
    result = run_quickstart(settings, console=console)
    assert [row.metric for row in result.rows] == ["1-step MSE", "5-step open-loop MSE"]
    assert all(row.jopm > 0 and row.copy_last > 0 for row in result.rows)
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(JOPM.from_pretrained(result.model_dir), JOPM)
    assert result.env_return < 0
    console.print(results_table(result))
    text = console.file.getvalue()
    assert "JOPM / copy-last" in text and "5-step open-loop MSE" in text
