"""`sfctl mock-upstream`: option validation, and a real run that stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from typing import Any

import aiohttp
import pytest
import typer
from typer.testing import CliRunner

from mockllm.server import MockBehaviour
from sfctl.commands import mock_upstream as command

# The lead registers the function in sfctl/main.py; a one-command app exercises the same options.
APP = typer.Typer()
APP.command()(command.mock_upstream)
SCRIPT = (
    "import typer\n"
    "from sfctl.commands.mock_upstream import mock_upstream\n"
    "typer.run(mock_upstream)\n"
)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--error-rate", "1.5"], "--error-rate"),
        (["--error-rate", "-0.1"], "--error-rate"),
        (["--port", "65536"], "--port"),
        (["--port", "-1"], "--port"),
        (["--latency-ms", "-5"], "--latency-ms"),
        (["--tokens-per-second", "-1"], "--tokens-per-second"),
        (["--tokens-per-second", "nan"], "--tokens-per-second"),
        (["--latency-ms", "inf"], "--latency-ms"),
        (["--port", "eighty"], "--port"),
    ],
)
def test_bad_options_exit_non_zero_with_one_clear_message(
    args: list[str], option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(command, "run", lambda *a, **k: started.append(a))
    result = CliRunner().invoke(APP, args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output and option in result.output
    assert "Traceback" not in result.output
    assert started == []


def test_good_options_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[MockBehaviour, str, int]] = []

    def fake_run(behaviour: MockBehaviour, host: str, port: int, **kwargs: Any) -> None:
        calls.append((behaviour, host, port))
        kwargs["on_ready"]("http://127.0.0.1:4321")

    monkeypatch.setattr(command, "run", fake_run)
    args = "--port 4321 --latency-ms 25 --tokens-per-second 50 --error-rate 0.25 --seed 3"
    result = CliRunner().invoke(APP, args.split())
    assert result.exit_code == 0, result.output
    expected = MockBehaviour(latency_ms=25, tokens_per_second=50, error_rate=0.25, seed=3)
    assert calls == [(expected, "127.0.0.1", 4321)]
    assert result.output.count("\n") == 1
    assert "listening on http://127.0.0.1:4321" in result.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_real_server_announces_its_port_and_exits_cleanly_on_signal(
    sig: signal.Signals,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match, line
        assert int(match.group(2)) > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(match.group(1) + "/health") as resp,
        ):
            assert resp.status == 200
        proc.send_signal(sig)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
