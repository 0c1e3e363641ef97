"""Line charts as inline SVG, drawn in Python: the HTML report needs no script, font or fetch.

A chart is a frame (axes, ticks, grid), one `<g class="series">` per series holding its polyline
segments (a None value breaks the line), optional point markers (`circle.pt`, with a `<title>`
tooltip that browsers show on hover without any script) and optional error bars (`path.err`).
Every text that reaches the markup goes through html.escape. Colours are SVG presentation
attributes, not style attributes, so the page's Content-Security-Policy can forbid inline styles.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Chart", "Point", "Series", "nice_ticks", "render_chart", "swatch"]

_W, _H = 600, 300  # the SVG's user units; CSS scales the element
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 14, 44
_INVALID = "#d62728"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Point:
    x: float
    y: float | None  # None: no value here (the line breaks)
    err: tuple[float, float] | None = None  # an interval drawn as an error bar
    tip: str = ""  # hover text of the marker
    flagged: bool = False  # drawn with a red ring (an invalid level)


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[Point]
    color: str
    dash: str | None = None  # SVG stroke-dasharray
    markers: bool = True
    shift_px: float = 0.0  # horizontal shift, so that error bars of series side by side part


@dataclass(frozen=True)
class Chart:
    key: str  # data-plot attribute: which plot this is (tests and readers find it by it)
    title: str
    x_label: str
    y_label: str
    series: Sequence[Series]
    x_log: bool = False
    x_ticks: Sequence[float] | None = None  # default: 1-2-5 ticks over the data
    note: str = ""  # a line under the chart
    zero_line: bool = False
    attrs: dict[str, str] = field(default_factory=dict)  # more data-* attributes on the figure


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1-2-5 steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1.0, 2.0, 2.5, 5.0, 10.0) if s * power >= raw * (1 - 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    value = start
    while value < hi + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False) -> None:
        self._log = log and lo > 0
        self._lo = math.log(lo) if self._log else lo
        self._hi = math.log(hi) if self._log else hi
        if self._hi <= self._lo:
            self._lo, self._hi = self._lo - 1.0, self._hi + 1.0
        self._a, self._b = a, b

    def __call__(self, value: float) -> float:
        v = math.log(value) if self._log else value
        return self._a + (v - self._lo) / (self._hi - self._lo) * (self._b - self._a)


def _bounds(chart: Chart) -> tuple[list[float], list[float]]:
    xs = [p.x for s in chart.series for p in s.points if math.isfinite(p.x)]
    ys: list[float] = []
    for s in chart.series:
        for p in s.points:
            if p.y is not None and math.isfinite(p.y):
                ys.append(p.y)
                ys.extend(v for v in p.err or () if math.isfinite(v))
    return xs, ys


def _frame(chart: Chart, sx: _Scale, sy: _Scale, xt: Sequence[float], yt: Sequence[float]) -> str:
    x0, x1, y0, y1 = _LEFT, _W - _RIGHT, _H - _BOTTOM, _TOP
    out = [f'<rect class="frame" x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}"/>']
    for v in yt:
        y = sy(v)
        out.append(f'<line class="grid" x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">')
        out.append(f"{_esc(_label(v))}</text>")
    for v in xt:
        x = sx(v)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{y1}" y2="{y0}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{y0 + 16}" text-anchor="middle">')
        out.append(f"{_esc(_label(v))}</text>")
    if chart.zero_line and yt[0] < 0 < yt[-1]:
        out.append(f'<line class="zero" x1="{x0}" x2="{x1}" y1="{sy(0):.1f}" y2="{sy(0):.1f}"/>')
    out.append(f'<text class="axis" x="{(x0 + x1) / 2}" y="{_H - 6}" text-anchor="middle">')
    out.append(f"{_esc(chart.x_label)}</text>")
    mid = (y0 + y1) / 2
    out.append(f'<text class="axis" x="14" y="{mid}" transform="rotate(-90 14 {mid})" ')
    out.append(f'text-anchor="middle">{_esc(chart.y_label)}</text>')
    return "".join(out)


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]


def _series(index: int, s: Series, sx: _Scale, sy: _Scale) -> str:
    color = _esc(s.color)
    dash = f' stroke-dasharray="{_esc(s.dash)}"' if s.dash else ""
    out = [f'<g class="series" data-series="{index}" data-label="{_esc(s.label)}">']
    coords = [
        (sx(p.x) + s.shift_px, None if p.y is None else sy(p.y))
        for p in s.points
        if math.isfinite(p.x)
    ]
    for run in _segments(coords):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        out.append(f'<polyline class="line" points="{pts}" stroke="{color}"{dash}/>')
    for p, (x, y) in zip(s.points, coords, strict=True):
        if y is None:
            continue
        if p.err is not None:
            lo, hi = sy(p.err[0]), sy(p.err[1])
            out.append(
                f'<path class="err" stroke="{color}" d="M{x:.1f} {lo:.1f}V{hi:.1f}'
                f'M{x - 4:.1f} {lo:.1f}h8M{x - 4:.1f} {hi:.1f}h8"/>'
            )
        if s.markers:
            ring = f' stroke="{_INVALID}" r="5.5"' if p.flagged else ' r="3"'
            cls = "pt invalid" if p.flagged else "pt"
            out.append(f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" fill="{color}"{ring}>')
            out.append(f"<title>{_esc(p.tip or s.label)}</title></circle>")
    out.append("</g>")
    return "".join(out)


def swatch(color: str, dash: str | None) -> str:
    """The legend's sample of a series' line."""
    d = f' stroke-dasharray="{_esc(dash)}"' if dash else ""
    return (
        f'<svg class="swatch" width="26" height="10" aria-hidden="true">'
        f'<line x1="1" x2="25" y1="5" y2="5" stroke="{_esc(color)}"{d}/></svg>'
    )


def render_chart(chart: Chart) -> str:
    """A `<figure class="plot">` holding the title, the SVG and a legend; a note if no data."""
    xs, ys = _bounds(chart)
    attrs = "".join(f' data-{_esc(k)}="{_esc(v)}"' for k, v in chart.attrs.items())
    head = f'<figure class="plot" data-plot="{_esc(chart.key)}"{attrs}>'
    caption = f"<figcaption>{_esc(chart.title)}</figcaption>"
    note = f'<p class="note">{_esc(chart.note)}</p>' if chart.note else ""
    if not xs or not ys:
        return f'{head}{caption}<p class="nodata">No data to plot.</p>{note}</figure>'
    xt = list(chart.x_ticks) if chart.x_ticks else nice_ticks(min(xs), max(xs))
    log = chart.x_log and min(xs) > 0
    x_lo, x_hi = (min(xs), max(xs)) if log else (min(xt[0], *xs), max(xt[-1], *xs))
    pad = (x_hi - x_lo) * 0.04 or 1.0
    if log:
        x_lo, x_hi = x_lo / 1.15, x_hi * 1.15
    else:
        x_lo, x_hi = x_lo - (pad if chart.x_ticks else 0), x_hi + (pad if chart.x_ticks else 0)
    yt = nice_ticks(min(0.0, *ys), max(ys))
    sx = _Scale(x_lo, x_hi, _LEFT + 8, _W - _RIGHT - 8, log=log)
    sy = _Scale(yt[0], yt[-1], _H - _BOTTOM, _TOP)
    body = "".join(_series(i, s, sx, sy) for i, s in enumerate(chart.series))
    svg = (
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{_esc(chart.title)}" xmlns="http://www.w3.org/2000/svg">'
        f"{_frame(chart, sx, sy, xt, yt)}{body}</svg>"
    )
    legend = "".join(
        f'<li data-series="{i}" tabindex="0">{swatch(s.color, s.dash)}{_esc(s.label)}</li>'
        for i, s in enumerate(chart.series)
    )
    return f'{head}{caption}{svg}<ul class="legend">{legend}</ul>{note}</figure>'
