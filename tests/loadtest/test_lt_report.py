"""Thresholds, comparison, CSV, and `python -m loadtest` exit codes against the mock."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.report import ThresholdError, check_thresholds, compare, parse_threshold, to_csv
from mockllm.server import MockBehaviour, start_server

ROOT = Path(__file__).resolve().parents[2]


def _arm(p50: float, p99: float, success: float = 1.0) -> dict[str, Any]:
    dist = {"n": 100, "p50": p50, "p90": p99, "p95": p99, "p99": p99, "max": p99, "mean": p50}
    return {
        "scheduled_rps": 10.0, "achieved_rps": 10.0, "invalid": False, "invalid_reason": None,
        "n_scheduled": 100, "n_completed": 100, "success_rate": success, "latency": dist,
        "service": dist, "send_lag_p50_ms": 0.1, "send_lag_p99_ms": 0.5, "errors": {"2xx": 100},
        "cache": {}, "hit_rate": None, "hit_latency": None, "miss_latency": None, "ttft": None,
        "itl": None, "server_overhead_ms": None,
    }  # fmt: skip


def _report(p50: float, p99: float, over: float) -> dict[str, Any]:
    overhead = {"p50_ms": over, "p50_ci": [over - 1, over + 1], "p95_ms": over, "p95_ci": [0, 9]}
    return {
        "levels": [
            {
                "target_rps": 10.0,
                "arms": {"smartflow": _arm(p50, p99, 0.998), "direct": _arm(2.0, 4.0)},
                "overhead": {**overhead, "server_median_ms": 1.0},
            }
        ]
    }


def test_thresholds_parse_units_and_report_failures() -> None:
    assert parse_threshold("p99<50ms").value == 50
    assert parse_threshold("p99 < 0.05s").value == 50
    assert parse_threshold("success>=99.9%").value == pytest.approx(0.999)
    report = _report(p50=3.0, p99=60.0, over=1.0)
    failed = check_thresholds(
        report,
        [parse_threshold(t) for t in ("p99<50ms", "success>=99.9%", "overhead_p50<5ms")],
    )
    assert len(failed) == 2
    assert "p99<50ms" in failed[0] and "success>=99.9%" in failed[1]
    assert check_thresholds(report, [parse_threshold("direct_p99<=4ms")]) == []
    for bad in ("p99<50%", "latency<5ms", "p99 50ms", "success>=5ms"):
        with pytest.raises(ThresholdError):
            parse_threshold(bad)


def test_compare_flags_p50_and_p99_regressions_beyond_tolerance() -> None:
    before = _report(p50=10.0, p99=20.0, over=1.0)
    same = copy.deepcopy(before)
    assert compare(before, same) == []
    worse = _report(p50=10.5, p99=30.0, over=1.0)  # p50 +5% (within), p99 +50%
    [regression] = compare(before, worse, tolerance=0.1)
    assert (regression.arm, regression.metric, regression.after_ms) == ("smartflow", "p99", 30.0)
    assert "+50%" in str(regression)


def test_csv_has_one_row_per_level_and_arm() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(_report(3.0, 9.0, 1.5)))))
    assert [r["arm"] for r in rows] == ["smartflow", "direct"]
    assert rows[0]["overhead_p50_ms"] == "1.5" and rows[1]["overhead_p50_ms"] == ""
    assert rows[0]["p99_ms"] == "9.0"


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest", *args,
        cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_exit_codes_against_the_mock(tmp_path: Path) -> None:
    async with await start_server(MockBehaviour()) as mock:
        env = {"SF_BASE": mock.url, "SF_API_KEY": "sk-test", "OPENAI_API_KEY": "sk-test"}
        common = ["--direct", mock.url, "--rps", "20", "--duration", "0.5", "--warmup", "2"]
        out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
        rc, out, err = await _cli(
            *common, "--mode", "miss", "--seed", "3", "-o", str(out_json), "--csv", str(out_csv),
            "--design", "sequential",
            "--threshold", "success>=99.9%", "--threshold", "p99<5s", env=env,
        )  # fmt: skip
        assert rc == 0, err
        assert "SF p50" in out and "OAI p50" in out
        report = orjson.loads(out_json.read_bytes())
        assert report["seed"] == 3 and report["host"]["nproc"] and report["versions"]["aiohttp"]
        assert report["config"]["design"] == "sequential"
        assert "sk-test" not in out_json.read_text()
        assert len(out_csv.read_text().splitlines()) == 3

        rc, _, err = await _cli(*common, "--threshold", "p50<0.001ms", env=env)
        assert rc == 1 and "p50<0.001ms" in err

        rc, out, err = await _cli(*common, "--threshold", "p50<<3", env=env)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err

        rc, out, err = await _cli(*common, "--design", "latin", env=env)
        assert rc == 2 and "--design" in err and len(err.strip().splitlines()) == 1

        rc, _, err = await _cli("--rps", "5", env={"SF_BASE": "", "SF_API_KEY": ""})
        assert rc == 2 and "--target" in err and len(err.strip().splitlines()) == 1
