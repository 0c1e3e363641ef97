"""The self-contained HTML report of a load test: one file, no fetch of any kind.

Tables and inline SVG plots are built here with the standard library (jinja2 belongs to
sfctl/render). Everything read from the report goes through html.escape: base URLs, model names
and threshold texts are user input. A Content-Security-Policy meta tag lets the page run only its
own script and style (by hash) and load nothing at all, so a browser refuses, and reports, any
fetch a future change might add. The plots need no script; the one script only lets a click on a
legend entry hide that series.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterator, Sequence
from typing import Any

from loadtest.html_plots import latency_charts, overhead_chart, timeline_charts
from loadtest.html_svg import render_chart
from loadtest.outcome import errors_text, failure_lines, level_failed, report_outcomes
from loadtest.report import summary_rows

__all__ = ["render_html"]

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1280px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#555;margin:0 0 12px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.text,th.text{text-align:left;white-space:normal;min-width:8em}
tr.invalid td,tr.failed td{background:#fde8e8}
tr.invalid td:first-child,tr.failed td:first-child{color:#b00;font-weight:600}
.banner{border:1px solid;border-radius:4px;padding:8px 12px;margin:10px 0}
.banner.bad{background:#fde8e8;border-color:#d62728;color:#8a1010}
.banner.good{background:#e9f6ea;border-color:#2ca02c;color:#1d5e1d}
.banner.info{background:#eef4fb;border-color:#1f77b4;color:#173f5f}
.banner ul{margin:4px 0 0 18px;padding:0}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:18px}
figure.plot{margin:0;border:1px solid #e3e3e3;border-radius:4px;padding:8px}
figure.plot[data-invalid=true]{border-color:#d62728}
figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
.frame{fill:none;stroke:#999}.grid{stroke:#eee}.zero{stroke:#666;stroke-dasharray:3 3}
.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}
.line{fill:none;stroke-width:1.8}.err{fill:none;stroke-width:1.4}
circle.pt.invalid{stroke-width:2.5}.series.off{display:none}
.legend{list-style:none;padding:0;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:4px 14px;
font-size:12px}.legend li{cursor:pointer;user-select:none}.legend li.off{opacity:.35}
.swatch{vertical-align:middle;margin-right:4px;stroke-width:2.5}
.note,.nodata{color:#666;font-size:12px;margin:4px 0 0}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""

_SCRIPT = """
document.querySelectorAll("figure.plot .legend li").forEach(function (li) {
  function toggle() {
    var fig = li.closest("figure");
    var sel = 'g.series[data-series="' + li.dataset.series + '"]';
    fig.querySelectorAll(sel).forEach(function (g) { g.classList.toggle("off"); });
    li.classList.toggle("off");
  }
  li.addEventListener("click", toggle);
  li.addEventListener("keydown", function (e) { if (e.key === "Enter") { toggle(); } });
});
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _csp() -> str:
    return (
        f"default-src 'none'; style-src '{_sha256(_STYLE)}'; script-src '{_sha256(_SCRIPT)}'; "
        "img-src 'none'; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )


def _ms(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.{digits}f}"


def _rps(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "-"


def _pct(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value * 100:.2f}%"


def _table(head: Sequence[str], rows: Sequence[tuple[Sequence[str], str]], text_cols: int) -> str:
    """`rows` hold (cells, the row's class); the first `text_cols` columns are left-aligned."""

    def cls(i: int) -> str:
        return ' class="text"' if i < text_cols else ""

    out = ["<table><thead><tr>"]
    out += [f"<th{cls(i)}>{_esc(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for cells, row_class in rows:
        out.append(f'<tr class="{_esc(row_class)}">' if row_class else "<tr>")
        out += [f"<td{cls(i)}>{_esc(c)}</td>" for i, c in enumerate(cells)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _row_class(arms: list[dict[str, Any]]) -> str:
    """`failed` when an arm measured nothing, `invalid` when the generator fell behind."""
    if any(level_failed(arm) for arm in arms):
        return "failed"
    return "invalid" if any(arm.get("invalid") for arm in arms) else ""


def _summary(report: dict[str, Any]) -> str:
    head, rows, _notes = summary_rows(report)
    flags = [
        _row_class([arm or {} for arm in (level.get("arms") or {}).values()])
        for level in report.get("levels") or []
    ]
    marked = list(zip(rows, flags, strict=True))
    return f'<div id="summary">{_table(head, marked, 0)}</div>'


def _dist(arm: dict[str, Any], key: str, pct: str) -> str:
    return _ms((arm.get(key) or {}).get(pct))


_DETAIL_HEAD = (
    "RPS", "Arm", "Status", "Sched.", "Done", "Success", "Sched. rps", "Ach. rps",
    "p50", "p90", "p95", "p99", "max", "Svc p50", "Svc p99", "Lag p50", "Lag p99",
    "Hit rate", "Hit p50", "Hit p99", "Miss p50", "Miss p99", "TTFT p50", "ITL p50",
    "Srv overhead", "Errors",
)  # fmt: skip


def _status(arm: dict[str, Any]) -> str:
    if level_failed(arm):
        return "FAILED: no request succeeded"
    if arm.get("invalid"):
        return f"INVALID: {arm.get('invalid_reason') or 'generator fell behind'}"
    return "ok"


def _detail_row(rps: str, name: str, arm: dict[str, Any]) -> tuple[list[str], str]:
    status = _status(arm)
    cells = [
        rps, name, status, str(arm.get("n_scheduled", "-")), str(arm.get("n_completed", "-")),
        _pct(arm.get("success_rate")), _ms(arm.get("scheduled_rps"), 1),
        _ms(arm.get("achieved_rps"), 1),
        *(_dist(arm, "latency", p) for p in ("p50", "p90", "p95", "p99", "max")),
        _dist(arm, "service", "p50"), _dist(arm, "service", "p99"),
        _ms(arm.get("send_lag_p50_ms")), _ms(arm.get("send_lag_p99_ms")),
        _pct(arm.get("hit_rate")),
        _dist(arm, "hit_latency", "p50"), _dist(arm, "hit_latency", "p99"),
        _dist(arm, "miss_latency", "p50"), _dist(arm, "miss_latency", "p99"),
        _dist(arm, "ttft", "p50"), _dist(arm, "itl", "p50"), _ms(arm.get("server_overhead_ms")),
        errors_text(arm.get("errors")),
    ]  # fmt: skip
    return cells, _row_class([arm])


def _details(report: dict[str, Any]) -> str:
    rows = [
        _detail_row(_rps(level.get("target_rps")), str(name), arm or {})
        for level in report.get("levels") or []
        for name, arm in (level.get("arms") or {}).items()
    ]
    note = (
        "<p class=note>Times in ms; latency from the intended send time, service from the send.</p>"
    )
    return f'<div id="details">{_table(_DETAIL_HEAD, rows, 3)}{note}</div>'


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    elif isinstance(value, list | tuple):
        yield prefix, ", ".join(_scalar(v) for v in value)
    else:
        yield prefix, _scalar(value)


def _key_values(title: str, anchor: str, data: Any) -> str:
    rows = [([k, v], "") for k, v in _flatten(data or {})]
    return f'<h3>{_esc(title)}</h3><div id="{anchor}">{_table(["Key", "Value"], rows, 2)}</div>'


def _arm_banners(report: dict[str, Any]) -> list[str]:
    """An arm that ran and failed, apart from one that did not run (with the reason)."""
    outcomes = report_outcomes(report)
    out = []
    if failed := failure_lines(outcomes):
        items = "".join(f"<li>{_esc(line)}</li>" for line in failed)
        out.append(
            '<div class="banner bad" id="failed-arms"><strong>Failed: these arms ran and not one '
            f"request of a level succeeded, so that level has no latency figures.</strong><ul>"
            f"{items}</ul></div>"
        )
    not_run = [(n, o.reason) for n, o in outcomes.items() if o.status == "not_run"]
    if not_run:
        items = "".join(f"<li>{_esc(n)} arm: {_esc(why)}</li>" for n, why in not_run)
        out.append(f'<div class="banner info" id="not-run-arms">Did not run:<ul>{items}</ul></div>')
    return out


def _banners(report: dict[str, Any]) -> str:
    _head, _rows, notes = summary_rows(report)
    out = _arm_banners(report)
    if notes:
        items = "".join(f"<li>{_esc(n)}</li>" for n in notes)
        out.append(
            '<div class="banner bad" id="invalid-levels"><strong>Invalid levels: the generator '
            f"could not keep the schedule, so their figures understate latency.</strong><ul>{items}"
            "</ul></div>"
        )
    thresholds = report.get("thresholds") or {}
    failures, checked = thresholds.get("failures") or [], thresholds.get("checked") or []
    if failures:
        items = "".join(f"<li>{_esc(f)}</li>" for f in failures)
        out.append(f'<div class="banner bad" id="thresholds"><strong>Thresholds failed</strong>'
                   f"<ul>{items}</ul></div>")  # fmt: skip
    elif checked:
        held = ", ".join(_esc(c) for c in checked)
        out.append(f'<div class="banner good" id="thresholds">Thresholds held: {held}</div>')
    return "".join(out)


def _timelines(report: dict[str, Any]) -> str:
    levels = report.get("levels") or []
    names: list[str] = []
    for level in levels:
        names += [n for n in level.get("arms") or {} if n not in names]
    if not any(
        isinstance(arm, dict) and arm.get("timeline")
        for level in levels
        for arm in (level.get("arms") or {}).values()
    ):
        return '<p class="nodata">This report holds no timelines (written by an older version).</p>'
    rows = ("".join(render_chart(c) for c in timeline_charts(lv, names)) for lv in levels)
    return "".join(f'<div class="plots">{row}</div>' for row in rows)


def _header(report: dict[str, Any]) -> str:
    config = report.get("config") or {}
    workload = config.get("workload") or {}
    arms = " vs ".join(f"{a.get('name')} ({a.get('base_url')})" for a in config.get("arms") or [])
    parts = [
        f"seed {_scalar(report.get('seed'))}",
        f"mode {_scalar(workload.get('mode'))}",
        f"model {_scalar(workload.get('model'))}",
        f"{_scalar(config.get('duration_s'))} s per level",
        f"{_scalar(config.get('arrival'))} arrivals",
        f"created {_scalar(report.get('created_at'))}",
    ]
    return (
        f"<h1>Smartflow load test</h1><p class=meta>{_esc(' · '.join(parts))}</p>"
        f"<p class=meta>{_esc(arms)}</p>"
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one HTML document (a str; write it with UTF-8)."""
    charts = [*latency_charts(report), overhead_chart(report)]
    title = f"Smartflow load test · seed {_scalar(report.get('seed'))}"
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>",
            f'<meta http-equiv="Content-Security-Policy" content="{_esc(_csp())}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>",
            _header(report),
            _banners(report),
            "<h2>Summary</h2>",
            _summary(report),
            '<h2>Latency and overhead</h2><div class="plots" id="plots">',
            "".join(render_chart(c) for c in charts),
            '</div><h2>Timelines</h2><div id="timelines">',
            _timelines(report),
            "</div><h2>Per level and arm</h2>",
            _details(report),
            "<h2>Run</h2>",
            _key_values("Configuration", "config", report.get("config")),
            _key_values("Versions", "versions", report.get("versions")),
            _key_values("Host", "host", report.get("host")),
            f"<p class=meta>schema {_esc(_scalar(report.get('schema')))}</p>",
            f"<script>{_SCRIPT}</script></body></html>\n",
        ]
    )
