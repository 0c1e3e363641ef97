"""`sfctl up` / `sfctl down` / `sfctl mock-upstream` as a user runs them."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from support.json_server import json_server
from support.local_up import clean_env
from support.procs import free_port, mock_upstream_process, stop, wait_ready

pytestmark = pytest.mark.e2e


def sfctl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    yield directory
    sfctl("down", "--data-dir", str(directory))  # never leave a gateway behind


def test_up_detach_then_down(data_dir: Path) -> None:
    port = free_port()
    started = sfctl("up", "--detach", "--port", str(port), "--data-dir", str(data_dir))
    assert started.returncode == 0, started.stderr
    assert f"http://127.0.0.1:{port}" in started.stdout
    assert "mock provider" in started.stderr  # says plainly that nothing real is configured
    key_file = data_dir / "admin_api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert key not in started.stdout + started.stderr  # shown by path, never printed

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.choices[0].message.content
    assert (data_dir / "smartflow.db").exists()

    again = sfctl("up", "--detach", "--port", str(free_port()), "--data-dir", str(data_dir))
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert "Traceback" not in again.stderr

    stopped = sfctl("down", "--data-dir", str(data_dir))
    assert stopped.returncode == 0
    assert "Stopped" in stopped.stdout
    assert not (data_dir / "gateway.pid").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health")
    # the key survives restarts: clients keep working after `sfctl up` again
    restarted = sfctl("up", "--detach", "--port", str(port), "--data-dir", str(data_dir))
    assert restarted.returncode == 0
    assert key_file.read_text().strip() == key


def test_up_foreground_drains_on_sigterm(data_dir: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sfctl", "up", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", process)
        record = json.loads((data_dir / "gateway.pid").read_text())  # written at start
        assert record["port"] == port and record["mode"] == "foreground"
    finally:
        code = stop(process, signal.SIGTERM)
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert "draining" in output
    assert not (data_dir / "gateway.pid").exists()  # removed at exit
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["up", "--port", "70000"], "out of range"),
        (["up", "--config", "/no/such/file.yaml"], "no such file"),
        (["mock-upstream", "--error-rate", "2"], "--error-rate"),
        (["up", "--workers", "0"], "--workers"),
        (["no-such-command"], "no such command"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], fragment: str, data_dir: Path) -> None:
    result = sfctl(*args, "--data-dir", str(data_dir)) if args[0] == "up" else sfctl(*args)
    assert result.returncode in (1, 2)
    assert fragment in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def test_a_stale_record_is_ignored_and_cleaned(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    record = data_dir / "gateway.pid"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # a pid that is no longer alive
    record.write_text(json.dumps({"pid": finished.pid, "host": "127.0.0.1", "port": 9}))
    listed = sfctl("keys", "list", "--data-dir", str(data_dir))
    assert listed.returncode == 2
    assert "no `sfctl up` is running" in listed.stderr
    assert not record.exists()

    # a pid in use again, by a process that is not the one recorded (its start time differs)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "gateway"])
    try:
        stale = {
            "pid": other.pid,
            "host": "127.0.0.1",
            "port": 9,
            "started": "1",
            "mode": "detached",
        }
        record.write_text(json.dumps(stale))
        down = sfctl("down", "--data-dir", str(data_dir))
        assert "No local gateway" in down.stdout
        assert not record.exists()
        assert other.poll() is None  # and it was not signalled
        record.write_text(json.dumps(stale))
        port = free_port()
        started = sfctl("up", "--detach", "--port", str(port), "--data-dir", str(data_dir))
        assert started.returncode == 0, started.stderr
        assert json.loads(record.read_text())["port"] == port
    finally:
        stop(other, signal.SIGKILL)


def test_a_port_something_answers_on_is_refused(data_dir: Path) -> None:
    with json_server(lambda path, headers: (200, {"status": "ready"})) as other:
        port = other.rsplit(":", 1)[1]  # a server that answers /ready, not ours
        for mode in ([], ["--detach"]):
            result = sfctl("up", *mode, "--port", port, "--data-dir", str(data_dir))
            assert result.returncode == 2, result.stdout
            assert f"port {port} on 127.0.0.1 is in use" in result.stderr
            assert "running at" not in result.stdout
    assert not (data_dir / "gateway.pid").exists()


def test_log_options_need_detach(data_dir: Path) -> None:
    result = sfctl("up", "--log-backups", "3", "--data-dir", str(data_dir))
    assert result.returncode == 2
    assert "--detach" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_down_when_nothing_runs(data_dir: Path) -> None:
    result = sfctl("down", "--data-dir", str(data_dir))
    assert result.returncode == 0
    assert "No local gateway" in result.stdout


def test_mock_upstream_serves_both_sdks() -> None:
    with mock_upstream_process() as url:  # and exits 0 when stopped
        chat = openai.OpenAI(base_url=f"{url}/v1", api_key="x").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        message = anthropic.Anthropic(base_url=url, api_key="x").messages.create(
            model="claude-gw-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert chat.choices[0].message.content
    assert message.content[0].type == "text"
