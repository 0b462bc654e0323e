"""JOPM quality on held-out simple_spread episodes, against the copy-last-observation baseline.

Runs the quickstart pipeline (default settings unless overridden on the command line),
then prints the 1-step and 5-step open-loop next-joint-observation MSE ratios against
the bars: 1-step <= 0.35x copy-last, 5-step open-loop below copy-last. Also prints the
training time (wall clock and process CPU time), the torch thread count and the CPUs.

    python benchmarks/jopm_quality.py [--episodes 300] [--epochs 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from worldmodel_sdk.quickstart import QuickstartSettings, results_table, run_quickstart

ONE_STEP_BAR = 0.35
OPEN_LOOP_BAR = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=QuickstartSettings().episodes)
    parser.add_argument("--epochs", type=int, default=QuickstartSettings().epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as out:
        settings = QuickstartSettings(
            episodes=args.episodes, epochs=args.epochs, seed=args.seed, out_dir=Path(out)
        )
        cpu = time.process_time()
        result = run_quickstart(settings, console=console)
        cpu = time.process_time() - cpu
    console.print(results_table(result))
    one_step, open_loop = result.rows
    checks = [
        (f"1-step ratio {one_step.ratio:.3f} <= {ONE_STEP_BAR}", one_step.ratio <= ONE_STEP_BAR),
        (
            f"{open_loop.metric} ratio {open_loop.ratio:.3f} < {OPEN_LOOP_BAR}",
            open_loop.ratio < OPEN_LOOP_BAR,
        ),
    ]
    for text, ok in checks:
        console.print(f"{'PASS' if ok else 'FAIL'}  {text}")
    console.print(
        f"training: {result.fit.seconds:.1f}s wall, {result.fit.epochs_run} epochs "
        f"(best {result.fit.best_epoch}), torch threads {settings.threads} of "
        f"{os.cpu_count()} CPUs; "
        f"whole pipeline {result.seconds:.1f}s wall, {cpu:.1f}s process CPU"
    )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
