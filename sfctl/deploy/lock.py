"""The deploy lock: one deploy, upgrade, rollback or teardown of a deployment at a time.

The lock is the file `deploy.lock` in the deployment's state folder. It holds who took it
(user, host, pid and that pid's start time), the command, since when and the step it is on.
Taking it is one `link(2)` of a complete, fsynced record onto that name: the kernel creates the
name only if it is free (atomic on local filesystems and NFS alike, where flock may not be shared
between hosts), and a reader never sees half a record, which `O_EXCL` then `write` would allow.

The file outlives a holder that dies, on purpose: a deploy killed mid-way (SIGKILL, a power cut)
may have left the deployment half-changed, and the next run says so, with the step it died in,
instead of carrying on as if nothing happened (an flock would vanish with the process and tell
nobody). Whether the holder still runs is decided by the pure `judge`: on this host its pid must
exist with the recorded start time (a recycled pid does not count) and the host must not have
rebooted; a holder on another host is never assumed dead (`lock_holder`, shared with the
Kubernetes Lease). A dead or foreign holder is broken only when asked (`--force-unlock`), a live
one on this host never. Breaking, step updates and release happen under an flock on the state
folder, so two breakers cannot both win.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sfctl.deploy.lock_holder import (
    FORCE_OPTION,
    Holder,
    Identity,
    Judgement,
    Liveness,
    describe,
    describe_broken,
    judge,
    new_holder,
)
from sfctl.deploy.state import fsync_dir
from sfctl.errors import SfctlError
from sfctl.pids import probe_pid

LOCK_FILE = "deploy.lock"
_ATTEMPTS = 5  # the lock changed hands between our tries this often: give up and say so
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class LockHeld(SfctlError):
    """Refused: someone else holds the lock (`holder` None: the lock file is unreadable)."""

    def __init__(self, message: str, holder: Holder | None, judgement: Judgement) -> None:
        super().__init__(message)
        self.holder = holder
        self.judgement = judgement


class LockLost(SfctlError):
    """Our lock was broken by someone else (`--force-unlock` from another host)."""


class HeldLock:
    """The lock while it is ours: `step` records what the run is doing, for whoever is refused.
    `broken` describes the stale lock we broke to get it, if any (print it)."""

    def __init__(self, path: Path, holder: Holder, clock: Clock) -> None:
        self.path = path
        self.holder = holder
        self.broken: str | None = None
        self._clock = clock

    def step(self, text: str) -> None:
        """Record the step now running; LockLost when the lock is no longer ours."""
        with _guard(self.path.parent):
            if _token(_read(self.path)) != self.holder.token:
                raise LockLost(
                    f"the deploy lock {self.path} was broken by another run ({FORCE_OPTION}); "
                    "stopping here: check the deployment's status"
                )
            self.holder = replace(self.holder, step=text, updated=self._clock())
            try:
                _write_over(self.path, self.holder)
            except OSError as exc:
                raise SfctlError(f"deploy lock {self.path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def deploy_lock(
    state_dir: Path,
    command: str,
    *,
    force_unlock: bool = False,
    identity: Identity | None = None,
    clock: Clock = utc_now,
) -> Iterator[HeldLock]:
    """Hold the deployment's lock for the block; released however the block ends (an error,
    Ctrl-C). LockHeld names the holder when it is taken; `force_unlock` breaks it only when its
    holder is gone or on another host."""
    me = identity or current_identity()
    lock = HeldLock(
        state_dir / LOCK_FILE, new_holder(me, command, clock(), secrets.token_hex(8)), clock
    )
    try:
        try:
            lock.broken = _acquire(lock.path, lock.holder, me, clock, force_unlock)
        except OSError as exc:  # an unwritable or missing state folder: one line, no traceback
            raise SfctlError(f"deploy lock {lock.path}: {exc.strerror or exc}") from None
        yield lock
    finally:
        _release(lock.path, lock.holder.token)


def inspect_lock(
    state_dir: Path, identity: Identity | None = None, now: datetime | None = None
) -> tuple[Holder | None, Judgement] | None:
    """Who holds the lock and whether they run (for `status`); None when nobody does."""
    raw = _read(state_dir / LOCK_FILE)
    if raw is None:
        return None
    return _assess(raw, identity or current_identity(), now or utc_now())


def current_identity() -> Identity:
    """This process, as a holder records it."""
    pid = os.getpid()
    return Identity(_user(), socket.gethostname(), pid, probe_pid(pid).start, boot_id())


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _acquire(path: Path, mine: Holder, me: Identity, clock: Clock, force: bool) -> str | None:
    """Take the lock; return a description of the stale lock broken on the way, if any."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_ATTEMPTS):
        if _create(path, mine):
            return None
        raw = _read(path)
        if raw is None:
            continue  # released between our tries
        now = clock()
        holder, judgement = _assess(raw, me, now)
        if not force or not judgement.breakable:
            raise LockHeld(_refusal(path, holder, judgement, now, force), holder, judgement)
        if _break(path, raw) and _create(path, mine):
            return describe_broken(holder, judgement, now)
    raise SfctlError(f"the deploy lock {path} kept changing hands; try again")


def _assess(raw: bytes, me: Identity, now: datetime) -> tuple[Holder | None, Judgement]:
    try:
        holder = Holder.from_json(json.loads(raw))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, Judgement(Liveness.UNKNOWN, f"unreadable ({exc})")
    probe = probe_pid(holder.pid) if holder.host == me.host else None
    return holder, judge(holder, host=me.host, boot_id=me.boot_id, probe=probe, now=now)


def _refusal(
    path: Path, holder: Holder | None, judgement: Judgement, now: datetime, forced: bool
) -> str:
    if holder is None:
        return (
            f"the deploy lock {path} is {judgement.reason}; if no deploy runs, "
            f"run again with {FORCE_OPTION}"
        )
    return describe(holder, judgement, now, forced=forced)


def _create(path: Path, holder: Holder) -> bool:
    """Publish `holder` at `path` unless the name exists: a link of a complete scratch file."""
    scratch = _scratch(path, holder)
    try:
        try:
            os.link(scratch, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            return _create_exclusive(path, holder)  # a filesystem without hard links
    finally:
        scratch.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def _create_exclusive(path: Path, holder: Holder) -> bool:
    try:
        _write_record(path, holder, os.O_EXCL)
    except FileExistsError:
        return False
    return True


def _write_over(path: Path, holder: Holder) -> None:
    """Replace the record in one rename: readers see the old one or the new one."""
    os.replace(_scratch(path, holder), path)
    fsync_dir(path.parent)


def _scratch(path: Path, holder: Holder) -> Path:
    scratch = path.with_name(f".{path.name}.{holder.token}")
    _write_record(scratch, holder, os.O_TRUNC)
    return scratch


def _write_record(path: Path, holder: Holder, mode: int) -> None:
    """`holder` in a new file at `path` (`mode`: O_EXCL or O_TRUNC), on disk before return."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_encode(holder))
        handle.flush()
        os.fsync(handle.fileno())


def _break(path: Path, seen: bytes) -> bool:
    """Remove the lock if it still holds exactly what we judged breakable."""
    with _guard(path.parent):
        if _read(path) != seen:
            return False
        path.unlink(missing_ok=True)
        return True


def _release(path: Path, token: str) -> None:
    """Remove our lock. A failure here is swallowed (it would hide why the block ended): the
    lock then stays, and the next run finds it stale and says so."""
    with contextlib.suppress(OSError), _guard(path.parent):
        if _token(_read(path)) == token:
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _guard(folder: Path) -> Iterator[None]:
    """An exclusive flock on the state folder: held for a read-then-change, never long."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _token(raw: bytes | None) -> str | None:
    try:
        return str(json.loads(raw or b"")["token"])
    except (ValueError, KeyError, TypeError):
        return None


def _encode(holder: Holder) -> bytes:
    return (json.dumps(holder.to_json(), sort_keys=True) + "\n").encode()


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (a container's arbitrary uid)
        return str(os.getuid())
