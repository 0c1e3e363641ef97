"""Running the gateway on this machine (SERVICE_TYPE=all, embedded state) as a child process.

sfctl never imports the gateway: it starts `python -m gateway` and talks to it over HTTP. Where
it runs is recorded in the data directory (local_record.py), for the foreground and the
background alike; the admin key it gets follows admin_key.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from sfctl import local_record
from sfctl.errors import SfctlError, UsageError
from sfctl.local_record import LocalGateway, Mode

LOG_FILE = "gateway.log"
STATE_DB = "smartflow.db"
MB = 1_000_000
# the gateway's settings for a log file; a foreground gateway logs to the terminal instead
LOG_SETTINGS = ("SMARTFLOW_LOG_FILE", "SMARTFLOW_LOG_MAX_BYTES", "SMARTFLOW_LOG_BACKUPS")


@dataclass(frozen=True, slots=True)
class LogRotation:
    """A detached gateway logs to `gateway.log` in the data directory, rotated by size: the
    gateway's processes rotate it themselves (sfctl has exited by then)."""

    max_mb: float = 20.0
    backups: int = 5

    @classmethod
    def of(cls, max_mb: float | None, backups: int | None) -> LogRotation:
        """From `sfctl up`'s options, None meaning the default."""
        default = cls()
        return cls(
            default.max_mb if max_mb is None else max_mb,
            default.backups if backups is None else backups,
        )

    def env(self, data_dir: Path) -> dict[str, str]:
        return {
            "SMARTFLOW_LOG_FILE": str(data_dir / LOG_FILE),
            "SMARTFLOW_LOG_MAX_BYTES": str(max(1024, round(self.max_mb * MB))),
            "SMARTFLOW_LOG_BACKUPS": str(self.backups),
        }

    def describe(self) -> str:
        return f"rotated at {self.max_mb:g} MB, {self.backups} kept"


def ensure_data_dir(data_dir: Path) -> Path:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
    except OSError as exc:
        raise SfctlError(f"data directory {data_dir}: {exc.strerror}") from None
    return data_dir


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port something already answers on: the new gateway would fail to bind, or with
    --workers share it (SO_REUSEPORT), and /ready answered by the other server would look like
    ours. A gateway of this data directory is caught before by its record."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    with contextlib.suppress(OSError), socket.create_connection((target, port), timeout=1.0):
        raise UsageError(
            f"port {port} on {host} is in use (another program, or a gateway of another data "
            "directory): choose another --port"
        )


def running(data_dir: Path) -> LocalGateway | None:
    """The gateway a `sfctl up` (foreground or detached) runs from `data_dir`, if alive."""
    return local_record.read(data_dir)


@dataclass(slots=True)
class Claim:
    """This `sfctl up`'s record: it names `sfctl up` itself while the gateway starts, then the
    gateway (`serving`); removed when the `claimed` block ends unless `keep` (detached)."""

    data_dir: Path
    gateway: LocalGateway
    keep: bool = False
    pids: list[int] = field(default_factory=list)

    def serving(self, pid: int, mode: Mode) -> None:
        previous = self.gateway.pid
        started = local_record.start_time(pid)
        self.gateway = dataclasses.replace(self.gateway, pid=pid, mode=mode, started=started)
        self.pids.append(pid)
        local_record.update(self.data_dir, self.gateway, previous)


@contextlib.contextmanager
def claimed(data_dir: Path, host: str, port: int, key_from_env: bool) -> Iterator[Claim]:
    """Claim the data directory before the gateway starts: a second `sfctl up` is refused with
    one line (local_record.AlreadyRunning), whichever way the first one runs."""
    me = os.getpid()
    starting = LocalGateway(
        me, host, port, "starting", key_from_env, started=local_record.start_time(me)
    )
    local_record.claim(data_dir, starting)
    claim = Claim(data_dir, starting, pids=[me])
    try:
        yield claim
    finally:
        if not claim.keep:
            local_record.release(data_dir, *claim.pids)


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
    base: Mapping[str, str],
    data_dir: Path,
    key: str,
    config: Path | None,
    logs: LogRotation | None = None,
    *,
    loopback: bool = True,
) -> dict[str, str]:
    """`logs`: to the rotated file in `data_dir` (detached); None: to the terminal."""
    env = {name: value for name, value in base.items() if name not in LOG_SETTINGS}
    env.update(
        {
            "SERVICE_TYPE": "all",
            "ADMIN_API_KEY": key,
            "SMARTFLOW_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # on one laptop the tool gateway is on; it may start stdio MCP servers only while it
    # listens on loopback (registering one runs a command). An operator's own setting wins.
    env.setdefault("MCP_GATEWAY_ENABLED", "true")
    if loopback:
        env.setdefault("SMARTFLOW_MCP_STDIO", "true")
    if logs is not None:
        env.update(logs.env(data_dir))
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


def start_detached(command: list[str], env: dict[str, str], claim: Claim) -> LocalGateway:
    """Start the gateway in a session of its own and keep its record once it is ready. Its
    stdout and stderr are the log file until it opens the file itself (SMARTFLOW_LOG_FILE), so
    an error before that (a wrong setting, an import error) is in the log as well."""
    log_path = claim.data_dir / LOG_FILE
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    start = os.fstat(log_fd).st_size
    with os.fdopen(log_fd, "ab") as log:
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    claim.serving(process.pid, "detached")
    try:
        wait_healthy(claim.gateway.url, process)
    except SfctlError as exc:
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        said = _last_line(log_path, start)
        raise SfctlError(f"{exc}{f': {said}' if said else ''}; see {log_path}") from None
    claim.keep = True
    return claim.gateway


def _last_line(log_path: Path, since: int) -> str | None:
    """The gateway's last words in its log since `since` (a wrong setting, say), if short."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(since, log.seek(0, os.SEEK_END) - 4096))
            lines = log.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return None
    last = lines[-1].strip() if lines else ""
    return last if last and len(last) <= 300 else None


@dataclass(slots=True)
class Foreground:
    process: subprocess.Popen[bytes]
    stop_requested: bool = False


@contextlib.contextmanager
def foreground(command: list[str], env: dict[str, str], claim: Claim) -> Iterator[Foreground]:
    """The gateway attached to this terminal, recorded for `sfctl keys` and `sfctl down` in
    another one. From the moment it starts, SIGTERM and Ctrl-C to sfctl are passed on as
    SIGTERM (the gateway drains), and leaving the block never leaves the gateway behind."""
    running = Foreground(subprocess.Popen(command, env=env))  # noqa: S603  # our own module

    def pass_on(*_: object) -> None:
        running.stop_requested = True
        running.process.send_signal(signal.SIGTERM)  # a no-op once it has exited

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        claim.serving(running.process.pid, "foreground")
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    local_record.release(data_dir, gateway.pid)
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
