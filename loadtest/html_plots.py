"""The HTML report's plots, built from the JSON report dict: latency against RPS for each arm,
the overhead with its bootstrap interval next to the gateway's own figure, and per level the
latency and send-lag timelines. Values the JSON lacks (None, or inf that JSON wrote as null) are
gaps, never errors: a saved report from an older run still renders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from loadtest.arms import DIRECT
from loadtest.html_svg import Chart, Point, Series
from loadtest.outcome import report_outcomes

__all__ = ["ARM_COLORS", "arm_color", "latency_charts", "overhead_chart", "timeline_charts"]

ARM_COLORS = {"smartflow": ("#1f77b4", "#17becf"), "direct": ("#ff7f0e", "#8c564b")}
_OTHER = (("#2ca02c", "#98df8a"), ("#9467bd", "#c5b0d5"), ("#7f7f7f", "#c7c7c7"))
_DASH = {"p50": None, "p95": "7 4", "p99": "2 3"}

Report = dict[str, Any]
Level = dict[str, Any]


def arm_color(name: str, index: int, hit: bool = False) -> str:
    """A stable colour per arm (the gateway blue, direct orange); a second shade for hits."""
    pair = ARM_COLORS.get(name) or _OTHER[index % len(_OTHER)]
    return pair[1] if hit else pair[0]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _arm_names(levels: Sequence[Level]) -> list[str]:
    names: list[str] = []
    for level in levels:
        names += [n for n in level.get("arms", {}) if n not in names]
    return names


def _rps(level: Level) -> float | None:
    return _num(level.get("target_rps"))


def _invalid_tip(arm: dict[str, Any]) -> str:
    return f" · INVALID: {arm.get('invalid_reason') or 'generator fell behind'}" if arm else ""


def _dist_series(
    levels: Sequence[Level], name: str, index: int, pick: str, label: str, *, hit: bool = False
) -> Iterator[Series]:
    """p50/p95/p99 lines of one arm against RPS, read from the distribution `pick`."""
    for pct, dash in _DASH.items():
        points = []
        for level in levels:
            rps, arm = _rps(level), level.get("arms", {}).get(name) or {}
            if rps is None:
                continue
            dist = arm.get(pick) or {}
            y = _num(dist.get(pct))
            bad = bool(arm.get("invalid"))
            tip = f"{label} {pct} at {rps:g} rps: " + ("-" if y is None else f"{y:.3f} ms")
            points.append(Point(rps, y, tip=tip + (_invalid_tip(arm) if bad else ""), flagged=bad))
        yield Series(f"{label} {pct}", points, arm_color(name, index, hit), dash)


def _rps_ticks(levels: Sequence[Level]) -> tuple[list[float], bool]:
    ticks = sorted({r for r in map(_rps, levels) if r is not None})
    log = len(ticks) > 1 and ticks[0] > 0 and ticks[-1] / ticks[0] >= 4
    return ticks, log


def _has(levels: Sequence[Level], name: str, pick: str) -> bool:
    return any((lv.get("arms", {}).get(name) or {}).get(pick) for lv in levels)


def _latency_chart(
    key: str, title: str, series: list[Series], levels: Sequence[Level], note: str
) -> Chart:
    ticks, log = _rps_ticks(levels)
    return Chart(
        key, title, "target rate (requests/s)", "latency (ms)", series,
        x_log=log, x_ticks=ticks, note=note,
    )  # fmt: skip


def latency_charts(report: Report) -> list[Chart]:
    """One chart in miss mode; in mixed mode uncached requests and cache hits apart."""
    levels = report.get("levels") or []
    names = _arm_names(levels)
    mode = ((report.get("config") or {}).get("workload") or {}).get("mode")
    note = "From the intended send time (coordinated omission corrected). Red ring: invalid level."
    labelled = [
        n for n in names if _has(levels, n, "hit_latency") or _has(levels, n, "miss_latency")
    ]
    if mode != "mixed" or not labelled:
        series = [s for i, n in enumerate(names) for s in _dist_series(levels, n, i, "latency", n)]
        if mode == "mixed":
            note += " No response said hit or miss (x-smartflow-cache): these lines mix both."
        return [_latency_chart("latency-rps", "Latency against RPS", series, levels, note)]
    misses: list[Series] = []
    hits: list[Series] = []
    for i, name in enumerate(names):
        if name in labelled:
            misses += _dist_series(levels, name, i, "miss_latency", f"{name} miss")
            hits += _dist_series(levels, name, i, "hit_latency", f"{name} hit", hit=True)
        else:
            misses += _dist_series(levels, name, i, "latency", f"{name} (no cache)")
    mixed = note + " A median of hits and misses mixed means nothing: they are apart here."
    title = "Latency against RPS: cache misses and uncached arms"
    return [
        _latency_chart("latency-rps-miss", title, misses, levels, mixed),
        _latency_chart("latency-rps-hit", "Latency against RPS: cache hits", hits, levels, note),
    ]


def _interval(values: Any) -> tuple[float, float] | None:
    if isinstance(values, list | tuple) and len(values) == 2:
        lo, hi = _num(values[0]), _num(values[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def overhead_chart(report: Report) -> Chart:
    """Gateway minus direct at p50 and p95 with 95% bootstrap intervals, and the gateway's own
    median x-smartflow-overhead-ms (its measure of time spent inside it, upstream excluded)."""
    levels = report.get("levels") or []
    ticks, log = _rps_ticks(levels)
    measured: dict[str, list[Point]] = {"p50": [], "p95": []}
    server: list[Point] = []
    for level in levels:
        rps, over = _rps(level), level.get("overhead") or {}
        if rps is None:
            continue
        for pct, points in measured.items():
            y, ci = _num(over.get(f"{pct}_ms")), _interval(over.get(f"{pct}_ci"))
            span = "" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
            tip = f"overhead {pct} at {rps:g} rps: " + ("-" if y is None else f"{y:+.3f} ms{span}")
            points.append(Point(rps, y, err=ci, tip=tip))
        arm = (level.get("arms") or {}).get("smartflow") or {}
        y = _num(over.get("server_median_ms"))
        y = _num(arm.get("server_overhead_ms")) if y is None else y
        tip = f"x-smartflow-overhead-ms median at {rps:g} rps: " + (
            "-" if y is None else f"{y:.3f}"
        )
        server.append(Point(rps, y, tip=tip))
    color = arm_color("smartflow", 0)
    series = [
        Series("gateway - direct p50 (95% CI)", measured["p50"], color, None, shift_px=-5),
        Series("gateway - direct p95 (95% CI)", measured["p95"], color, _DASH["p95"], shift_px=5),
        Series("server-reported x-smartflow-overhead-ms (median)", server, "#2ca02c", "1 3"),
    ]
    return Chart("overhead", "Gateway overhead", "target rate (requests/s)", "overhead (ms)",
                 series, x_log=log, x_ticks=ticks, note=_overhead_note(report),
                 zero_line=True)  # fmt: skip


def _overhead_note(report: Report) -> str:
    """What the measured lines are, or why there are none: the direct arm did not run (and why),
    or an arm ran and failed (an arm that measured nothing has no difference to show)."""
    if any(lv.get("overhead") for lv in report.get("levels") or []):
        return (
            "Latency difference over the same unique prompts on both arms; "
            "error bars: bootstrap 95%."
        )
    outcomes = report_outcomes(report)
    direct = outcomes.get(DIRECT)
    if direct is None or direct.status == "not_run":
        why = f" ({direct.reason})" if direct is not None and direct.reason else ""
        return f"No direct arm ran{why}: only the gateway's own figure is shown."
    failed = [name for name, o in outcomes.items() if o.status == "failed"]
    if failed:
        return f"No overhead: the {' and '.join(failed)} arm failed (no request succeeded)."
    return "No overhead: no level had successful unique-prompt requests on both arms."


def _timeline_series(
    tl: dict[str, Any], name: str, index: int, keys: Sequence[tuple[str, str, bool]]
) -> list[Series]:
    half = (_num(tl.get("bucket_s")) or 0.0) / 2  # a bucket's value is drawn at its middle
    t = [None if x is None else x + half for x in map(_num, tl.get("t") or [])]
    out = []
    for key, label, hit in keys:
        values = tl.get(key)
        if not isinstance(values, list):
            continue
        points = [Point(x, _num(y)) for x, y in zip(t, values, strict=False) if x is not None]
        dash = _DASH["p99"] if key.endswith("p99") else None
        out.append(Series(f"{name} {label}", points, arm_color(name, index, hit), dash, False))
    return out


def _latency_keys(tl: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if tl.get("hit_p50") is not None or tl.get("miss_p50") is not None:
        return [("miss_p50", "miss p50", False), ("miss_p99", "miss p99", False),
                ("hit_p50", "hit p50", True), ("hit_p99", "hit p99", True)]  # fmt: skip
    return [("p50", "p50", False), ("p99", "p99", False)]


def timeline_charts(level: Level, names: Sequence[str]) -> list[Chart]:
    """The latency and the send-lag timelines of one level, every arm overlaid."""
    rps = _rps(level)
    title = f"{rps:g} rps" if rps is not None else "level"
    arms = level.get("arms") or {}
    bad = [
        f"{n}: {arms[n].get('invalid_reason') or 'invalid'}" for n in arms if arms[n].get("invalid")
    ]
    flag = f" · INVALID ({'; '.join(bad)})" if bad else ""
    latency: list[Series] = []
    lag: list[Series] = []
    width = None
    for i, name in enumerate(names):
        tl = (arms.get(name) or {}).get("timeline")
        if not isinstance(tl, dict):
            continue
        width = _num(tl.get("bucket_s"))
        latency += _timeline_series(tl, name, i, _latency_keys(tl))
        lag += _timeline_series(tl, name, i, [("lag_p50", "p50", False), ("lag_p99", "p99", False)])
    bucket = f" per {width * 1000:g} ms bucket" if width else ""
    attrs = {"rps": f"{rps:g}" if rps is not None else "", "invalid": "true" if bad else "false"}
    return [
        Chart("latency-timeline", f"Latency over time at {title}{flag}", "seconds from start",
              "latency (ms)", latency, note=f"Requests by intended send time{bucket}.",
              attrs=attrs),
        Chart("lag-timeline", f"Send lag over time at {title}{flag}", "seconds from start",
              "send lag (ms)", lag, note=f"Actual minus intended send time{bucket}.",
              attrs=attrs),
    ]  # fmt: skip
