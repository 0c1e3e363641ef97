"""Run the doctor: pick the checks (`--check`, `--skip`, `--group`), run each on the inventory,
mark suppressed findings, count. A check that raises becomes a finding of its own
(`doctor-internal-error`) so one bug never hides every other finding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sfctl.doctor.checks import all_checks
from sfctl.doctor.model import Check, Finding, Inventory, ObjectRef, Severity
from sfctl.doctor.suppress import Rule, apply_suppressions, unknown_annotation_ids
from sfctl.errors import UsageError

__all__ = [
    "INTERNAL_ERROR",
    "UPGRADE_GROUP",
    "Report",
    "diagnose",
    "exit_code",
    "run_checks",
    "select_checks",
]

INTERNAL_ERROR = "doctor-internal-error"
UPGRADE_GROUP = "upgrade"  # the guide's pre-upgrade runbook: `sfctl doctor --upgrade`


def _split(values: Iterable[str]) -> list[str]:
    """Repeated options and comma-separated lists both work: --check a,b --check c."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def select_checks(
    checks: Mapping[str, Check],
    *,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    groups: Iterable[str] = (),
) -> list[Check]:
    """The checks to run, in their stable order. Unknown ids or groups are a usage error that
    lists the valid ones."""
    wanted, skipped, group_names = _split(only), _split(skip), _split(groups)
    unknown = [c for c in (*wanted, *skipped) if c not in checks]
    if unknown:
        raise UsageError(
            f"unknown check(s): {', '.join(unknown)}. Valid checks: {', '.join(checks)}"
        )
    known_groups = sorted({g for c in checks.values() for g in c.groups})
    bad_groups = [g for g in group_names if g not in known_groups]
    if bad_groups:
        raise UsageError(
            f"unknown group(s): {', '.join(bad_groups)}. Valid groups: {', '.join(known_groups)}"
        )
    selected = [c for c in checks.values() if not wanted or c.id in wanted]
    if group_names:
        selected = [c for c in selected if c.groups & set(group_names)]
    return [c for c in selected if c.id not in skipped]


def run_checks(checks: Iterable[Check], inventory: Inventory) -> list[Finding]:
    findings: list[Finding] = []
    for chk in checks:
        try:
            findings.extend(chk(inventory))
        except Exception as exc:  # a bug in one check must not end the run
            findings.append(
                Finding(
                    INTERNAL_ERROR,
                    Severity.ERROR,
                    ObjectRef("DoctorCheck", chk.id),
                    f"check {chk.id} failed: {type(exc).__name__}: {exc}. Its findings are "
                    "missing from this report; please report this (with the objects it read) "
                    "and run with --skip " + chk.id + " meanwhile.",
                    headline=f"check {chk.id} failed: {type(exc).__name__}: {exc}",
                )
            )
    return findings


def _order(finding: Finding) -> tuple[int, str, str, str, str]:
    ref = finding.object
    return (-finding.severity, finding.check, ref.kind, ref.namespace or "", ref.name)


@dataclass(slots=True)
class Report:
    checks: list[Check]
    findings: list[Finding]  # most severe first; suppressed ones included, marked
    notes: list[str] = field(default_factory=list)

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    def summary(self, fail_on: Severity) -> dict[str, Any]:
        active = self.active
        counts = {s.label: sum(1 for f in active if f.severity == s) for s in Severity}
        return {
            "checks_run": len(self.checks),
            "findings": len(active),
            **{s.label: counts[s.label] for s in sorted(Severity, reverse=True)},
            "suppressed": len(self.findings) - len(active),
            "fail_on": fail_on.label,
            "failed": exit_code(self.findings, fail_on) == 1,
            "notes": list(self.notes),
        }


def exit_code(findings: Sequence[Finding], fail_on: Severity) -> int:
    """1 when an unsuppressed finding is at or above `fail_on`, else 0."""
    return int(any(f.suppressed is None and f.severity >= fail_on for f in findings))


def diagnose(
    inventory: Inventory,
    checks: Sequence[Check] | None = None,
    rules: Iterable[Rule] = (),
) -> Report:
    """Run `checks` (default: all) on the inventory and apply the suppressions."""
    known = all_checks()
    selected = list(known.values()) if checks is None else list(checks)
    findings = apply_suppressions(run_checks(selected, inventory), inventory, rules)
    notes = list(inventory.notes) + unknown_annotation_ids(inventory, known)
    return Report(selected, sorted(findings, key=_order), notes)
