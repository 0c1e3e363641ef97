"""The doctor as a deploy's first step (Compose: on the rendered files; Kubernetes: on the live
cluster, `--upgrade` checks): print what it found; its errors stop the deploy unless --force."""

from __future__ import annotations

from sfctl import ui
from sfctl.doctor.engine import Report
from sfctl.doctor.model import Severity
from sfctl.doctor.output import print_table
from sfctl.errors import SfctlError


def enforce(report: Report, *, title: str, what: str, fix: str, force: bool) -> None:
    """`title`: how the doctor ran ("sfctl doctor"); `what`: what it read ("the rendered
    files"); `fix`: what the user changes when it finds errors."""
    if not report.active:
        ui.success(f"{title}: nothing found in {what}")
        return
    print_table(report, Severity.ERROR)
    found = sum(1 for finding in report.active if finding.severity >= Severity.ERROR)
    if found and not force:
        raise SfctlError(
            f"{title} found {found} error(s) in {what} (above): {fix}, or pass --force to "
            "deploy anyway"
        )
