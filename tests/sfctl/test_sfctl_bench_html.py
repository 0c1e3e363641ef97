"""`--html` on `sfctl bench` and `python -m loadtest`, and `sfctl bench report`, run as the real
command lines against `sfctl mock-upstream` (the page itself is tested in
tests/loadtest/test_lt_html.py, in Chromium too)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bench_cli import run_module
from support.procs import mock_upstream_process

RUN = ("--key", "sk-test", "--duration", "1", "--warmup", "2", "--grace", "2", "--seed", "3")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with mock_upstream_process() as url:
        yield url


@pytest.fixture(scope="module")
def saved(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`sfctl bench -o r.json --html r.html`, two arms, two levels."""
    out = tmp_path_factory.mktemp("bench-html")
    json_path, html_path = out / "r.json", out / "r.html"
    proc = run_module(
        "sfctl", "bench", "--target", upstream, "--direct", upstream, "--direct-key", "sk-test",
        *RUN, "--rps", "20", "40", "-o", str(json_path), "--html", str(html_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json_path, html_path


def test_bench_writes_the_html_report(saved: tuple[Path, Path]) -> None:
    json_path, html_path = saved
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-plot="latency-rps"' in page and 'data-plot="overhead"' in page
    assert page.count('data-plot="latency-timeline"') == 2
    data = json.loads(json_path.read_text())
    assert all(arm["timeline"]["n"] for lv in data["levels"] for arm in lv["arms"].values())


def test_report_renders_the_same_page_from_the_saved_json(
    saved: tuple[Path, Path], tmp_path: Path
) -> None:
    json_path, html_path = saved
    again = tmp_path / "again.html"
    proc = run_module("sfctl", "bench", "report", str(json_path), "--html", str(again))
    assert proc.returncode == 0, proc.stderr
    assert "SF p50" in proc.stdout  # the summary table
    assert again.read_text(encoding="utf-8") == html_path.read_text(encoding="utf-8")


def test_report_prints_json(saved: tuple[Path, Path]) -> None:
    proc = run_module("sfctl", "bench", "report", str(saved[0]), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["seed"] == 3 and data["columns"][0] == "RPS" and len(data["rows"]) == 2


def test_report_of_a_file_that_is_no_report_exits_2(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"levels": []}')
    proc = run_module("sfctl", "bench", "report", str(other), "--html", str(tmp_path / "x.html"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a `sfctl bench` report" in proc.stderr
    assert not (tmp_path / "x.html").exists()


def test_python_m_loadtest_writes_html(upstream: str, tmp_path: Path) -> None:
    html_path = tmp_path / "r.html"
    proc = run_module(
        "loadtest", "--target", upstream, "--smartflow-only", *RUN, "--rps", "20",
        "--html", str(html_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = html_path.read_text(encoding="utf-8")
    assert 'data-plot="latency-rps"' in page and 'data-plot="lag-timeline"' in page
    assert "No direct arm ran" in page  # the overhead plot says why it has no interval
