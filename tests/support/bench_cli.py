"""Run `sfctl bench` or `python -m loadtest` as users do, in a subprocess, with an environment
the test controls: the variables the harness reads (SF_BASE, SF_API_KEY, OPENAI_API_KEY) are
cleared unless `env` sets them, so a developer's shell cannot change what a test sends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping

HARNESS_ENV = ("SF_BASE", "SF_API_KEY", "OPENAI_API_KEY")
TIMEOUT_S = 90


def _environment(env: Mapping[str, str] | None, columns: int) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in HARNESS_ENV}
    environment.update({"COLUMNS": str(columns), "NO_COLOR": "1", **(env or {})})
    return environment


def run_module(
    module: str, *args: str, env: Mapping[str, str] | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    """`python -m module args`: exit code, stdout and stderr exactly as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=_environment(env, columns),
    )


async def run_module_async(
    module: str, *args: str, env: Mapping[str, str] | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    """The same, for a test whose loopback servers run on its event loop meanwhile."""
    argv = [sys.executable, "-m", module, *args]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=_environment(env, columns),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode(), err.decode())
