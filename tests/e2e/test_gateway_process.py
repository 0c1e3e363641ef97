"""The gateway as a real process: version, refusing bad settings, workers, draining on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx
import pytest
import yaml

from gateway import __version__

from support import chaos
from support.gateway import ADMIN_KEY, upstream_config
from support.procs import free_port, gateway_process

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_version_json_matches_version_route() -> None:
    printed = run_cli("--version", "--json", env={"SMARTFLOW_GIT_COMMIT": "abc1234"})
    assert printed.returncode == 0
    with gateway_process(env={"SMARTFLOW_GIT_COMMIT": "abc1234"}) as (url, _):
        served = httpx.get(url + "/version").json()
    assert json.loads(printed.stdout) == served
    assert served["git_commit"] == "abc1234"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ADMIN_API_KEY": ""}, "ADMIN_API_KEY is not set"),
        ({"ADMIN_API_KEY": "short"}, "too short"),
        ({"SERVICE_TYPE": "router"}, "SERVICE_TYPE='router' is unknown"),
        ({"SMARTFLOW_CONFIG": "/nonexistent.yaml"}, "cannot read /nonexistent.yaml"),
        ({"MCP_GATEWAY_ENABLED": "maybe"}, "not a boolean"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(env: dict[str, str], fragment: str) -> None:
    base = {"ADMIN_API_KEY": ADMIN_KEY, "SERVICE_TYPE": "all"}
    result = run_cli("--port", str(free_port()), env={**base, **env})
    assert result.returncode == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_config_error_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"providers": [{"name": "x", "type": "openai-compatible"}]}))
    result = run_cli("--config", str(path), env={"ADMIN_API_KEY": ADMIN_KEY})
    assert result.returncode == 2
    assert "needs base_url" in result.stderr


def test_port_in_use_is_a_clear_error() -> None:
    with gateway_process() as (url, _):
        port = url.rsplit(":", 1)[1]
        result = run_cli("--host", "127.0.0.1", "--port", port, env={"ADMIN_API_KEY": ADMIN_KEY})
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_share_the_port() -> None:
    with gateway_process(["--workers", "2"]) as (url, process):
        pids = set()
        for _ in range(60):
            with httpx.Client() as fresh_connection:
                pids.add(fresh_connection.get(url + "/health").json()["pid"])
        chat = httpx.post(
            url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers=HEADERS,
        )
        assert process.pid not in pids  # the supervisor serves nothing itself
        line = 'smartflow_requests_total{model="other",route="chat",status="200"} 1.0'
        scrapes = []
        for _ in range(10):  # fresh connections land on either worker: each sees the sum
            with httpx.Client() as fresh_connection:
                scrapes.append(fresh_connection.get(url + "/metrics").text)
    assert len(pids) == 2
    assert chat.status_code == 200
    assert all(line in scrape for scrape in scrapes)


async def test_sigterm_drains_inflight_streams(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.stream(chunk_delay_s=0.05)]) as up:
        config = tmp_path / "routing.yaml"
        config.write_text(yaml.safe_dump(upstream_config(("up", f"openai-compatible:{up.url}/v1"))))
        with gateway_process(env={"SMARTFLOW_CONFIG": str(config)}) as (url, process):
            async with aiohttp.ClientSession() as http:
                response = await http.post(
                    url + "/v1/chat/completions",
                    json={
                        "model": "gpt-4o-mini",
                        "stream": True,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                    headers=HEADERS,
                )
                first = await response.content.readany()
                os.kill(process.pid, signal.SIGTERM)
                rest = await response.read()
                await asyncio.sleep(0.2)
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with aiohttp.ClientSession() as fresh:
                        await fresh.get(url + "/health")
            code = await asyncio.to_thread(process.wait, 20)
    assert first.startswith(b"data: ")
    assert (first + rest).endswith(b"data: [DONE]\n\n")  # the stream was finished, not cut
    assert up.disconnects == 0
    assert code == 0


def test_embedded_store_created_in_data_dir(tmp_path: Path) -> None:
    with gateway_process(env={"SMARTFLOW_DATA_DIR": str(tmp_path)}) as (url, _):
        assert httpx.get(url + "/ready").status_code == 200
    import sqlite3

    with sqlite3.connect(tmp_path / "smartflow.db") as db:
        rows = db.execute("SELECT service, version FROM instance_starts").fetchall()
    assert rows == [("all", __version__)]
