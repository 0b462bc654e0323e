"""``wmsdk check``: run the conformance suite on models and print a table.

Exit status: 0 when no check failed, 1 when some check failed, 2 for a target
that cannot be loaded or an unknown check name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .results import CheckResult, Report, Status

__all__ = ["check", "render_report"]

_STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "bold red",
    Status.NOT_APPLICABLE: "dim",
    Status.XFAIL: "yellow",
}


def render_report(report: Report, console: Console) -> None:
    """Print ``report`` as a table (check, status, time, message) and a summary line."""
    table = Table(title=f"Conformance of {report.target} ({report.model}, {report.profile})")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold")
    for r in report.results:
        style = _STYLE[r.status]
        table.add_row(r.check, f"[{style}]{r.status.value}[/]", f"{r.time:.3f}s", _short(r))
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
    verdict = "[green]OK[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"{verdict} {report.target}: {counts} in {report.time:.2f}s")
    for r in report.failed:
        console.print(f"[red]FAIL[/] {r.message}", highlight=False, soft_wrap=True)


def _short(result: CheckResult) -> str:
    if result.status is Status.FAILED and result.call:
        return f"{result.call}: expected {result.expected}; got {result.got}"
    return result.message


def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            help="pkg.module:factory or a registered model name (default: every registered model)",
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
        bool, typer.Option("--thorough", help="Nightly profile: many more Hypothesis examples.")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check or area (repeatable)."),
    ] = None,
    xfail: Annotated[
        list[str] | None,
        typer.Option("--xfail", metavar="CHECK=REASON", help="Declare an expected failure."),
    ] = None,
) -> None:
    """Check that models honour the worldmodel-sdk protocol."""
    from .registry import select_checks
    from .reports import write_json, write_junit_xml
    from .runner import run_checks
    from .target import registered_targets

    console = Console()
    expected = _parse_xfail(xfail or [])
    try:
        select_checks(only or [])
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--only") from None
    reports = []
    for spec in targets or registered_targets():
        try:
            report = run_checks(
                spec,
                only=only or [],
                profile="thorough" if thorough else "default",
                max_examples=max_examples,
                xfail=expected,
            )
        except (ValueError, TypeError, LookupError) as exc:
            console.print(f"[bold red]cannot load target {spec!r}:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        render_report(report, console)
        reports.append(report)
    if junit_xml is not None:
        write_junit_xml(reports, junit_xml)
    if json_path is not None:
        write_json(reports[0] if len(reports) == 1 else reports, json_path)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _parse_xfail(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, reason = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected CHECK=REASON; got {item!r}", param_hint="--xfail")
        out[name.strip()] = reason.strip() or "declared expected failure"
    return out
