"""``wmsdk inspect`` and ``wmsdk shm list|gc``: look at envelopes and state segments."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ._inspect import EnvelopeInfo

__all__ = ["NamespaceOption", "inspect_command", "shm_app", "shm_gc", "shm_list"]

_console = Console()
shm_app = typer.Typer(help="Shared-memory segments holding published states.", no_args_is_help=True)

NamespaceOption = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Only segments of this namespace."),
]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def inspect_command(
    file: Annotated[Path, typer.Argument(help="A file holding one wire envelope.")],
) -> None:
    """Print an envelope's header (tensors, dtypes, shapes, sizes) and verify its checksum.

    Inspection always hashes the file: it is the tool for telling whether bytes are intact.
    It reads the header without torch, so it answers quickly.
    """
    info = _inspect(file)
    table = Table(title=f"{file} — wire v{info.version}, {_size(info.total)}")
    for column in ("tensor", "dtype", "shape", "bytes", "offset"):
        table.add_column(column, justify="right" if column in ("bytes", "offset") else "left")
    for e in info.tensors:
        shape = "(" + ", ".join(map(str, e.shape)) + ("," if len(e.shape) == 1 else "") + ")"
        table.add_row(e.name, e.dtype_name, shape, str(e.length), str(e.offset))
    _console.print(table)
    _console.print(f"header: {info.header_length} bytes; data: {info.data_length} bytes")
    _console.print(f"meta: {info.meta!r}")
    color = {"ok": "green", "mismatch": "red"}.get(info.checksum, "yellow")
    _console.print(f"checksum: [{color}]{info.checksum}[/{color}]")
    if info.checksum == "mismatch":
        from .._cli_errors import CliError

        raise CliError(
            f"{str(file)!r} fails its checksum: its bytes changed after they were written; "
            "write or copy the file again"
        )


def _inspect(file: Path) -> EnvelopeInfo:
    """`inspect_file`, its failures turned into one-line user errors (`CliError`)."""
    from .._cli_errors import CliError
    from .._files import describe_mode
    from ..errors import SerializationError
    from ._inspect import inspect_file

    want = "give the path of a file holding one wire envelope"
    try:
        mode = os.stat(file).st_mode
        if not stat.S_ISREG(mode):
            raise CliError(f"{str(file)!r} is {describe_mode(mode)}, not a file; {want}")
        return inspect_file(file, verify=True)
    except FileNotFoundError:
        raise CliError(f"{str(file)!r} does not exist; {want}") from None
    except SerializationError as exc:
        raise CliError(
            f"{str(file)!r} is not a valid wire envelope ({exc}); give a file written by "
            "State.serialize or write_state"
        ) from None
    except OSError as exc:
        raise CliError(
            f"{str(file)!r} cannot be read ({exc.strerror or exc}); "
            "check the path and its permissions"
        ) from None


@shm_app.command("list")
def shm_list(namespace: NamespaceOption = None) -> None:
    """List state segments in /dev/shm with their owner process and whether it lives."""
    from ._segments import list_segments

    table = Table(title="State segments")
    for column in ("name", "owner pid", "owner", "size", "envelope"):
        table.add_column(column)
    for seg in list_segments(namespace):
        owner = "alive" if seg.owner_alive else "[red]dead[/red]"
        table.add_row(
            seg.name, str(seg.owner_pid), owner, _size(seg.size), "yes" if seg.is_envelope else "no"
        )
    _console.print(table)


@shm_app.command("gc")
def shm_gc(
    namespace: NamespaceOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print what would be removed.")
    ] = False,
) -> None:
    """Remove state segments whose owner process is dead (orphans of killed processes).

    Every regular file named ``<namespace>.<pid>.<hex>`` whose owner is dead is removed,
    whatever it holds: a publisher killed mid-write leaves a segment without a whole
    envelope, even 0 bytes.
    """
    from ._segments import list_segments, unlink_segment

    removed = 0
    for seg in list_segments(namespace):
        if seg.owner_alive:
            continue
        if not dry_run:
            unlink_segment(seg.name, missing_ok=True)
        removed += 1
        verb = "would remove" if dry_run else "removed"
        _console.print(f"{verb} {seg.name} (owner pid {seg.owner_pid}, {_size(seg.size)})")
    _console.print(f"{removed} orphaned segment(s) {'found' if dry_run else 'removed'}")
