"""`sfctl bench` and `sfctl bench compare`, run as the real CLI against `sfctl mock-upstream`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfctl.commands.bench import expand_multi

from support.bench_cli import run_module
from support.procs import mock_upstream_process


def sfctl(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("sfctl", *args)


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with mock_upstream_process() as url:
        yield url


def bench(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return sfctl(
        "bench", "--target", url, "--key", "sk-test", "--model", "gpt-4o-mini",
        "--duration", "1", "--warmup", "2", "--grace", "2", "--seed", "7", *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(mock_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One run with two levels and two passing thresholds: the JSON and CSV paths and stdout."""
    out = tmp_path_factory.mktemp("bench")
    json_path, csv_path = out / "report.json", out / "report.csv"
    proc = bench(
        mock_url, "--smartflow-only", "--rps", "20", "30", "--mode", "miss",
        "-o", str(json_path), "--csv", str(csv_path),
        "--threshold", "success>=99%", "--threshold", "p99<10s",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json_path, csv_path, proc.stdout


def test_run_writes_json_and_csv(report: tuple[Path, Path, str]) -> None:
    json_path, csv_path, stdout = report
    data = json.loads(json_path.read_text())
    assert data["seed"] == 7
    assert [lv["target_rps"] for lv in data["levels"]] == [20.0, 30.0]
    arm = data["levels"][0]["arms"]["smartflow"]
    assert arm["n_scheduled"] == 20 and arm["success_rate"] == 1.0
    assert "sk-test" not in json_path.read_text()  # keys stay out of the report
    assert data["thresholds"] == {"checked": ["success>=99%", "p99<10s"], "failures": []}
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [(r["target_rps"], r["arm"]) for r in rows] == [
        ("20.0", "smartflow"),
        ("30.0", "smartflow"),
    ]
    assert all(float(r["p50_ms"]) > 0 for r in rows)
    assert "SF p99" in stdout and "100.00%" in stdout  # the summary table


def test_failing_threshold_exits_1(mock_url: str, tmp_path: Path) -> None:
    json_path = tmp_path / "r.json"
    proc = bench(mock_url, "--smartflow-only", "--rps", "20", "-o", str(json_path),
                 "--threshold", "success<50%")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    failures = [line for line in proc.stderr.splitlines() if "threshold failed" in line]
    assert len(failures) == 1 and "success<50%" in failures[0]
    assert json.loads(json_path.read_text())["thresholds"]["failures"]  # still written


@pytest.mark.parametrize("design", [None, "abba", "sequential"])
def test_two_arms_report_overhead(mock_url: str, tmp_path: Path, design: str | None) -> None:
    json_path = tmp_path / "r.json"
    extra = ["--design", design] if design else []
    proc = bench(
        mock_url, "--direct", mock_url, "--direct-key", "sk-test", "--rps", "20",
        "-o", str(json_path), *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(json_path.read_text())
    assert report["config"]["design"] == (design or "abba")  # abba unless told
    level = report["levels"][0]
    assert set(level["arms"]) == {"smartflow", "direct"}
    assert all(arm["n_scheduled"] == 20 for arm in level["arms"].values())
    assert level["overhead"] is not None
    assert "Overhead p50" in proc.stdout


def test_help_lists_the_design_option() -> None:
    proc = sfctl("bench", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--design" in proc.stdout and "sequential" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "http://127.0.0.1:9", "--key", "k", "--mode", "sometimes"], "--mode"),
        (["--target", "http://127.0.0.1:9", "--key", "k", "--rps", "5", "-5"], "--rps"),
        (["--key", "k"], "--target"),
        (["--target", "http://127.0.0.1:9"], "--key"),
        (["--target", "http://127.0.0.1:9", "--key", "k", "--threshold", "p99~5"], "threshold"),
        (["--target", "http://127.0.0.1:9", "--key", "k", "--duration", "0"], "--duration"),
        (["--target", "http://127.0.0.1:9", "--key", "k", "--design", "latin"], "--design"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str], message: str) -> None:
    proc = sfctl("bench", *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def _slower(data: dict[str, Any]) -> dict[str, Any]:
    for level in data["levels"]:
        for arm in level["arms"].values():
            for p in ("p50", "p99"):
                arm["latency"][p] = arm["latency"][p] * 3 + 10
    return data


def test_compare_itself_passes(report: tuple[Path, Path, str]) -> None:
    proc = sfctl("bench", "compare", str(report[0]), str(report[0]))
    assert proc.returncode == 0, proc.stderr
    assert "no regressions" in proc.stdout


def test_compare_slower_copy_fails(report: tuple[Path, Path, str], tmp_path: Path) -> None:
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(_slower(json.loads(report[0].read_text()))))
    proc = sfctl("bench", "compare", str(report[0]), str(slower))
    assert proc.returncode == 1, proc.stderr
    assert "4 regression(s)" in proc.stdout  # p50 and p99 at both levels
    # the other way round, it got faster: no regression
    assert sfctl("bench", "compare", str(slower), str(report[0])).returncode == 0


@pytest.mark.parametrize("content", ["not json {", '{"levels": []}', '{"schema": 1}'])
def test_compare_invalid_file_exits_2(
    report: tuple[Path, Path, str], tmp_path: Path, content: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = sfctl("bench", "compare", str(report[0]), str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_compare_missing_file_exits_2(tmp_path: Path) -> None:
    proc = sfctl("bench", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_expand_multi() -> None:
    assert expand_multi(["--rps", "5", "10", "--duration", "1"]) == [
        "--rps", "5", "--rps", "10", "--duration", "1",
    ]  # fmt: skip
    assert expand_multi(["--rps", "5", "-5", "-o", "x"]) == ["--rps", "5", "--rps", "-5", "-o", "x"]
    assert expand_multi(["--rps"]) == ["--rps"]
    assert expand_multi(["--model", "m", "--", "--rps", "1"]) == [
        "--model",
        "m",
        "--",
        "--rps",
        "1",
    ]
