"""`sfctl up --detach`'s log file: rotated by size with a count of kept files, with several
worker processes writing to it, losing and tearing no access record."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx
import pytest
import yaml

from support.local_up import clean_env
from support.procs import free_port

pytestmark = pytest.mark.e2e

REQUESTS = 3000
MAX_BYTES = 100_000
BACKUPS = 60  # enough to keep every record of this run: none may be missing
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def sfctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def log_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.iterdir() if re.fullmatch(r"gateway\.log(\.[0-9]+)?", p.name)]


async def send(url: str, key: str, count: int) -> list[str]:
    """`count` chat requests over 32 connections (spread over the workers by SO_REUSEPORT)."""
    headers = {"Authorization": f"Bearer {key}"}
    limit = asyncio.Semaphore(32)
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> str:
            async with limit, session.post(url, json=CHAT, headers=headers) as response:
                assert response.status == 200, await response.text()
                await response.read()
                return response.headers["x-smartflow-request-id"]

        return list(await asyncio.gather(*(one() for _ in range(count))))


def worker_pids(url: str) -> set[int]:
    pids = set()
    for _ in range(40):
        with httpx.Client() as fresh_connection:
            pids.add(fresh_connection.get(url + "/health").json()["pid"])
    return pids


def gateway_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [supervisor, *map(int, children)]


def wait_until_all_follow(data_dir: Path, pids: list[int]) -> list[int]:
    """The pids whose stderr is still not the current gateway.log after a while: idle writers
    (the supervisor, a worker with nothing to log) move to the current file by themselves."""
    behind = pids
    for _ in range(300):
        current = (data_dir / "gateway.log").stat().st_ino
        behind = [pid for pid in pids if os.stat(f"/proc/{pid}/fd/2").st_ino != current]
        if not behind:
            break
        time.sleep(0.1)
    return behind


def test_detached_log_rotates_and_keeps_every_record(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = sfctl(
        "up", "--detach", "--workers", "2", "--port", str(port), "--data-dir", str(data_dir),
        "--log-max-mb", str(MAX_BYTES / 1_000_000), "--log-backups", str(BACKUPS),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = json.loads((data_dir / "gateway.pid").read_text())["pid"]
    try:
        assert "gateway.log" in started.stdout and f"{BACKUPS} kept" in started.stdout
        assert len(worker_pids(url)) == 2
        key = (data_dir / "admin_api_key").read_text().strip()
        sent = asyncio.run(send(url + "/v1/chat/completions", key, REQUESTS))
        # no process goes on with a rotated-away file, even one that logs nothing more
        assert wait_until_all_follow(data_dir, gateway_pids(pid)) == []
    finally:
        stopped = sfctl("down", "--data-dir", str(data_dir))  # drains: logs are flushed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # only if `sfctl down` failed
    assert stopped.returncode == 0, stopped.stderr

    files = log_files(data_dir)
    assert len(files) > 3  # it rotated, several times
    assert all(p.stat().st_size <= MAX_BYTES for p in files)
    assert not (data_dir / f"gateway.log.{BACKUPS + 1}").exists()
    logged: Counter[str] = Counter()
    for path in files:
        for line in path.read_text().splitlines():
            record = json.loads(line)  # every line whole: none torn across files or writers
            if record.get("msg") == "request":
                logged[record["request_id"]] += 1
    assert len(sent) == len(set(sent)) == REQUESTS
    assert set(logged) == set(sent)  # none lost
    assert set(logged.values()) == {1}  # none written twice


def test_detached_log_keeps_the_configured_count(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = sfctl(
        "up", "--detach", "--port", str(port), "--data-dir", str(data_dir),
        "--log-max-mb", "0.01", "--log-backups", "2",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = json.loads((data_dir / "gateway.pid").read_text())["pid"]
    try:
        key = (data_dir / "admin_api_key").read_text().strip()
        asyncio.run(send(url + "/v1/chat/completions", key, 300))
    finally:
        sfctl("down", "--data-dir", str(data_dir))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    names = sorted(p.name for p in log_files(data_dir))
    assert names == ["gateway.log", "gateway.log.1", "gateway.log.2"]
    assert all(p.stat().st_size <= 10_000 for p in log_files(data_dir))


def test_a_start_up_error_is_in_the_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    config = tmp_path / "routing.yaml"
    provider = {"name": "oai", "type": "openai", "api_key_env": "SF_TEST_UNSET_KEY"}
    config.write_text(yaml.safe_dump({"providers": [provider]}))
    args = ("--port", str(free_port()), "--data-dir", str(data_dir), "--config", str(config))
    result = sfctl("up", "--detach", *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "gateway.log" in result.stderr
    assert "SF_TEST_UNSET_KEY is not set" in result.stderr  # the gateway's own words
    assert "SF_TEST_UNSET_KEY is not set" in (data_dir / "gateway.log").read_text()
    assert not (data_dir / "gateway.pid").exists()
