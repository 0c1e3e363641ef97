"""Reports: JSON (everything, with config, seed, versions, host), CSV (one row per level and arm),
the plain-text summary table, threshold checks and the comparison of two JSON reports.
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

from loadtest.arms import GATEWAY
from loadtest.outcome import arm_outcomes, errors_text, outcomes_json
from loadtest.runner import BenchConfig
from loadtest.stats import LevelStats

__all__ = [
    "CSV_FIELDS",
    "PRIMARY",
    "SCHEMA",
    "Regression",
    "Threshold",
    "ThresholdError",
    "build_report",
    "check_thresholds",
    "compare",
    "format_ms",
    "format_summary",
    "parse_threshold",
    "summary_rows",
    "to_csv",
]

SCHEMA = "smartflow.loadtest/1"
PRIMARY = GATEWAY  # the arm bare metric names (p99, success, ...) refer to


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_report(
    config: BenchConfig, levels: Sequence[LevelStats], not_run: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The JSON report (a plain dict; orjson/json dump it as is). API keys are left out.
    `arms` says what became of each arm, with why an arm in `not_run` did not run."""
    cfg = asdict(config)
    cfg["arms"] = [{"name": a.name, "base_url": a.base_url} for a in config.arms]
    level_dicts = [level.to_dict() for level in levels]
    return {
        "schema": SCHEMA,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": config.seed,
        "config": cfg,
        "versions": {
            name: _version(name) for name in ("smartflow", "aiohttp", "hdrhistogram", "orjson")
        },
        "host": {
            "nproc": os.cpu_count(),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "arms": outcomes_json(arm_outcomes(level_dicts, not_run or {})),
        "levels": level_dicts,
    }


CSV_FIELDS = (
    "target_rps", "arm", "scheduled_rps", "achieved_rps", "invalid", "n_scheduled",
    "n_completed", "success_rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
    "service_p50_ms", "service_p99_ms", "send_lag_p50_ms", "send_lag_p99_ms", "hit_rate",
    "hit_p50_ms", "miss_p50_ms", "ttft_p50_ms", "itl_p50_ms", "server_overhead_ms",
    "overhead_p50_ms", "overhead_p50_lo", "overhead_p50_hi", "overhead_p95_ms", "errors",
)  # fmt: skip


def _get(d: dict[str, Any] | None, key: str) -> Any:
    return None if d is None else d.get(key)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for level in report["levels"]:
        over = level.get("overhead")
        for name, arm in level["arms"].items():
            gw = name == PRIMARY and over is not None
            writer.writerow(
                {
                    "target_rps": level["target_rps"],
                    "arm": name,
                    "scheduled_rps": round(arm["scheduled_rps"], 3),
                    "achieved_rps": round(arm["achieved_rps"], 3),
                    "invalid": arm["invalid"],
                    "n_scheduled": arm["n_scheduled"],
                    "n_completed": arm["n_completed"],
                    "success_rate": arm["success_rate"],
                    **{f"{p}_ms": _get(arm["latency"], p) for p in ("p50", "p90", "p95", "p99")},
                    "max_ms": _get(arm["latency"], "max"),
                    "service_p50_ms": _get(arm["service"], "p50"),
                    "service_p99_ms": _get(arm["service"], "p99"),
                    "send_lag_p50_ms": arm["send_lag_p50_ms"],
                    "send_lag_p99_ms": arm["send_lag_p99_ms"],
                    "hit_rate": arm["hit_rate"],
                    "hit_p50_ms": _get(arm["hit_latency"], "p50"),
                    "miss_p50_ms": _get(arm["miss_latency"], "p50"),
                    "ttft_p50_ms": _get(arm["ttft"], "p50"),
                    "itl_p50_ms": _get(arm["itl"], "p50"),
                    "server_overhead_ms": arm["server_overhead_ms"],
                    "overhead_p50_ms": over["p50_ms"] if gw else None,
                    "overhead_p50_lo": over["p50_ci"][0] if gw else None,
                    "overhead_p50_hi": over["p50_ci"][1] if gw else None,
                    "overhead_p95_ms": over["p95_ms"] if gw else None,
                    "errors": ";".join(f"{k}={v}" for k, v in sorted(arm["errors"].items())),
                }
            )
    return out.getvalue()


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{float(value):,.1f}ms"


def format_summary(report: dict[str, Any]) -> str:
    """The seed-style table as plain text (the `python -m loadtest` output)."""
    head, rows, notes = summary_rows(report)
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    lines += [f"! {note}" for note in notes]
    return "\n".join(lines)


def _primary(level: dict[str, Any]) -> dict[str, Any]:
    arms: dict[str, dict[str, Any]] = level["arms"]
    return arms.get(PRIMARY) or next(iter(arms.values()))


def _has_errors(levels: Sequence[dict[str, Any]], name: str | None) -> bool:
    """Whether any level of arm `name` (None: the primary arm) had a request fail."""
    arms = [_primary(lv) if name is None else lv["arms"].get(name) or {} for lv in levels]
    return any(errors_text(arm.get("errors")) != "-" for arm in arms)


def _gateway_cells(sf: dict[str, Any], *, split: bool, errors: bool) -> list[str]:
    lat, hit = sf["latency"] or {}, sf["hit_rate"]
    cells = [format_ms(lat.get(p)) for p in ("p50", "p95", "p99")]
    cells.append(f"{sf['success_rate'] * 100:.2f}%")
    cells += [errors_text(sf.get("errors"))] if errors else []
    cells += [f"{sf['achieved_rps']:.1f}", f"{sf['send_lag_p99_ms']:.2f}ms"]
    cells.append("-" if hit is None else f"{hit * 100:.0f}%")
    if split:
        hits, misses = sf.get("hit_latency") or {}, sf.get("miss_latency") or {}
        cells += [format_ms(d.get(p)) for d in (hits, misses) for p in ("p50", "p99")]
    return cells


def _direct_cells(level: dict[str, Any], sf_p50: float | None, *, errors: bool) -> list[str]:
    direct = level["arms"].get("direct") or {}
    dl = direct.get("latency") or {}
    rate = direct.get("success_rate")
    cells = [format_ms(dl.get(p)) for p in ("p50", "p95", "p99")]
    cells.append("-" if rate is None else f"{rate * 100:.2f}%")
    cells += [errors_text(direct.get("errors"))] if errors else []
    cells.append(f"{sf_p50 / dl['p50']:.2f}x" if sf_p50 and dl.get("p50") else "-")
    over = level.get("overhead")
    if over is None:
        return [*cells, "-", "-"]
    lo, hi = over["p50_ci"]
    return [
        *cells,
        f"{over['p50_ms']:+.1f}ms [{lo:+.1f}, {hi:+.1f}]",
        format_ms(over["server_median_ms"]),
    ]


def summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    """The seed-style table (columns, rows) and one note per invalid level and arm. An arm's
    success rate and errors are columns of their own, so a failed arm shows how it failed."""
    levels = report["levels"]
    two = any("direct" in lv["arms"] for lv in levels)
    # a median of a two-peaked mix means nothing: when responses say hit or miss, show both
    split = any(
        _primary(lv).get("hit_latency") or _primary(lv).get("miss_latency") for lv in levels
    )
    sf_errors, direct_errors = _has_errors(levels, None), _has_errors(levels, "direct")
    head = ["RPS", "SF p50", "SF p95", "SF p99", "Success"]
    head += ["Errors"] if sf_errors else []
    head += ["Ach. rps", "Lag p99", "Hits"]
    if split:
        head += ["Hit p50", "Hit p99", "Miss p50", "Miss p99"]
    if two:
        head += ["OAI p50", "OAI p95", "OAI p99", "OAI success"]
        head += ["OAI errors"] if direct_errors else []
        head += ["SF/OAI", "Overhead p50 [95% CI]", "Srv"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for lv in levels:
        sf = _primary(lv)
        row = [f"{lv['target_rps']:g}{' !' if sf['invalid'] else ''}"]
        row += _gateway_cells(sf, split=split, errors=sf_errors)
        if two:
            row += _direct_cells(lv, (sf["latency"] or {}).get("p50"), errors=direct_errors)
        rows.append(row)
        for name, arm in lv["arms"].items():
            if arm["invalid"]:
                notes.append(f"{lv['target_rps']:g} rps {name}: invalid: {arm['invalid_reason']}")
    return head, rows, notes


class ThresholdError(ValueError):
    """A threshold expression that does not parse."""


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    op: str
    value: float  # ms for times, a fraction for rates


_THRESHOLD = re.compile(
    r"^\s*([a-z][a-z0-9_]*)\s*(<=|>=|<|>|==)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(ms|s|us|%)?\s*$"
)
_TIME_METRICS = {"p50", "p90", "p95", "p99", "max", "overhead_p50", "overhead_p95"}
_TIME_METRICS |= {f"direct_{m}" for m in ("p50", "p90", "p95", "p99", "max")}
_TIME_METRICS |= {"send_lag_p99", "service_p50", "service_p99"}
_RATE_METRICS = {"success", "hit_rate", "direct_success"}
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001, None: 1.0}


def parse_threshold(text: str) -> Threshold:
    """`metric OP number[unit]`: times in ms/s/us (ms when bare), rates in % or as a fraction.

    Metrics refer to the `smartflow` arm (or the only arm): p50 p90 p95 p99 max service_p50
    service_p99 send_lag_p99 success hit_rate; `direct_` + p50..max/success for the direct arm;
    overhead_p50 overhead_p95 for gateway minus direct.
    """
    m = _THRESHOLD.match(text)
    if m is None:
        raise ThresholdError(f"threshold {text!r} is not of the form metric<value (e.g. p99<50ms)")
    metric, op, number, unit = m.groups()
    value = float(number)
    if metric in _TIME_METRICS:
        if unit == "%":
            raise ThresholdError(f"threshold {text!r}: {metric} is a time (ms, s or us)")
        value *= _UNIT_MS[unit]
    elif metric in _RATE_METRICS:
        if unit not in (None, "%"):
            raise ThresholdError(f"threshold {text!r}: {metric} is a rate (% or a fraction)")
        value = value / 100.0 if unit == "%" else value
    else:
        known = ", ".join(sorted(_TIME_METRICS | _RATE_METRICS))
        raise ThresholdError(f"threshold {text!r}: unknown metric {metric!r} (known: {known})")
    return Threshold(text.strip(), metric, op, value)


def _metric(level: dict[str, Any], metric: str) -> float | None:
    arms = level["arms"]
    if metric.startswith("overhead_"):
        over = level.get("overhead")
        return None if over is None else float(over[f"{metric.removeprefix('overhead_')}_ms"])
    if metric.startswith("direct_"):
        arm, metric = arms.get("direct"), metric.removeprefix("direct_")
    else:
        arm = arms.get(PRIMARY) or next(iter(arms.values()), None)
    if arm is None:
        return None
    if metric == "success":
        return float(arm["success_rate"])
    if metric == "hit_rate":
        return None if arm["hit_rate"] is None else float(arm["hit_rate"])
    if metric == "send_lag_p99":
        return float(arm["send_lag_p99_ms"])
    dist = arm["service"] if metric.startswith("service_") else arm["latency"]
    value = _get(dist, metric.removeprefix("service_"))
    return None if value is None else float(value)


def _holds(value: float, op: str, limit: float) -> bool:
    if op == "<":
        return value < limit
    if op == "<=":
        return value <= limit
    if op == ">":
        return value > limit
    if op == ">=":
        return value >= limit
    return math.isclose(value, limit)


def check_thresholds(report: dict[str, Any], thresholds: Sequence[Threshold]) -> list[str]:
    """One line per violation, at every level; a metric that is missing fails too."""
    failures = []
    for threshold in thresholds:
        for level in report["levels"]:
            value = _metric(level, threshold.metric)
            rps = f"{level['target_rps']:g} rps"
            if value is None:
                failures.append(f"{rps}: {threshold.text}: {threshold.metric} was not measured")
            elif not _holds(value, threshold.op, threshold.value):
                shown = (
                    f"{value * 100:.3f}%" if threshold.metric in _RATE_METRICS else f"{value:.3f}ms"
                )
                failures.append(f"{rps}: {threshold.text} failed: {threshold.metric} = {shown}")
    return failures


@dataclass(frozen=True)
class Regression:
    target_rps: float
    arm: str
    metric: str
    before_ms: float
    after_ms: float

    def __str__(self) -> str:
        change = (self.after_ms / self.before_ms - 1) * 100 if self.before_ms else math.inf
        return (
            f"{self.target_rps:g} rps {self.arm} {self.metric}: "
            f"{self.before_ms:.2f}ms -> {self.after_ms:.2f}ms ({change:+.0f}%)"
        )


def compare(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    tolerance: float = 0.10,
    floor_ms: float = 0.5,
) -> list[Regression]:
    """Levels and arms present in both reports whose p50 or p99 grew by more than `tolerance`
    (a fraction) and by more than `floor_ms` (so that sub-millisecond jitter is not flagged)."""
    old = {lv["target_rps"]: lv for lv in before["levels"]}
    found = []
    for level in after["levels"]:
        prior = old.get(level["target_rps"])
        if prior is None:
            continue
        for name, arm in level["arms"].items():
            was = prior["arms"].get(name)
            if was is None or arm["latency"] is None or was["latency"] is None:
                continue
            for metric in ("p50", "p99"):
                a, b = float(was["latency"][metric]), float(arm["latency"][metric])
                if b > a * (1 + tolerance) and b - a > floor_ms:
                    found.append(Regression(level["target_rps"], name, metric, a, b))
    return found
