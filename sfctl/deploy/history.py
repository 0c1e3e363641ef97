"""The deploy history: one JSON line per deploy, upgrade, rollback or teardown, appended under
the deploy lock and never rewritten, in the deployment's state folder.

An append is one `write(2)` on an O_APPEND descriptor, then fsync: a crash can tear only the
last line, never an earlier one. Reading skips a line it cannot parse (and counts it) instead of
failing, so a torn line never makes the history unreadable; the next append first ends a torn
line, so the new record is never glued to it.

The queries rollback and pruning need are pure functions over the records, newest first: what
runs now, the release before it, the release named VERSION, and the images of the last N
releases, which pruning must keep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sfctl.deploy.state import fsync_dir

HISTORY_FILE = "history.jsonl"
SCHEMA = 1
#: releases whose images are kept for rollback, the running one included
KEEP_RELEASES = 5


class Action(StrEnum):
    DEPLOY = "deploy"
    UPGRADE = "upgrade"
    ROLLBACK = "rollback"
    TEARDOWN = "teardown"


class Result(StrEnum):
    OK = "ok"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"  # the new build never became healthy; the old one kept serving


@dataclass(frozen=True, slots=True)
class ServiceImage:
    """What one service runs. `image_id` is the engine's id (what a rollback pins: the tag may
    have moved since) and `digest` the registry's `repo@sha256:...`, once pushed."""

    service: str
    image: str
    image_id: str
    digest: str | None = None
    version: str | None = None
    commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "image": self.image,
            "image_id": self.image_id,
            "digest": self.digest,
            "version": self.version,
            "commit": self.commit,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ServiceImage:
        return cls(
            service=str(raw["service"]),
            image=str(raw["image"]),
            image_id=str(raw["image_id"]),
            digest=_optional(raw, "digest"),
            version=_optional(raw, "version"),
            commit=_optional(raw, "commit"),
        )


@dataclass(frozen=True, slots=True)
class Record:
    """One run. `after` is what it deployed (what runs after an ok run, what it tried to run
    otherwise); `before` what ran when it started."""

    at: datetime  # when it started
    user: str
    host: str
    action: Action
    result: Result
    from_version: str | None
    to_version: str | None
    duration_s: float
    reason: str | None = None  # why it failed or was rolled back; what a rollback undid
    before: tuple[ServiceImage, ...] = ()
    after: tuple[ServiceImage, ...] = ()
    command: str | None = None

    @property
    def is_release(self) -> bool:
        """Whether it left a release running: an ok deploy, upgrade or rollback."""
        return self.result is Result.OK and self.action is not Action.TEARDOWN

    @property
    def images(self) -> frozenset[tuple[str, str]]:
        """(service, image id) of what it deployed: two records with the same set are the
        same release, whatever their versions say."""
        return frozenset((s.service, s.image_id) for s in self.after)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "at": self.at.astimezone(UTC).isoformat(timespec="seconds"),
            "user": self.user,
            "host": self.host,
            "action": self.action.value,
            "result": self.result.value,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "duration_s": round(self.duration_s, 3),
            "reason": self.reason,
            "before": [s.to_json() for s in self.before],
            "after": [s.to_json() for s in self.after],
            "command": self.command,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Record:
        """ValueError, KeyError or TypeError when the line is not a record."""
        at = datetime.fromisoformat(str(raw["at"]))
        return cls(
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            user=str(raw["user"]),
            host=str(raw["host"]),
            action=Action(raw["action"]),
            result=Result(raw["result"]),
            from_version=_optional(raw, "from_version"),
            to_version=_optional(raw, "to_version"),
            duration_s=float(raw["duration_s"]),
            reason=_optional(raw, "reason"),
            before=tuple(ServiceImage.from_json(s) for s in raw.get("before") or ()),
            after=tuple(ServiceImage.from_json(s) for s in raw.get("after") or ()),
            command=_optional(raw, "command"),
        )


@dataclass(frozen=True, slots=True)
class History:
    records: tuple[Record, ...] = ()  # newest first
    skipped: int = 0  # lines that could not be read (a torn last line after a crash)
    path: Path | None = field(default=None, compare=False)


def append(state_dir: Path, record: Record) -> None:
    """Add `record` durably; call it under the deploy lock (one writer at a time)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / HISTORY_FILE
    line = (json.dumps(record.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # end the torn line a crash left, so ours stays whole
        written = 0
        while written < len(line):
            written += os.write(fd, line[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(state_dir)


def read_history(state_dir: Path) -> History:
    """Every readable record, newest first; an absent file is an empty history."""
    path = state_dir / HISTORY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return History(path=path)
    records, skipped = parse_lines(data.split(b"\n"))
    return History(records=tuple(reversed(records)), skipped=skipped, path=path)


def parse_lines(lines: Iterable[bytes]) -> tuple[list[Record], int]:
    """Records in file order, and how many non-empty lines were not records."""
    records: list[Record] = []
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(Record.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped += 1
    return records, skipped


def current_release(records: Sequence[Record]) -> Record | None:
    """What runs now: the newest ok run, unless that was a teardown. Failed and rolled-back
    runs changed nothing that stayed, so they are passed over."""
    for record in records:
        if record.result is Result.OK:
            return record if record.is_release else None
    return None


def previous_release(records: Sequence[Record]) -> Record | None:
    """What `rollback` goes back to: the newest release before the current one that ran other
    images (a redeploy of the same build is not a release to go back to). Rolling back twice
    returns to where it started, as with Helm."""
    for at, record in enumerate(records):
        if record.result is Result.OK:
            if not record.is_release:
                return None  # torn down: nothing runs to roll back from
            older = records[at + 1 :]
            return next((r for r in older if r.is_release and r.images != record.images), None)
    return None


def named_release(records: Sequence[Record], version: str) -> Record | None:
    """The newest release that deployed `version` (`rollback --to VERSION`)."""
    return next((r for r in records if r.is_release and r.to_version == version), None)


def rollback_images(records: Sequence[Record], keep: int = KEEP_RELEASES) -> frozenset[str]:
    """Image ids and digests of the last `keep` distinct releases, the running one included:
    pruning must delete none of them. A teardown does not end the list: a later deploy may
    still want to go back."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the running release), not {keep}")
    kept: list[frozenset[tuple[str, str]]] = []
    protected: set[str] = set()
    for record in records:
        if not record.is_release or record.images in kept:
            continue
        if len(kept) == keep:
            break
        kept.append(record.images)
        for service in record.after:
            protected.add(service.image_id)
            if service.digest:
                protected.add(service.digest)
    return frozenset(protected)


def _optional(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)
