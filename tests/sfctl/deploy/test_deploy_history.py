"""The deploy history: durable appends read back newest first, a torn last line (a crash
mid-write) skipped and never glued to the next record, and the release queries rollback and
pruning use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sfctl.deploy.history import (
    HISTORY_FILE,
    Action,
    Record,
    Result,
    ServiceImage,
    append,
    current_release,
    named_release,
    previous_release,
    read_history,
    rollback_images,
)

T0 = datetime(2025, 12, 2, 5, 0, tzinfo=UTC)
SERVICES = ("proxy", "api-server")


def images(version: str, build: str) -> tuple[ServiceImage, ...]:
    return tuple(
        ServiceImage(
            service=service,
            image=f"smartflow/gateway:{version}",
            image_id=f"sha256:{build}",
            digest=f"registry.example.com/smartflow/gateway@sha256:m{build}",
            version=version,
            commit=f"c{build}",
        )
        for service in SERVICES
    )


class Log:
    """Records in the order they happened; `newest` is what read_history returns."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.current: tuple[str, str] | None = None

    def run(self, action: Action, to: tuple[str, str] | None, result: Result = Result.OK) -> Record:
        before = images(*self.current) if self.current else ()
        record = Record(
            at=T0 + timedelta(minutes=len(self.records)),
            user="alice",
            host="ops-1",
            action=action,
            result=result,
            from_version=self.current[0] if self.current else None,
            to_version=to[0] if to else None,
            duration_s=42.5,
            reason=None if result is Result.OK else "proxy never became ready",
            before=before,
            after=images(*to) if to else (),
            command=f"sfctl {action} compose",
        )
        self.records.append(record)
        if result is Result.OK:
            self.current = to
        return record

    @property
    def newest(self) -> list[Record]:
        return list(reversed(self.records))


def test_records_are_read_back_newest_first_and_whole(tmp_path: Path) -> None:
    log = Log()
    log.run(Action.DEPLOY, ("0.1.0", "a1"))
    log.run(Action.UPGRADE, ("0.2.0", "b2"), Result.ROLLED_BACK)
    log.run(Action.TEARDOWN, None)
    for record in log.records:
        append(tmp_path, record)
    history = read_history(tmp_path)
    assert list(history.records) == log.newest
    assert history.skipped == 0
    lines = (tmp_path / HISTORY_FILE).read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["action"] == "deploy" and first["result"] == "ok" and first["schema"] == 1
    assert first["after"][0]["image_id"] == "sha256:a1"
    assert json.loads(lines[1])["reason"] == "proxy never became ready"


def test_no_history_yet_is_empty_not_an_error(tmp_path: Path) -> None:
    history = read_history(tmp_path / "never-deployed" / ".sfctl")
    assert history.records == () and history.skipped == 0


def test_a_torn_last_line_is_skipped_and_the_next_record_stays_whole(tmp_path: Path) -> None:
    log = Log()
    first = log.run(Action.DEPLOY, ("0.1.0", "a1"))
    second = log.run(Action.UPGRADE, ("0.2.0", "b2"))
    append(tmp_path, first)
    append(tmp_path, second)
    whole = json.dumps(log.run(Action.UPGRADE, ("0.3.0", "c3")).to_json())
    with (tmp_path / HISTORY_FILE).open("a") as f:  # the crash: half a line, no newline
        f.write(whole[: len(whole) // 2])
    history = read_history(tmp_path)
    assert list(history.records) == [second, first]
    assert history.skipped == 1
    after_crash = log.run(Action.ROLLBACK, ("0.1.0", "a1"))
    append(tmp_path, after_crash)
    history = read_history(tmp_path)
    assert list(history.records) == [after_crash, second, first]
    assert history.skipped == 1


def test_a_line_that_is_not_a_record_is_skipped_wherever_it_is(tmp_path: Path) -> None:
    log = Log()
    append(tmp_path, log.run(Action.DEPLOY, ("0.1.0", "a1")))
    with (tmp_path / HISTORY_FILE).open("a") as f:
        f.write('{"action": "redeploy", "at": "2025-12-02T05:00:00+00:00"}\n[1, 2]\n')
    append(tmp_path, log.run(Action.UPGRADE, ("0.2.0", "b2")))
    history = read_history(tmp_path)
    assert [r.to_version for r in history.records] == ["0.2.0", "0.1.0"]
    assert history.skipped == 2


def test_what_runs_now_ignores_failed_runs_and_ends_at_a_teardown() -> None:
    log = Log()
    assert current_release(log.newest) is None
    deployed = log.run(Action.DEPLOY, ("0.1.0", "a1"))
    log.run(Action.UPGRADE, ("0.2.0", "b2"), Result.FAILED)
    log.run(Action.UPGRADE, ("0.2.0", "b2"), Result.ROLLED_BACK)
    assert current_release(log.newest) == deployed
    log.run(Action.TEARDOWN, None)
    assert current_release(log.newest) is None
    assert previous_release(log.newest) is None


def test_the_previous_release_skips_failures_and_redeploys_of_the_same_build() -> None:
    log = Log()
    log.run(Action.DEPLOY, ("0.1.0", "a1"))
    assert previous_release(log.newest) is None  # nothing to go back to
    first = log.run(Action.DEPLOY, ("0.1.0", "a1"))  # the same build again: still nothing
    assert previous_release(log.newest) is None
    log.run(Action.UPGRADE, ("0.2.0", "b2"))
    log.run(Action.UPGRADE, ("0.3.0", "c3"), Result.ROLLED_BACK)
    second = log.run(Action.DEPLOY, ("0.2.0", "b2"))  # the newest record of that release
    assert current_release(log.newest) is not None
    assert previous_release(log.newest) == first
    back = log.run(Action.ROLLBACK, ("0.1.0", "a1"))
    assert current_release(log.newest) == back
    assert previous_release(log.newest) == second  # rolling back twice returns, as Helm does


def test_the_previous_release_is_told_by_its_images_not_its_version() -> None:
    """A rebuild of the same version (a new image) is another release."""
    log = Log()
    old = log.run(Action.DEPLOY, ("0.1.0", "a1"))
    log.run(Action.UPGRADE, ("0.1.0", "a2"))
    assert previous_release(log.newest) == old


def test_the_release_named_version_is_the_newest_that_ran_it() -> None:
    log = Log()
    log.run(Action.DEPLOY, ("0.1.0", "a1"))
    log.run(Action.UPGRADE, ("0.2.0", "b1"))
    rebuilt = log.run(Action.UPGRADE, ("0.1.0", "a2"))
    log.run(Action.UPGRADE, ("0.3.0", "c3"), Result.ROLLED_BACK)
    log.run(Action.UPGRADE, ("0.4.0", "d4"))
    assert named_release(log.newest, "0.1.0") == rebuilt
    assert named_release(log.newest, "0.3.0") is None  # it never ran
    assert named_release(log.newest, "9.9.9") is None


def test_rollback_targets_are_the_last_n_distinct_releases() -> None:
    log = Log()
    for n, build in enumerate(("a1", "b2", "c3", "d4")):
        log.run(Action.UPGRADE if n else Action.DEPLOY, (f"0.{n}.0", build))
        log.run(Action.DEPLOY, (f"0.{n}.0", build))  # redeploys do not use up the count
    log.run(Action.UPGRADE, ("0.9.0", "bad"), Result.ROLLED_BACK)
    log.run(Action.TEARDOWN, None)  # a later deploy may still want to go back
    kept = rollback_images(log.newest, keep=2)
    assert kept == {
        "sha256:d4",
        "sha256:c3",
        "registry.example.com/smartflow/gateway@sha256:md4",
        "registry.example.com/smartflow/gateway@sha256:mc3",
    }
    assert "sha256:bad" not in rollback_images(log.newest, keep=10)  # never ran: prunable
    assert {k for k in rollback_images(log.newest, keep=1) if not k.startswith("registry")} == {
        "sha256:d4"
    }
    assert len(rollback_images(log.newest)) == 8  # the default keeps all four here


def test_keeping_no_release_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        rollback_images([], keep=0)


def test_a_record_round_trips_through_json() -> None:
    log = Log()
    log.run(Action.DEPLOY, ("0.1.0", "a1"))
    record = log.run(Action.UPGRADE, ("0.2.0_uncommitted_ec65c761e046", "b2"), Result.FAILED)
    assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record
