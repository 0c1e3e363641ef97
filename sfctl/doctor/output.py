"""What `sfctl doctor` prints: the terminal report (laid out by `layout`, printed through
`sfctl.ui`), the JSON document, or SARIF 2.1.0 for code-scanning tools. The JSON and SARIF
builders are pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sfctl import __version__, ui
from sfctl.doctor.engine import INTERNAL_ERROR, Report
from sfctl.doctor.layout import EXPLAIN_HINT, report_lines
from sfctl.doctor.model import Finding, Severity

__all__ = ["SARIF_SCHEMA", "print_table", "to_json", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_INTERNAL_SUMMARY = "a check failed while running (a bug in sfctl doctor)"


def to_json(report: Report, fail_on: Severity) -> dict[str, Any]:
    return {
        "findings": [f.to_dict() for f in report.findings],
        "summary": report.summary(fail_on),
    }


def _rule(check_id: str, severity: Severity, summary: str, groups: Iterable[str]) -> dict[str, Any]:
    return {
        "id": check_id,
        "name": "".join(part.title() for part in check_id.split("-")),
        "shortDescription": {"text": summary},
        "defaultConfiguration": {"level": _LEVELS[severity]},
        "properties": {"tags": sorted(groups)},
    }


def _result(finding: Finding, index: int) -> dict[str, Any]:
    ref = finding.object
    result: dict[str, Any] = {
        "ruleId": finding.check,
        "ruleIndex": index,
        "level": _LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [
            {
                "logicalLocations": [
                    {"name": ref.name, "fullyQualifiedName": str(ref), "kind": "resource"}
                ]
            }
        ],
        "properties": {"object": ref.to_dict()},
    }
    if finding.suppressed is not None:
        kind = "inSource" if finding.suppressed_by == "annotation" else "external"
        result["suppressions"] = [{"kind": kind, "justification": finding.suppressed}]
    return result


def to_sarif(report: Report) -> dict[str, Any]:
    """One run; rules are the checks that ran (plus the internal-error rule when needed);
    each result names its object with a logical location (`Kind/namespace/name`)."""
    rules = [_rule(c.id, c.severity, c.summary, c.groups) for c in report.checks]
    if any(f.check == INTERNAL_ERROR for f in report.findings):
        rules.append(_rule(INTERNAL_ERROR, Severity.ERROR, _INTERNAL_SUMMARY, ()))
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "sfctl doctor",
                "version": __version__,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "warning", "message": {"text": note}} for note in report.notes
                ],
            }
        ],
        "results": [_result(f, index[f.check]) for f in report.findings],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 or word == 'info' else 's'}"


def print_table(report: Report, fail_on: Severity, *, explain: bool = False) -> None:
    """Findings grouped by severity, most severe first, a header line each and what is wrong
    under it (`explain`: the whole message); suppressed ones last with their reason; then one
    summary line and the collectors' notes (on stderr)."""
    active = report.active
    ui.styled_lines(report_lines(report.findings, ui.width(), explain=explain))
    summary = report.summary(fail_on)
    counts = ", ".join(_plural(summary[s.label], s.label) for s in sorted(Severity, reverse=True))
    line = f"{counts}, {summary['suppressed']} suppressed ({summary['checks_run']} checks run)"
    if not active:
        ui.success(f"no findings: {line}")
    else:
        ui.info(ui.literal(line))
        if not explain:
            ui.info(ui.literal(EXPLAIN_HINT))
    for note in report.notes:
        ui.warn(note)
