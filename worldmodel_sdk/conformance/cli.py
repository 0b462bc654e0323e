"""``wmsdk check``: run the conformance suite on models and print a table.

Exit status: 0 when no check failed, 1 when some check failed, 2 for a target
that cannot be loaded, an unknown check name or a malformed option (one line on
stderr, printed by ``wmsdk``'s error handling). On a terminal, a transient progress
bar names the check that is running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._cli_errors import CliError
from .results import CheckResult, Report, Status

__all__ = ["check", "render_report"]

_STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "bold red",
    Status.NOT_APPLICABLE: "dim",
    Status.XFAIL: "yellow",
}


def render_report(report: Report, console: Console) -> None:
    """Print ``report`` as a table (check, status, time, message) and a summary line.

    Names and messages are printed as text, never read as markup: model types such
    as ``ensemble[example]`` hold brackets.
    """
    target, model = escape(report.target), escape(report.model)
    table = Table(title=f"Conformance of {target} ({model}, {report.profile})")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold")
    for r in report.results:
        style = _STYLE[r.status]
        table.add_row(r.check, f"[{style}]{r.status.value}[/]", f"{r.time:.3f}s", escape(_short(r)))
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
    verdict = "[green]OK[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"{verdict} {target}: {counts} in {report.time:.2f}s")
    for r in report.failed:
        console.print(f"[red]FAIL[/] {escape(r.message)}", highlight=False, soft_wrap=True)


def _short(result: CheckResult) -> str:
    if result.status is Status.FAILED and result.call:
        return f"{result.call}: expected {result.expected}; got {result.got}"
    return result.message


def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            help="pkg.module:factory, a registered model name or a save_pretrained directory "
            "(default: every registered model)",
        ),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Write a JUnit XML report here.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write a JSON report here.")
    ] = None,
    max_examples: Annotated[
        int | None, typer.Option("--max-examples", min=1, help="Hypothesis examples per check.")
    ] = None,
    thorough: Annotated[
        bool,
        typer.Option(
            "--thorough", help="Nightly profile: many more Hypothesis examples and inputs."
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check or area (repeatable)."),
    ] = None,
    xfail: Annotated[
        list[str] | None,
        typer.Option("--xfail", metavar="CHECK=REASON", help="Declare an expected failure."),
    ] = None,
    allow_missing_extras: Annotated[
        bool,
        typer.Option(
            "--allow-missing-extras",
            help="Report checks whose optional extra (envs) is not installed as not "
            "applicable instead of failing them.",
        ),
    ] = False,
) -> None:
    """Check that models honour the worldmodel-sdk protocol."""
    from .registry import select_checks

    expected = _parse_xfail(xfail or [])
    try:
        select_checks(only or [])
    except KeyError as exc:
        _usage_error("--only", exc.args[0])
    console = Console()
    reports = [
        _run_one(spec, console, only or [], thorough, max_examples, expected, allow_missing_extras)
        for spec in targets or _registered()
    ]
    from .reports import write_json, write_junit_xml

    if junit_xml is not None:
        write_junit_xml(reports, junit_xml)
    if json_path is not None:
        write_json(reports[0] if len(reports) == 1 else reports, json_path)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _registered() -> list[str]:
    from .target import registered_targets

    return registered_targets()


def _run_one(
    spec: str,
    console: Console,
    only: list[str],
    thorough: bool,
    max_examples: int | None,
    expected: dict[str, str],
    allow_missing_extras: bool,
) -> Report:
    from .runner import run_checks
    from .target import load_target

    try:
        target = load_target(spec)
    except Exception as exc:
        raise CliError(
            f"cannot load target {spec!r}: {type(exc).__name__}: {exc}; give pkg.module:factory, "
            "a registered model name (wmsdk models list) or a save_pretrained directory"
        ) from exc
    with _progress(console, spec) as (on_start, on_result):
        report = run_checks(
            target,
            only=only,
            profile="thorough" if thorough else "default",
            max_examples=max_examples,
            xfail=expected,
            on_start=on_start,
            on_result=on_result,
            allow_missing_extras=allow_missing_extras,
        )
    render_report(report, console)
    return report


@contextmanager
def _progress(console: Console, spec: str) -> Iterator[tuple[Any, Any]]:
    """Per-check progress on a terminal (a transient bar naming the running check)."""
    if not console.is_terminal:
        yield None, None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(spec, total=None)

        def on_start(check: Any, index: int, total: int) -> None:
            progress.update(task, total=total, description=f"{spec}: {check.name}")

        def on_result(result: CheckResult) -> None:
            progress.advance(task)

        yield on_start, on_result


def _usage_error(option: str, message: str) -> NoReturn:
    """A bad option: ``wmsdk`` prints it as one line on stderr and exits with status 2."""
    raise typer.BadParameter(message, param_hint=option)


def _parse_xfail(items: list[str]) -> dict[str, str]:
    from .registry import get_check

    out = {}
    for item in items:
        name, sep, reason = item.partition("=")
        if not sep or not name.strip():
            _usage_error("--xfail", f"expected CHECK=REASON; got {item!r}")
        try:
            get_check(name.strip())
        except KeyError as exc:
            _usage_error("--xfail", exc.args[0])
        out[name.strip()] = reason.strip() or "declared expected failure"
    return out
