"""Writers for conformance reports: JSON and JUnit XML (for CI dashboards)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from .results import Report, Status

__all__ = ["REPORT_VERSION", "junit_xml", "write_json", "write_junit_xml"]

REPORT_VERSION = 1
"""Version of the JSON report layout (``"report_version"``), raised on incompatible changes."""


def write_json(reports: Report | Sequence[Report], path: str | os.PathLike[str]) -> None:
    """Write one report (an object) or several (``{"reports": [...]}``) as JSON.

    Both layouts carry ``"report_version": REPORT_VERSION`` at the top level.
    """
    data: dict[str, object] = (
        reports.to_dict()
        if isinstance(reports, Report)
        else {"ok": all(r.ok for r in reports), "reports": [r.to_dict() for r in reports]}
    )
    data = {"report_version": REPORT_VERSION, **data}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def junit_xml(reports: Report | Sequence[Report]) -> str:
    """Render reports as JUnit XML: one ``<testsuite>`` per target, one case per check.

    Not-applicable checks are ``<skipped>``; expected failures are ``<skipped
    type="xfail">``; failures carry the message, call, expected, got and reproduction.
    """
    items = [reports] if isinstance(reports, Report) else list(reports)
    root = ET.Element("testsuites", name="wmsdk.conformance")
    for report in items:
        counts = report.counts
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"wmsdk.conformance[{report.target}]",
            tests=str(len(report.results)),
            failures=str(counts[Status.FAILED.value]),
            errors="0",
            skipped=str(counts[Status.NOT_APPLICABLE.value] + counts[Status.XFAIL.value]),
            time=f"{report.time:.6f}",
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (("model", report.model), ("profile", report.profile)):
            ET.SubElement(props, "property", name=key, value=value)
        for result in report.results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"wmsdk.conformance.{result.check.split('.')[0]}",
                name=f"{result.check}[{report.target}]",
                time=f"{result.time:.6f}",
            )
            if result.status is Status.FAILED:
                failure = ET.SubElement(case, "failure", message=result.message)
                failure.text = (
                    "\n".join(
                        f"{k}: {v}"
                        for k, v in (
                            ("call", result.call),
                            ("expected", result.expected),
                            ("got", result.got),
                            ("reproduce", result.reproduce),
                        )
                        if v
                    )
                    or result.message
                )
            elif result.status is Status.NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=f"not applicable: {result.message}")
            elif result.status is Status.XFAIL:
                ET.SubElement(case, "skipped", type="xfail", message=result.message)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit_xml(reports: Report | Sequence[Report], path: str | os.PathLike[str]) -> None:
    """Write `junit_xml` of ``reports`` to ``path``."""
    Path(path).write_text(junit_xml(reports), encoding="utf-8")
