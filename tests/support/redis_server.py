"""A redis-server of the test's own: on a fixed free port, so a test can kill it (an outage) and
start it again at the same address (empty: no persistence, as a restarted cache node)."""

from __future__ import annotations

import subprocess
import time

from support.procs import free_port


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            )
            if probe.stdout.strip() == b"PONG":
                return
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        """Stop it by its pid, at once (no shutdown save: nothing is kept)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
