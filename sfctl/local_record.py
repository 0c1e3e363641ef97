"""Where the local gateway is: the record `sfctl up` writes in its data directory.

Written when `sfctl up` starts (foreground or detached) and removed when its gateway exits, so
`sfctl keys` and `sfctl down` in another terminal find it, on whatever port it listens. A record
left behind (SIGKILL, a crash, a reboot) is stale: its pid is dead, or now belongs to another
process, which the process start time recorded beside the pid tells apart. Stale records are
removed when read. Every change happens under a lock on the data directory, so two `sfctl up`
never both claim it and a reader never removes a record another process just wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from sfctl.errors import SfctlError
from sfctl.pids import probe_pid

RECORD_FILE = "gateway.pid"
Mode = Literal["starting", "foreground", "detached"]


@dataclass(frozen=True, slots=True)
class LocalGateway:
    pid: int  # the process to signal: the gateway (its supervisor), or `sfctl up` while starting
    host: str
    port: int
    mode: Mode = "detached"
    key_from_env: bool = False  # started with $ADMIN_API_KEY rather than the key file
    started: str | None = None  # the pid's start time; None from an sfctl that did not record it

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


HOW = {
    "starting": "starting",
    "foreground": "`sfctl up` in a terminal",
    "detached": "`sfctl up --detach`",
}


class AlreadyRunning(SfctlError):
    def __init__(self, gateway: LocalGateway) -> None:
        super().__init__(
            f"a gateway is already running at {gateway.url} (pid {gateway.pid}, "
            f"{HOW[gateway.mode]}); stop it with `sfctl down` first"
        )
        self.gateway = gateway


def read(data_dir: Path) -> LocalGateway | None:
    """The gateway recorded in `data_dir`, if it is still the process recorded."""
    with _locked(data_dir) as locked:
        return _read_live(data_dir) if locked else None


def claim(data_dir: Path, gateway: LocalGateway) -> None:
    """Record `gateway` unless a live one is recorded (then AlreadyRunning)."""
    with _locked(data_dir, create=True):
        existing = _read_live(data_dir)
        if existing is not None:
            raise AlreadyRunning(existing)
        _write(data_dir, gateway)


def update(data_dir: Path, gateway: LocalGateway, previous_pid: int) -> None:
    """Point our record at the process that now serves (the gateway `sfctl up` started)."""
    with _locked(data_dir, create=True):
        current = _parse(data_dir)
        if current is not None and current.pid == previous_pid:
            _write(data_dir, gateway)


def release(data_dir: Path, *pids: int) -> None:
    """Remove the record if it still names one of `pids` (and so is ours to remove)."""
    with _locked(data_dir) as locked:
        current = _parse(data_dir) if locked else None
        if current is not None and current.pid in pids:
            (data_dir / RECORD_FILE).unlink(missing_ok=True)


def start_time(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot); None off Linux."""
    return probe_pid(pid).start


def is_alive(gateway: LocalGateway) -> bool:
    """Whether the recorded process still runs and is the one recorded (not a recycled pid)."""
    probe = probe_pid(gateway.pid)
    if not probe.exists:
        return False
    if not Path("/proc/self").exists():
        return True  # no /proc (macOS): the pid answering is all we can tell
    if gateway.started is None:  # a record from an older sfctl: the command line must fit
        with contextlib.suppress(OSError):
            return b"gateway" in Path(f"/proc/{gateway.pid}/cmdline").read_bytes()
        return False
    return probe.start == gateway.started


def _read_live(data_dir: Path) -> LocalGateway | None:
    gateway = _parse(data_dir)
    if gateway is not None and is_alive(gateway):
        return gateway
    (data_dir / RECORD_FILE).unlink(missing_ok=True)  # stale or unreadable
    return None


def _parse(data_dir: Path) -> LocalGateway | None:
    try:
        raw = json.loads((data_dir / RECORD_FILE).read_text(encoding="utf-8"))
        mode = raw.get("mode", "detached")
        started = raw.get("started")
        return LocalGateway(
            pid=int(raw["pid"]),
            host=str(raw["host"]),
            port=int(raw["port"]),
            mode=mode if mode in ("starting", "foreground", "detached") else "detached",
            key_from_env=bool(raw.get("key_from_env", False)),
            started=None if started is None else str(started),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write(data_dir: Path, gateway: LocalGateway) -> None:
    """Atomically (a reader sees the old record or the new one, never half of one)."""
    path = data_dir / RECORD_FILE
    scratch = path.with_name(f".{RECORD_FILE}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(gateway), handle)
    os.replace(scratch, path)


@contextlib.contextmanager
def _locked(data_dir: Path, *, create: bool = False) -> Iterator[bool]:
    """An exclusive flock on the data directory itself; yields False when it does not exist."""
    try:
        if create:
            data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        yield False
        return
    except OSError as exc:
        raise SfctlError(f"data directory {data_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)
