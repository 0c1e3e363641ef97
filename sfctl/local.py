"""Running the gateway on this machine (SERVICE_TYPE=all, embedded state) as a child process.

sfctl never imports the gateway: it starts `python -m gateway` and talks to it over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from sfctl.errors import SfctlError, UsageError

ADMIN_KEY_FILE = "admin_api_key"
PID_FILE = "gateway.pid"
LOG_FILE = "gateway.log"
STATE_DB = "smartflow.db"


@dataclass(frozen=True, slots=True)
class LocalGateway:
    pid: int
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def ensure_data_dir(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    return data_dir


def admin_key(data_dir: Path) -> tuple[str, bool]:
    """The local ADMIN_API_KEY, created (mode 0600) on first use. Returns (key, created)."""
    path = data_dir / ADMIN_KEY_FILE
    try:
        return path.read_text(encoding="utf-8").strip(), False
    except FileNotFoundError:
        pass
    key = "sf-admin-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key, True


def config_has_providers(config: Path | None) -> bool:
    """Whether a routing config names a provider (else the mock provider serves every model)."""
    if config is None:
        return False
    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"--config {config}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--config {config}: not valid YAML ({exc})") from None
    return isinstance(raw, dict) and bool(raw.get("providers"))


def running(data_dir: Path) -> LocalGateway | None:
    """The gateway `sfctl up --detach` started, if alive; a stale pid file is removed."""
    path = data_dir / PID_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        gateway = LocalGateway(int(record["pid"]), str(record["host"]), int(record["port"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if _is_our_gateway(gateway.pid):
        return gateway
    path.unlink(missing_ok=True)
    return None


def _is_our_gateway(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # guard against a recycled pid on Linux
        return b"gateway" in cmdline.read_bytes()
    return True


def gateway_command(host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gateway",
        "--service",
        "all",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def gateway_env(
    base: Mapping[str, str], data_dir: Path, key: str, config: Path | None
) -> dict[str, str]:
    env = dict(base)
    env.update(
        {
            "SERVICE_TYPE": "all",
            "ADMIN_API_KEY": key,
            "SMARTFLOW_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if config is not None:
        env["SMARTFLOW_CONFIG"] = str(config.resolve())
    else:
        env.pop("SMARTFLOW_CONFIG", None)
    return env


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Poll /ready until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SfctlError(
                    f"the gateway exited during start-up (exit code {process.returncode})"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url + "/ready").status_code == 200:
                    return
            time.sleep(0.1)
    raise SfctlError(f"the gateway did not become ready within {timeout_s:.0f}s at {url}")


def start_detached(
    command: list[str], env: dict[str, str], data_dir: Path, host: str, port: int
) -> LocalGateway:
    log_path = data_dir / LOG_FILE
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    gateway = LocalGateway(process.pid, host, port)
    try:
        wait_healthy(gateway.url, process)
    except SfctlError as exc:
        if process.poll() is None:
            process.terminate()
        raise SfctlError(f"{exc}; see {log_path}") from None
    pid_path = data_dir / PID_FILE
    pid_path.write_text(json.dumps({"pid": process.pid, "host": host, "port": port}))
    pid_path.chmod(0o600)
    return gateway


@dataclass(slots=True)
class Foreground:
    process: subprocess.Popen[bytes]
    stop_requested: bool = False


@contextlib.contextmanager
def foreground(command: list[str], env: dict[str, str]) -> Iterator[Foreground]:
    """The gateway attached to this terminal. From the moment it starts, SIGTERM to sfctl is
    passed on (the gateway drains), and leaving the block never leaves the gateway behind."""
    running = Foreground(subprocess.Popen(command, env=env))  # noqa: S603  # our own module

    def pass_on(*_: object) -> None:
        running.stop_requested = True
        running.process.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, pass_on)
    try:
        yield running
    finally:
        process = running.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        signal.signal(signal.SIGTERM, previous)


def wait_foreground(process: subprocess.Popen[bytes]) -> int:
    """Wait for the gateway; Ctrl-C drains it (like SIGTERM) rather than killing it."""
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGTERM)


def stop(gateway: LocalGateway, data_dir: Path, timeout_s: float = 35.0) -> bool:
    """SIGTERM (drain), then SIGKILL after `timeout_s`. Returns True when it stopped in time."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(gateway.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    graceful = False
    while time.monotonic() < deadline:
        if not _alive(gateway.pid):
            graceful = True
            break
        time.sleep(0.1)
    if not graceful:
        with contextlib.suppress(ProcessLookupError):
            os.kill(gateway.pid, signal.SIGKILL)
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return graceful


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie is gone for our purposes
        return stat.read_text().split(") ", 1)[-1][:1] != "Z"
    return True
