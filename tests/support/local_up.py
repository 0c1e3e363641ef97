"""`sfctl up` in the foreground, as a user runs it in a terminal of its own: a subprocess whose
output goes to a file (a full pipe would stall the gateway), always stopped by its pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.procs import stop

# what a test's own shell must not leak into the commands it runs
CLEAN_ENV = ("ADMIN_API_KEY", "SMARTFLOW_ADMIN_URL", "SMARTFLOW_DATA_DIR", "SMARTFLOW_CONFIG")
BANNER = "Smartflow gateway is running at"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return {**base, "COLUMNS": "200", **(extra or {})}


@dataclass
class Foreground:
    process: subprocess.Popen[bytes]
    output: Path
    url: str

    def text(self) -> str:
        return self.output.read_text(errors="replace")


@contextmanager
def foreground_up(
    data_dir: Path, port: int, env: Mapping[str, str] | None = None
) -> Iterator[Foreground]:
    """Yields once the banner is printed (the gateway is ready and sfctl is waiting on it)."""
    output = data_dir.parent / f"sfctl-up-{port}.out"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sfctl", "up", "--port", str(port)]
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            env=clean_env(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Foreground(process, output, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while BANNER not in running.text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sfctl up did not start:\n{running.text()[-3000:]}")
            time.sleep(0.05)
        yield running
    finally:
        stop(process, timeout_s=40)  # SIGTERM: sfctl passes it on and the gateway drains
