"""Ask the freshly built gateway wheel what it is, before any image is built from it.

`smartflow-gateway --version --json` runs from the wheel (a zip on sys.path; sfctl never
imports the gateway itself) with every optional feature switched on, in an empty environment,
so the answer is the build's, not this shell's. It gives the version the image's /version will
show and the feature list its label carries, and catches a broken wheel in a second instead of
after an image build.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sfctl.errors import SfctlError

_ASK = (
    "import sys; sys.path.insert(0, sys.argv[1]); from gateway.__main__ import main; "
    "sys.exit(main(['--version', '--json']))"
)
#: the switches that add features (MCP, tracing); nothing is contacted by --version
_ALL_ON = {"MCP_GATEWAY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@dataclass(frozen=True, slots=True)
class WheelInfo:
    version: str
    features: tuple[str, ...]


def describe_wheel(wheel: Path, *, python: str = sys.executable) -> WheelInfo:
    with tempfile.TemporaryDirectory(prefix="sfctl-ask-") as home:
        env = {**_ALL_ON, "HOME": home, "SMARTFLOW_DATA_DIR": home}
        try:
            done = subprocess.run(  # noqa: S603 (our own interpreter and code)
                [python, "-I", "-c", _ASK, str(wheel)],
                capture_output=True,
                text=True,
                env=env,
                cwd=home,
                timeout=60,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SfctlError(f"{wheel.name}: `--version --json` did not answer in 60 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SfctlError(f"{wheel.name}: `smartflow-gateway --version --json` failed: {last}")
    try:
        answer = json.loads(done.stdout)
        return WheelInfo(version=str(answer["version"]), features=tuple(answer["features"]))
    except (ValueError, KeyError, TypeError):
        raise SfctlError(f"{wheel.name}: unexpected --version answer: {done.stdout[:80]}") from None


def wheel_version(wheel: Path) -> str:
    """The version in a wheel's file name (name-version-...whl)."""
    parts = wheel.name.split("-")
    if len(parts) < 5 or wheel.suffix != ".whl":
        raise SfctlError(f"{wheel.name}: not a wheel file name")
    return parts[1]
