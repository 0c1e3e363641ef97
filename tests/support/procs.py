"""Real processes for end-to-end tests: started on free loopback ports, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import httpx

from support.gateway import ADMIN_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 20
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited early with code {process.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready within {timeout_s}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 20) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@contextmanager
def gateway_process(
    args: Sequence[str] = (), env: Mapping[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = port or free_port()
    data_dir = tempfile.TemporaryDirectory(prefix="smartflow-test-")
    environment = {
        **os.environ,
        "ADMIN_API_KEY": ADMIN_KEY,
        "SMARTFLOW_ACCESS_LOG": "false",
        "SMARTFLOW_DATA_DIR": data_dir.name,
        **(env or {}),
    }
    if "SMARTFLOW_CONFIG" not in (env or {}):
        environment.pop("SMARTFLOW_CONFIG", None)
    log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the gateway
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port), *args],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url + "/ready", process)
        except AssertionError:
            log.seek(0)
            raise AssertionError(log.read().decode()[-3000:]) from None
        yield url, process
    finally:
        log.close()
        data_dir.cleanup()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def mock_upstream_process() -> Iterator[str]:
    """`sfctl mock-upstream` as its users run it, on a free loopback port: its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sfctl", "mock-upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        code = stop(process)
    assert code == 0, f"sfctl mock-upstream exited {code} on SIGTERM"  # it drains and exits 0
