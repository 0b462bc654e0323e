"""Start-up of the ``wmsdk`` command against importing torch, measured in one run.

Each command runs as a fresh process, in turn with the baselines (an empty
``python -c pass``, ``import typer, rich``, and ``import torch``), for
``--repeats`` rounds after one warm-up round. The script prints each command's
median wall and CPU time (user + system, from the kernel's accounting of the
finished child) and its ratio to ``import torch``, and whether torch was
imported at all (``-X importtime``). On a shared machine wall time includes
waiting for a core: compare CPU times, or the ratios.

Run: ``python benchmarks/cli_startup.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "worldmodel_sdk.cli"]
SAMPLE = Path(tempfile.gettempdir()) / f"wmsdk-cli-startup-{os.getpid()}.wms"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer, rich": [sys.executable, "-c", "import typer, typer.main, rich.console"],
    "import torch": [sys.executable, "-c", "import torch"],
    "wmsdk --help": [*CLI, "--help"],
    "wmsdk version": [*CLI, "version"],
    "wmsdk --version": [*CLI, "--version"],
    "wmsdk models --help": [*CLI, "models", "--help"],
    "wmsdk shm list": [*CLI, "shm", "list"],
    # Parses the header and hashes the whole envelope (a 10 KiB state, written below).
    "wmsdk inspect FILE": [*CLI, "inspect", str(SAMPLE)],
}
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=ENV, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def imports_torch(command: list[str]) -> bool:
    """Whether ``command`` imports torch (from ``python -X importtime``)."""
    traced = [command[0], "-X", "importtime", *command[1:]]
    result = subprocess.run(traced, env=ENV, capture_output=True, text=True, check=True)
    return any(line.split("|")[-1].strip() == "torch" for line in result.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    write_sample()
    try:
        report(args.repeats)
    finally:
        SAMPLE.unlink(missing_ok=True)


def write_sample() -> None:
    """The envelope ``wmsdk inspect`` reads: three float32 tensors, 10 KiB."""
    import torch

    from worldmodel_sdk.payloads.state import State

    tensors = {"deter": torch.randn(1, 512), "stoch": torch.randn(1, 32, 32)}
    SAMPLE.write_bytes(State({**tensors, "logits": torch.randn(1, 32, 32)}).serialize())


def report(repeats: int) -> None:
    """Run every command ``repeats`` times (after a warm-up round) and print the table."""
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for round_ in range(repeats + 1):
        for name, command in COMMANDS.items():
            wall, cpu = timed(command)
            if round_:  # the first round warms the file cache
                walls[name].append(wall)
                cpus[name].append(cpu)
    torch_wall = statistics.median(walls["import torch"])
    torch_cpu = statistics.median(cpus["import torch"])
    print(f"{repeats} rounds, medians; ratios against `python -c 'import torch'`")
    print(f"{'command':<22}{'wall s':>9}{'cpu s':>9}{'wall/torch':>12}{'cpu/torch':>11}  torch?")
    for name, command in COMMANDS.items():
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        uses = "yes" if imports_torch(command) else "no"
        print(
            f"{name:<22}{wall:>9.3f}{cpu:>9.3f}{wall / torch_wall:>12.3f}"
            f"{cpu / torch_cpu:>11.3f}  {uses}"
        )


if __name__ == "__main__":
    main()
