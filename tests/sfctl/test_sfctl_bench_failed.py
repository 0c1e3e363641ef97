"""An arm that ran and failed every request (here: a closed loopback port, as with no network or
a wrong URL) is reported as failed, apart from an arm that did not run: in the table, the JSON,
the HTML report (opened in Chromium) and the exit code (3)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.bench_cli import run_module
from support.chromium import chromium, open_page
from support.procs import free_port, mock_upstream_process

RUN = ("--rps", "5", "--duration", "1", "--warmup", "1", "--grace", "2", "--seed", "2")
FAILED_EXIT = 3


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with mock_upstream_process() as url:
        yield url


def _closed() -> str:
    """A loopback port nothing listens on: every connection is refused."""
    return f"http://127.0.0.1:{free_port()}"


def _files(out: Path) -> tuple[str, ...]:
    return ("-o", str(out / "r.json"), "--html", str(out / "r.html"))


def _direct_fails(out: Path, upstream: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    args = ("bench", "--target", upstream, "--key", "sk-test", "--direct", _closed(), *RUN)
    return run_module(
        "sfctl", *args, "--direct-key", "sk-test", *_files(out), "--mode", "miss", columns=columns
    )


@pytest.fixture(scope="module")
def direct_failed(
    upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    """The gateway arm works, the direct arm's URL is wrong: the run, its JSON, its HTML."""
    out = tmp_path_factory.mktemp("direct-failed")
    proc = _direct_fails(out, upstream)
    return proc, json.loads((out / "r.json").read_text()), out / "r.html"


def test_a_failed_direct_arm_exits_3_with_one_line(
    direct_failed: tuple[subprocess.CompletedProcess[str], dict[str, Any], Path],
) -> None:
    proc, _, _ = direct_failed
    assert proc.returncode == FAILED_EXIT, proc.stderr
    assert "Traceback" not in proc.stderr
    said = [line for line in proc.stderr.splitlines() if "arm failed" in line]
    assert len(said) == 1 and "direct" in said[0] and "connect_error=" in said[0]


def test_the_table_shows_its_success_rate_and_errors(
    direct_failed: tuple[subprocess.CompletedProcess[str], dict[str, Any], Path],
) -> None:
    proc, _, _ = direct_failed
    head = next(line for line in proc.stdout.splitlines() if "OAI p50" in line)
    [row] = [line for line in proc.stdout.splitlines() if line.startswith("│ 5 ")]
    cells = dict(zip(_cells(head), _cells(row), strict=True))
    assert cells["Success"] == "100.00%" and cells["OAI success"] == "0.00%"
    assert cells["OAI errors"].startswith("connect_error=")
    assert cells["OAI p50"] == "-"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("│┃").split("│" if "│" in line else "┃")]


def test_the_json_says_the_arm_ran_and_failed(
    direct_failed: tuple[subprocess.CompletedProcess[str], dict[str, Any], Path],
) -> None:
    _, report, _ = direct_failed
    assert report["arms"]["smartflow"]["status"] == "ok"
    direct = report["arms"]["direct"]
    assert direct["status"] == "failed" and direct["failed_levels"] == [5.0]
    assert "no request succeeded" in direct["reason"]
    arm = report["levels"][0]["arms"]["direct"]
    assert arm["success_rate"] == 0.0 and arm["errors"] == {"connect_error": arm["n_scheduled"]}


_PROBE = """() => {
  const banner = document.querySelector("#failed-arms");
  const figure = document.querySelector('figure[data-plot="overhead"]');
  return {
    banner: banner ? banner.innerText : null,
    colour: banner ? getComputedStyle(banner).backgroundColor : null,
    rows: Array.from(document.querySelectorAll("#details tr.failed"))
      .map(tr => Array.from(tr.cells).map(td => td.innerText)),
    overhead: figure ? figure.innerText : null,
  };
}"""


def test_the_html_report_shows_the_failure_in_chromium(
    direct_failed: tuple[subprocess.CompletedProcess[str], dict[str, Any], Path],
) -> None:
    _, _, html_path = direct_failed
    with chromium() as browser:
        page, seen = open_page(browser, html_path)
        found = page.evaluate(_PROBE)
        page.context.close()
    assert "direct" in found["banner"] and "no request succeeded" in found["banner"]
    assert found["colour"] == "rgb(253, 232, 232)"  # the page's own style, under its CSP
    [row] = found["rows"]
    assert row[1] == "direct" and row[2].startswith("FAILED") and row[5] == "0.00%"
    assert row[-1].startswith("connect_error=")
    assert "No direct arm ran" not in found["overhead"] and "failed" in found["overhead"]
    assert seen["errors"] == [] and seen["requests"] == [html_path.as_uri()]


@pytest.mark.parametrize("front", ["sfctl", "loadtest"])
def test_a_failed_gateway_arm_exits_3_even_alone(front: str, tmp_path: Path) -> None:
    command = ("bench",) if front == "sfctl" else ()
    args = ("--target", _closed(), "--key", "sk-test", "--smartflow-only", *RUN)
    proc = run_module(front, *command, *args, *_files(tmp_path))
    assert proc.returncode == FAILED_EXIT, proc.stderr
    assert "Traceback" not in proc.stderr
    said = [line for line in proc.stderr.splitlines() if "arm failed" in line]
    assert len(said) == 1 and "smartflow" in said[0]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["arms"]["smartflow"]["status"] == "failed"
    assert report["arms"]["direct"]["status"] == "not_run"
    assert 'id="failed-arms"' in (tmp_path / "r.html").read_text()


def test_the_summary_fits_80_columns(upstream: str, tmp_path: Path) -> None:
    proc = _direct_fails(tmp_path, upstream, columns=80)
    assert proc.returncode == FAILED_EXIT, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    for column in ("SF p50", "OAI success", "OAI errors", "Overhead p50"):
        assert column in proc.stdout
    assert proc.stdout.count("│ 5 ") >= 2  # the table, split, repeats the RPS column


def test_bench_report_prints_the_failure_again(
    direct_failed: tuple[subprocess.CompletedProcess[str], dict[str, Any], Path], tmp_path: Path
) -> None:
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(direct_failed[1]))
    proc = run_module("sfctl", "bench", "report", str(saved))
    assert proc.returncode == 0, proc.stderr  # a viewer: the run's exit code said it
    assert "direct arm failed: no request succeeded" in proc.stderr
