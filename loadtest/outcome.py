"""What became of each arm: it measured (`ok`), it ran and measured nothing at some level
(`failed`: not one request succeeded, as with no network, a wrong URL or a refused key), or it
did not run (`not_run`, with the reason). A failed arm is no result: the run exits 3.

Worked out from the JSON report's levels, so that a saved report, an older one too, says the
same as the run did; only the reasons an arm did not run are read from the report's `arms`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from loadtest.arms import SMARTFLOW_ONLY

__all__ = [
    "EXIT_ARM_FAILED",
    "EXIT_THRESHOLD",
    "Outcome",
    "arm_outcomes",
    "errors_text",
    "exit_code",
    "failure_lines",
    "level_failed",
    "not_run_lines",
    "outcomes_json",
    "report_outcomes",
]

EXIT_THRESHOLD = 1
EXIT_ARM_FAILED = 3  # wins over a threshold: a failed arm's figures are no measurement at all

Status = Literal["ok", "failed", "not_run"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str | None = None  # not_run: why; failed: where and with which errors
    failed_levels: tuple[float, ...] = ()


def level_failed(arm: Mapping[str, Any]) -> bool:
    """Requests were scheduled at this level, and none succeeded."""
    return bool(arm.get("n_scheduled")) and arm.get("success_rate") == 0


def errors_text(errors: Mapping[str, Any] | None) -> str:
    """The error taxonomy without the successes, `connect_error=20 timeout=3`; `-` when none."""
    shown = sorted((str(k), v) for k, v in (errors or {}).items() if k != "2xx")
    return " ".join(f"{k}={v}" for k, v in shown) or "-"


def _failed(name: str, levels: Sequence[Mapping[str, Any]]) -> Outcome:
    failed = [lv for lv in levels if level_failed((lv.get("arms") or {}).get(name) or {})]
    if not failed:
        return Outcome("ok")
    errors: Counter[str] = Counter()
    for level in failed:
        errors.update(level["arms"][name].get("errors") or {})
    rates = tuple(float(lv.get("target_rps") or 0) for lv in failed)
    at = ", ".join(f"{r:g}" for r in rates)
    return Outcome("failed", f"no request succeeded at {at} rps ({errors_text(errors)})", rates)


def arm_outcomes(
    levels: Sequence[Mapping[str, Any]], not_run: Mapping[str, str]
) -> dict[str, Outcome]:
    """Every arm that ran (in the levels' order), then those that did not."""
    names: list[str] = []
    for level in levels:
        names += [str(n) for n in level.get("arms") or {} if n not in names]
    found = {name: _failed(name, levels) for name in names}
    found.update({n: Outcome("not_run", str(why)) for n, why in not_run.items() if n not in found})
    return found


def report_outcomes(report: Mapping[str, Any]) -> dict[str, Outcome]:
    stored = report.get("arms")
    arms = stored if isinstance(stored, dict) else {}
    not_run = {
        str(name): str(arm.get("reason") or "unknown")
        for name, arm in arms.items()
        if isinstance(arm, dict) and arm.get("status") == "not_run"
    }
    return arm_outcomes(report.get("levels") or [], not_run)


def outcomes_json(outcomes: Mapping[str, Outcome]) -> dict[str, dict[str, Any]]:
    return {n: asdict(o) | {"failed_levels": list(o.failed_levels)} for n, o in outcomes.items()}


def failure_lines(outcomes: Mapping[str, Outcome]) -> list[str]:
    """One line per arm that ran and failed: `direct arm failed: no request succeeded at ...`."""
    return [f"{n} arm failed: {o.reason}" for n, o in outcomes.items() if o.status == "failed"]


def not_run_lines(outcomes: Mapping[str, Outcome]) -> list[str]:
    """One line per arm that did not run, with the reason; none for an arm the user turned off
    (--smartflow-only): that needs no saying."""
    return [
        f"{name} arm not run: {o.reason}"
        for name, o in outcomes.items()
        if o.status == "not_run" and o.reason != SMARTFLOW_ONLY
    ]


def exit_code(outcomes: Mapping[str, Outcome], threshold_failures: Sequence[str]) -> int:
    """0 ok, 1 a threshold failed, 3 an arm failed (2, bad usage, is the front ends')."""
    if any(o.status == "failed" for o in outcomes.values()):
        return EXIT_ARM_FAILED
    return EXIT_THRESHOLD if threshold_failures else 0
