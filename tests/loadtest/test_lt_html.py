"""The HTML report: rendered from reports of real short runs, escaped, and opened in Chromium.

Two runs feed it, both over loopback HTTP against the mock upstream. One goes through the real
gateway (in miss mode: its x-smartflow-overhead-ms is real). The other goes through a small
caching proxy written here, because the gateway has no response cache yet and mixed mode must show
hits and misses apart. The browser test uses Debian's Chromium through Playwright; CI installs
it, so a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from loadtest.html import render_html
from loadtest.html_svg import Chart, Point, Series, nice_ticks, render_chart
from loadtest.report import build_report
from loadtest.runner import Arm, BenchConfig, RunSettings, run_benchmark
from loadtest.stats import level_stats
from loadtest.timeline import MAX_BUCKETS, bucket_width
from loadtest.workload import WorkloadSpec
from mockllm.server import MockBehaviour, start_server

from support.chromium import chromium, open_page
from support.gateway import ADMIN_KEY, running_gateway, upstream_config

HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


async def _caching_front(upstream: str) -> tuple[web.AppRunner, str]:
    """A caching reverse proxy in front of the mock: an exact hit is served from memory."""
    cache: dict[bytes, bytes] = {}
    session = aiohttp.ClientSession()

    async def chat(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        prompt = orjson.dumps(orjson.loads(body)["messages"])
        if prompt in cache:
            spent = (time.perf_counter() - started) * 1000
            headers = {"x-smartflow-cache": "hit-exact", "x-smartflow-overhead-ms": f"{spent:.3f}"}
            return web.Response(
                body=cache[prompt], content_type="application/json", headers=headers
            )
        upstream_started = time.perf_counter()
        async with session.post(
            f"{upstream}/v1/chat/completions", data=body, headers={"Authorization": "Bearer k"}
        ) as resp:
            answer = await resp.read()
        upstream_ms = (time.perf_counter() - upstream_started) * 1000
        cache[prompt] = answer
        spent = (time.perf_counter() - started) * 1000 - upstream_ms
        headers = {"x-smartflow-cache": "miss", "x-smartflow-overhead-ms": f"{spent:.3f}"}
        return web.Response(body=answer, content_type="application/json", headers=headers)

    async def close(_app: web.Application) -> None:
        await session.close()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.on_cleanup.append(close)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _bench(config: BenchConfig) -> dict[str, Any]:
    runs = await run_benchmark(config)
    report = build_report(config, [level_stats(level, seed=config.seed) for level in runs])
    report["thresholds"] = {"checked": ["p99<10s"], "failures": []}
    # what `sfctl bench -o` writes and `sfctl bench report` reads back
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(report))
    return loaded


async def _mixed_run() -> dict[str, Any]:
    async with await start_server(MockBehaviour(latency_ms=2)) as mock:
        runner, front = await _caching_front(mock.url)
        try:
            config = BenchConfig(
                arms=(Arm("smartflow", front, "sk-test"), Arm("direct", mock.url, "sk-test")),
                rps=(30.0, 60.0),
                duration_s=1.0,
                workload=WorkloadSpec(mode="mixed"),
                seed=11,
                settings=RunSettings(warmup=2, grace_s=2.0),
            )
            return await _bench(config)
        finally:
            await runner.cleanup()


async def _gateway_run(tmp_path: Path) -> dict[str, Any]:
    async with await start_server(MockBehaviour(latency_ms=1)) as mock:
        config_yaml = upstream_config(("mock", f"openai-compatible:{mock.url}/v1"))
        async with running_gateway(tmp_path, config_yaml) as gw:
            config = BenchConfig(
                arms=(Arm("smartflow", gw.url, ADMIN_KEY), Arm("direct", mock.url, "sk-test")),
                rps=(25.0, 50.0),
                duration_s=1.0,
                workload=WorkloadSpec(mode="miss"),
                seed=5,
                settings=RunSettings(warmup=2, grace_s=2.0),
            )
            return await _bench(config)


@pytest.fixture(scope="module")
def mixed_report() -> dict[str, Any]:
    return asyncio.run(_mixed_run())


@pytest.fixture(scope="module")
def gateway_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_gateway_run(tmp_path_factory.mktemp("gateway")))


class _Tags(HTMLParser):
    """Element names, and attributes of svg figures, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.plots: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "figure":
            self.plots += [v or "" for k, v in attrs if k == "data-plot"]


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def _hostile(report: dict[str, Any]) -> dict[str, Any]:
    bad = copy.deepcopy(report)
    bad["config"]["arms"][0]["base_url"] = f"http://gw{HOSTILE}.example"
    bad["config"]["workload"]["model"] = f"</title></svg>{HOSTILE}"
    bad["host"]["platform"] = HOSTILE
    bad["versions"][HOSTILE] = HOSTILE
    bad["thresholds"] = {"checked": [HOSTILE], "failures": [f"25 rps: {HOSTILE} failed"]}
    level = bad["levels"][1]
    level["arms"]["smartflow"]["invalid"] = True
    level["arms"]["smartflow"]["invalid_reason"] = f"p99 send lag 9.0 ms > 5 ms {HOSTILE}"
    level["arms"]["smartflow"]["errors"][HOSTILE] = 1
    bad["arms"][HOSTILE] = {"status": "not_run", "reason": HOSTILE}
    return bad


def test_timelines_account_for_every_request(gateway_report: dict[str, Any]) -> None:
    for level in gateway_report["levels"]:
        for arm in level["arms"].values():
            tl = arm["timeline"]
            assert 1 < len(tl["t"]) <= MAX_BUCKETS
            assert sum(tl["n"]) == arm["n_scheduled"]
            assert sum(tl["errors"]) == arm["n_scheduled"] - round(
                arm["success_rate"] * arm["n_scheduled"]
            )
            assert all(v is None or v > 0 for v in tl["p50"])
            lengths = {len(tl[k]) for k in ("n", "errors", "p50", "p99", "lag_p50", "lag_p99")}
            assert lengths == {len(tl["t"])}
            assert tl["hit_p50"] is None  # the gateway says bypass: neither hit nor miss


def test_bucket_width_is_a_round_step_within_the_bucket_limit() -> None:
    assert bucket_width(30.0) == 0.5
    assert bucket_width(1.0) == 0.02
    assert bucket_width(0.1) == 0.01  # never under 10 ms
    assert bucket_width(2.0, 8) == 0.5
    for span in (0.3, 1.7, 7.0, 45.0, 600.0, 3600.0):
        width = bucket_width(span)
        assert span / width <= MAX_BUCKETS + 1e-9
        assert f"{width:g}".lstrip("0.")[0] in "125"


def test_chart_breaks_lines_at_gaps_and_draws_intervals() -> None:
    points = [Point(0, 1.0, err=(0.5, 1.5)), Point(1, None), Point(2, 3.0), Point(3, 2.0)]
    svg = render_chart(Chart("k", "t", "x", "y", [Series("a<b", points, "#123456")]))
    assert svg.count("<polyline") == 2  # the None splits the line; a lone point is a marker
    assert svg.count('class="pt"') == 3 and svg.count('class="err"') == 1
    assert "a&lt;b" in svg and "a<b" not in svg
    assert nice_ticks(0, 9.3) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(-2.6, 4.1) == [-4, -2, 0, 2, 4, 6]
    empty = render_chart(Chart("k", "t", "x", "y", [Series("a", [Point(0, None)], "#000")]))
    assert "No data to plot" in empty and "<svg" not in empty


def test_report_holds_config_summary_and_every_plot(gateway_report: dict[str, Any]) -> None:
    page = render_html(gateway_report)
    tags = _parse(page)
    n_levels = len(gateway_report["levels"])
    assert tags.plots == ["latency-rps", "overhead"] + ["latency-timeline", "lag-timeline"] * 2
    assert page.count('<svg class="chart"') == 2 + 2 * n_levels
    assert f"seed {gateway_report['seed']}" in page
    config = gateway_report["config"]
    assert config["arms"][0]["base_url"] in page and config["workload"]["model"] in page
    assert gateway_report["host"]["platform"] in page
    aiohttp_version = gateway_report["versions"]["aiohttp"]
    assert f'<td class="text">aiohttp</td><td class="text">{aiohttp_version}</td>' in page
    # the summary table: a header and one row per level, with the overhead interval
    summary = page.split('<div id="summary">')[1].split("</table>")[0]
    assert summary.count("<tr") == 1 + n_levels and "Overhead p50 [95% CI]" in summary
    # the overhead plot: p50 and p95 with error bars, and the gateway's own figure
    overhead = page.split('data-plot="overhead"')[1].split("</figure>")[0]
    assert overhead.count('class="err"') == 2 * n_levels
    assert "server-reported x-smartflow-overhead-ms" in overhead
    assert overhead.count("x-smartflow-overhead-ms median at") == n_levels
    assert "Thresholds held: p99&lt;10s" in page
    assert tags.tags.count("script") == 1 and "img" not in tags.tags


def test_mixed_mode_plots_hits_and_misses_apart(mixed_report: dict[str, Any]) -> None:
    arm = mixed_report["levels"][0]["arms"]["smartflow"]
    assert arm["hit_latency"] and arm["miss_latency"]
    assert arm["timeline"]["hit_p50"] is not None and arm["timeline"]["miss_p50"] is not None
    page = render_html(mixed_report)
    plots = _parse(page).plots
    assert plots[:3] == ["latency-rps-miss", "latency-rps-hit", "overhead"]
    hit_fig = page.split('data-plot="latency-rps-hit"')[1].split("</figure>")[0]
    miss_fig = page.split('data-plot="latency-rps-miss"')[1].split("</figure>")[0]
    assert re.findall(r'data-label="([^"]*)"', hit_fig) == [
        "smartflow hit p50", "smartflow hit p95", "smartflow hit p99",
    ]  # fmt: skip
    assert re.findall(r'data-label="([^"]*)"', miss_fig) == [
        "smartflow miss p50", "smartflow miss p95", "smartflow miss p99",
        "direct (no cache) p50", "direct (no cache) p95", "direct (no cache) p99",
    ]  # fmt: skip
    timeline = page.split('data-plot="latency-timeline"')[1].split("</figure>")[0]
    assert "smartflow hit p50" in timeline and "smartflow miss p50" in timeline


def test_invalid_levels_are_flagged(gateway_report: dict[str, Any]) -> None:
    good = copy.deepcopy(gateway_report)  # a busy machine may have made a level invalid already
    for level in good["levels"]:
        for arm in level["arms"].values():
            arm["invalid"], arm["invalid_reason"] = False, None
    bad = copy.deepcopy(good)
    arm = bad["levels"][1]["arms"]["smartflow"]
    arm["invalid"], arm["invalid_reason"] = True, "achieved 40.1 rps < 97% of 50.0"
    page = render_html(bad)
    assert '<div class="banner bad" id="invalid-levels">' in page
    assert "50 rps smartflow: invalid: achieved 40.1 rps &lt; 97% of 50.0" in page
    summary = page.split('<div id="summary">')[1].split("</table>")[0]
    assert summary.count('<tr class="invalid">') == 1
    latency = page.split('data-plot="latency-rps"')[1].split("</figure>")[0]
    assert latency.count('class="pt invalid"') == 3  # its p50, p95 and p99 markers
    assert page.count('data-invalid="true"') == 2  # both timelines of that level
    page = render_html(good)
    assert 'data-invalid="true"' not in page and 'class="pt invalid"' not in page
    assert 'id="invalid-levels"' not in page and '<tr class="invalid">' not in page


def test_hostile_strings_are_escaped(gateway_report: dict[str, Any]) -> None:
    page = render_html(_hostile(gateway_report))
    tags = _parse(page)
    assert "<script>alert" not in page and "<img" not in page
    assert tags.tags.count("script") == 1 and "img" not in tags.tags
    assert tags.handlers == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/title&gt;&lt;/svg&gt;" in page
    assert page.count('id="not-run-arms"') == 1  # an arm name and reason from the file, escaped


def test_an_old_report_without_timelines_still_renders(gateway_report: dict[str, Any]) -> None:
    old = copy.deepcopy(gateway_report)
    for level in old["levels"]:
        for arm in level["arms"].values():
            del arm["timeline"]
        level["arms"]["direct"]["latency"] = None
    del old["arms"]  # written before reports said what became of each arm
    page = render_html(old)
    assert "holds no timelines" in page
    assert _parse(page).plots == ["latency-rps", "overhead"]


# --- the must-show: the page in a real browser ------------------------------------------------

_DOM_PROBE = """() => Array.from(document.querySelectorAll("figure.plot")).map(f => ({
  key: f.dataset.plot,
  svgs: f.querySelectorAll("svg.chart").length,
  width: f.querySelector("svg.chart") ? f.querySelector("svg.chart").getBoundingClientRect().width : 0,
  series: f.querySelectorAll("svg.chart g.series").length,
  markers: f.querySelectorAll("svg.chart circle.pt").length,
  vertices: Array.from(f.querySelectorAll("svg.chart polyline")).reduce(
    (n, p) => n + p.points.numberOfItems, 0),
  errorbars: f.querySelectorAll("svg.chart path.err").length,
}))"""


@pytest.fixture(scope="module")
def browser(gateway_report: dict[str, Any], mixed_report: dict[str, Any]) -> Iterator[Any]:
    """Chromium through Playwright's sync API. The reports come first: while the browser runs,
    its event loop is the thread's running loop, and asyncio.run would refuse to start."""
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize("which", ["gateway", "mixed", "hostile"])
def test_chromium_shows_the_plots_without_errors(
    which: str,
    browser: Any,
    gateway_report: dict[str, Any],
    mixed_report: dict[str, Any],
    tmp_path: Path,
) -> None:
    report = {"gateway": gateway_report, "mixed": mixed_report}.get(which)
    report = report if report is not None else _hostile(gateway_report)
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    page, seen = open_page(browser, path)
    figures = page.evaluate(_DOM_PROBE)
    errors = [m for m in seen["console"] if m.startswith(("error", "warning"))]
    assert errors == [] and seen["errors"] == [] and seen["dialogs"] == []
    assert seen["requests"] == [path.as_uri()]  # nothing but the file itself
    n_levels, n_arms = len(report["levels"]), len(report["levels"][0]["arms"])
    by_key = {f["key"]: f for f in figures if not f["key"].endswith("timeline")}
    timelines = [f for f in figures if f["key"].endswith("timeline")]
    assert all(f["svgs"] == 1 and f["width"] > 200 for f in figures)
    assert len(timelines) == 2 * n_levels
    if which == "mixed":
        assert by_key["latency-rps-miss"]["markers"] == 2 * 3 * n_levels  # both arms
        assert by_key["latency-rps-hit"]["markers"] == 3 * n_levels  # the caching arm only
    else:
        assert by_key["latency-rps"]["markers"] == n_arms * 3 * n_levels
        assert by_key["latency-rps"]["vertices"] == n_arms * 3 * n_levels
    assert by_key["overhead"]["errorbars"] == 2 * n_levels
    assert by_key["overhead"]["markers"] == 3 * n_levels
    for figure in timelines:
        assert figure["series"] >= 2 * n_arms and figure["vertices"] >= 2 * n_arms * 3
    if which == "hostile":
        assert page.locator("#invalid-levels li").count() >= 1
        cell = page.locator("tr.invalid td").first  # the page's own style applies under its CSP
        assert cell.evaluate("td => getComputedStyle(td).backgroundColor") == "rgb(253, 232, 232)"
    # the one script works under the page's CSP: a legend click hides its series
    first = page.locator("figure.plot").first
    first.locator(".legend li").first.click()
    hidden = first.locator('g.series[data-series="0"]').evaluate("g => getComputedStyle(g).display")
    assert hidden == "none"
    page.context.close()


def test_chromium_shows_the_plots_without_javascript(
    browser: Any, gateway_report: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(gateway_report), encoding="utf-8")
    page, seen = open_page(browser, path, javascript=False)
    markers = page.locator("svg.chart circle.pt").count()
    lines = page.locator("svg.chart polyline").count()
    n_levels = len(gateway_report["levels"])
    assert markers == (2 * 3 + 3) * n_levels and lines >= 4 * n_levels
    box = page.locator('figure[data-plot="latency-rps"] svg.chart').bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    assert seen["errors"] == [] and seen["requests"] == [path.as_uri()]
    page.context.close()
