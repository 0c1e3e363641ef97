"""sfctl must run where click is not installed: typer (>= 0.29) carries its own, and a fresh
`pip install 'smartflow[cli]'` has no click. The dev environment has click (other tools pull it
in), so these runs hide it from the import system."""

from __future__ import annotations

import subprocess
import sys

import pytest

_RUN = "import sys; sys.modules['click'] = None; sys.argv = {argv!r}; from sfctl.main import run; run()"


def _sfctl_without_click(*args: str) -> subprocess.CompletedProcess[str]:
    code = _RUN.format(argv=["sfctl", *args])
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_runs_without_click() -> None:
    done = _sfctl_without_click("--help")
    assert done.returncode == 0, done.stderr
    for command in ("up", "keys", "bench", "render", "doctor", "init"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("bench", "--rps", "abc", "--target", "http://x", "--key", "k"),
            "Invalid value for '--rps'",
        ),
        (("render", "nope"), "unknown render target 'nope'"),
        (("no-such-command",), "No such command"),
    ],
)
def test_usage_errors_are_one_line_without_click(args: tuple[str, ...], message: str) -> None:
    done = _sfctl_without_click(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
