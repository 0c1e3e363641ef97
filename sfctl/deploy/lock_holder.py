"""The deploy lock's record and the decision whether its holder still runs: pure functions
over a record, what the host says about a pid, and a clock, so the Compose lock file
(`sfctl.deploy.lock`) and a Kubernetes Lease share them.

A holder on this host is alive while its pid runs with the recorded start time (a recycled pid
does not count) and the host has not rebooted since. A holder on another host is never assumed
dead; where holders renew their record (a Lease), one silent for longer than its ttl is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sfctl.pids import PidProbe

FORCE_OPTION = "--force-unlock"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who asks for the lock: enough to tell later whether that process still runs."""

    user: str
    host: str
    pid: int
    pid_start: str | None  # clock ticks after boot (/proc/<pid>/stat field 22); None off Linux
    boot_id: str | None  # new at every boot: a pid recorded before a reboot is dead


@dataclass(frozen=True, slots=True)
class Holder:
    """The lock's record: what a refused run prints, and what `judge` decides on."""

    user: str
    host: str
    pid: int
    pid_start: str | None
    boot_id: str | None
    command: str  # e.g. "sfctl upgrade compose --image smartflow/gateway:0.2.0"
    since: datetime
    step: str  # what it is doing now: "starting", "draining proxy", ...
    updated: datetime  # the last step change (or a heartbeat, where there is one)
    token: str  # tells this acquisition from any other, even by the same process

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "boot_id": self.boot_id,
            "command": self.command,
            "since": _stamp(self.since),
            "step": self.step,
            "updated": _stamp(self.updated),
            "token": self.token,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Holder:
        """ValueError when a field is missing or of the wrong type."""
        try:
            pid = raw["pid"]
            if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
                raise ValueError(f"pid {pid!r} is not a process id")
            return cls(
                user=_text(raw, "user"),
                host=_text(raw, "host"),
                pid=pid,
                pid_start=_optional_text(raw, "pid_start"),
                boot_id=_optional_text(raw, "boot_id"),
                command=_text(raw, "command"),
                since=_moment(raw["since"]),
                step=_text(raw, "step"),
                updated=_moment(raw["updated"]),
                token=_text(raw, "token"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"lock record: {exc!r}") from None


def new_holder(identity: Identity, command: str, now: datetime, token: str) -> Holder:
    return Holder(
        user=identity.user,
        host=identity.host,
        pid=identity.pid,
        pid_start=identity.pid_start,
        boot_id=identity.boot_id,
        command=command,
        since=now,
        step="starting",
        updated=now,
        token=token,
    )


class Liveness(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"  # on another host: nobody here can tell


@dataclass(frozen=True, slots=True)
class Judgement:
    liveness: Liveness
    reason: str

    @property
    def breakable(self) -> bool:
        """Whether --force-unlock may break it: never while its holder runs here."""
        return self.liveness is not Liveness.ALIVE


def judge(
    holder: Holder,
    *,
    host: str,
    boot_id: str | None,
    probe: PidProbe | None,
    now: datetime,
    ttl: timedelta | None = None,
) -> Judgement:
    """Whether `holder` still runs, seen from `host` at `now`. `probe` is this host's answer about
    holder.pid (None when the holder is elsewhere). `ttl` is for backends whose holders renew
    their record (a Kubernetes Lease): one not renewed for longer is dead wherever it ran."""
    if holder.host != host or probe is None:
        if ttl is not None and now - holder.updated > ttl:
            return Judgement(
                Liveness.DEAD, f"not renewed for {_age(now - holder.updated)} (ttl {_age(ttl)})"
            )
        return Judgement(
            Liveness.UNKNOWN,
            f"it was taken on {holder.host}, whose processes sfctl on {host} cannot see",
        )
    if holder.boot_id and boot_id and holder.boot_id != boot_id:
        return Judgement(Liveness.DEAD, f"{host} has rebooted since")
    if not probe.exists:
        return Judgement(Liveness.DEAD, f"process {holder.pid} has exited")
    if holder.pid_start and probe.start and holder.pid_start != probe.start:
        return Judgement(
            Liveness.DEAD, f"pid {holder.pid} now belongs to another process (recycled)"
        )
    return Judgement(Liveness.ALIVE, f"process {holder.pid} is still running")


def describe(holder: Holder, judgement: Judgement, now: datetime, *, forced: bool = False) -> str:
    """One line: who holds it, doing what since when, and what the reader can do about it."""
    who = _who(holder, judgement, now)
    if judgement.liveness is Liveness.ALIVE:
        advice = (
            f"{FORCE_OPTION} breaks only a lock whose holder is gone: stop pid {holder.pid} first"
            if forced
            else "wait for it to finish"
        )
        return f"another deploy holds the lock: {who}; {advice}"
    if judgement.liveness is Liveness.DEAD:
        return (
            f"a stale deploy lock was left by {who}; {judgement.reason}, so the deployment may "
            f"be half-changed: check its status, then run again with {FORCE_OPTION}"
        )
    return (
        f"another deploy may hold the lock: {who}; {judgement.reason}: if it no longer runs "
        f"there, run again with {FORCE_OPTION}"
    )


def describe_broken(holder: Holder | None, judgement: Judgement, now: datetime) -> str:
    """What --force-unlock broke, for the run that broke it to print."""
    if holder is None:
        return f"broke an unreadable deploy lock ({judgement.reason})"
    return f"broke the deploy lock of {_who(holder, judgement, now)} ({judgement.reason})"


def _who(holder: Holder, judgement: Judgement, now: datetime) -> str:
    since = f"{holder.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    doing = "now" if judgement.liveness is Liveness.ALIVE else "last step"
    return (
        f"{holder.user}@{holder.host} (pid {holder.pid}) running `{holder.command}` "
        f"since {since} ({_age(now - holder.since)} ago), {doing}: {holder.step}"
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not text")
    return value


def _optional_text(raw: Mapping[str, Any], key: str) -> str | None:
    return None if raw.get(key) is None else _text(raw, key)


def _age(delta: timedelta) -> str:
    """3 s, 4 min, 2 h 5 min, 3 d: the age of a lock at a glance."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} d"
