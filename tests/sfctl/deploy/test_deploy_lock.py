"""The deploy lock: the pure judgement of a holder (alive, dead, recycled pid, rebooted host,
another host, an expired lease), its messages, and the file lock with real processes: a race
with exactly one winner, release on error, Ctrl-C and SIGINT, a SIGKILLed holder broken with
--force-unlock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sfctl.deploy.lock import (
    LOCK_FILE,
    LockHeld,
    LockLost,
    boot_id,
    current_identity,
    deploy_lock,
    inspect_lock,
)
from sfctl.deploy.lock_holder import (
    Holder,
    Identity,
    Liveness,
    describe,
    judge,
    new_holder,
)
from sfctl.errors import SfctlError
from sfctl.pids import PidProbe, probe_pid

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 12, 2, 5, 14, 3, tzinfo=UTC)
HOST = "ops-1"
BOOT = "6f1c0f3e-boot"


def holder(**changes: object) -> Holder:
    base = Holder(
        user="alice",
        host=HOST,
        pid=4242,
        pid_start="98765",
        boot_id=BOOT,
        command="sfctl upgrade compose --image smartflow/gateway:0.2.0",
        since=T0,
        step="draining proxy",
        updated=T0,
        token="abc",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def seen(exists: bool = True, start: str | None = "98765") -> PidProbe:
    return PidProbe(exists=exists, start=start)


# --- the judgement: pure ----------------------------------------------------------------------


def test_a_running_holder_on_this_host_is_alive() -> None:
    verdict = judge(holder(), host=HOST, boot_id=BOOT, probe=seen(), now=T0)
    assert verdict.liveness is Liveness.ALIVE
    assert not verdict.breakable


def test_a_holder_whose_process_exited_is_dead() -> None:
    verdict = judge(holder(), host=HOST, boot_id=BOOT, probe=seen(exists=False), now=T0)
    assert verdict.liveness is Liveness.DEAD
    assert "4242 has exited" in verdict.reason
    assert verdict.breakable


def test_a_recycled_pid_is_not_the_holder() -> None:
    """The pid runs again, but it started at another time: another process."""
    verdict = judge(holder(), host=HOST, boot_id=BOOT, probe=seen(start="11111"), now=T0)
    assert verdict.liveness is Liveness.DEAD
    assert "recycled" in verdict.reason


def test_a_holder_from_before_a_reboot_is_dead_even_if_its_pid_runs() -> None:
    verdict = judge(holder(), host=HOST, boot_id="new-boot", probe=seen(), now=T0)
    assert verdict.liveness is Liveness.DEAD
    assert "rebooted" in verdict.reason


def test_without_start_times_a_running_pid_counts_as_alive() -> None:
    """No /proc (macOS): the pid answering is all there is to go by."""
    verdict = judge(holder(pid_start=None), host=HOST, boot_id=None, probe=seen(start=None), now=T0)
    assert verdict.liveness is Liveness.ALIVE


def test_a_holder_on_another_host_is_never_assumed_dead() -> None:
    verdict = judge(
        holder(host="ops-2"), host=HOST, boot_id=BOOT, probe=None, now=T0 + timedelta(days=30)
    )
    assert verdict.liveness is Liveness.UNKNOWN
    assert "ops-2" in verdict.reason
    assert verdict.breakable  # but only with --force-unlock
    # the same pid number here says nothing about a process over there
    here = judge(holder(host="ops-2"), host=HOST, boot_id=BOOT, probe=seen(exists=False), now=T0)
    assert here.liveness is Liveness.UNKNOWN


def test_a_lease_not_renewed_within_its_ttl_is_dead_wherever_it_ran() -> None:
    """Kubernetes: the holder renews its record; one silent for longer than the ttl is gone."""
    stale = holder(host="laptop", updated=T0)
    ttl = timedelta(minutes=2)
    fresh = judge(
        stale, host=HOST, boot_id=BOOT, probe=None, now=T0 + timedelta(minutes=1), ttl=ttl
    )
    expired = judge(
        stale, host=HOST, boot_id=BOOT, probe=None, now=T0 + timedelta(minutes=3), ttl=ttl
    )
    assert fresh.liveness is Liveness.UNKNOWN
    assert expired.liveness is Liveness.DEAD
    assert "not renewed for 3 min" in expired.reason


def test_the_refusal_names_the_holder_when_and_what() -> None:
    record = holder()
    now = T0 + timedelta(minutes=4)
    alive = judge(record, host=HOST, boot_id=BOOT, probe=seen(), now=now)
    text = describe(record, alive, now)
    for part in (
        "alice@ops-1",
        "pid 4242",
        "`sfctl upgrade compose --image smartflow/gateway:0.2.0`",
        "since 2025-12-02 05:14:03 UTC (4 min ago)",
        "now: draining proxy",
        "wait for it to finish",
    ):
        assert part in text
    assert "\n" not in text
    forced = describe(record, alive, now, forced=True)
    assert "stop pid 4242 first" in forced


def test_a_stale_lock_says_where_it_was_interrupted_and_how_to_break_it() -> None:
    record = holder()
    dead = judge(record, host=HOST, boot_id=BOOT, probe=seen(exists=False), now=T0)
    text = describe(record, dead, T0)
    assert "stale" in text
    assert "last step: draining proxy" in text
    assert "half-changed" in text
    assert "--force-unlock" in text
    foreign = judge(holder(host="ops-2"), host=HOST, boot_id=BOOT, probe=None, now=T0)
    assert "--force-unlock" in describe(holder(host="ops-2"), foreign, T0)
    assert "ops-2" in describe(holder(host="ops-2"), foreign, T0)


def test_the_record_round_trips_and_rejects_what_is_not_one() -> None:
    record = holder()
    assert Holder.from_json(json.loads(json.dumps(record.to_json()))) == record
    for broken in (
        {**record.to_json(), "pid": 0},
        {**record.to_json(), "pid": -1},  # os.kill(-1, 0) would probe every process
        {**record.to_json(), "pid": True},
        {**record.to_json(), "since": "yesterday"},
        {k: v for k, v in record.to_json().items() if k != "host"},
        {**record.to_json(), "user": 7},
    ):
        with pytest.raises(ValueError):
            Holder.from_json(broken)


# --- the lock file ----------------------------------------------------------------------------


def identity_of(pid: int) -> Identity:
    """Another process on this host, as it would have recorded itself."""
    me = current_identity()
    return replace(me, user="bob", pid=pid, pid_start=probe_pid(pid).start)


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_the_lock_records_its_holder_and_is_released_after(tmp_path: Path) -> None:
    state = tmp_path / ".sfctl"
    with deploy_lock(state, "sfctl deploy compose") as lock:
        record = json.loads((state / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid()
        assert record["command"] == "sfctl deploy compose"
        assert record["step"] == "starting"
        assert record["boot_id"] == boot_id()
        assert lock.broken is None
        lock.step("starting the new proxy")
        assert json.loads((state / LOCK_FILE).read_text())["step"] == "starting the new proxy"
    assert not (state / LOCK_FILE).exists()
    assert [p.name for p in state.iterdir()] == []  # no scratch files left


def test_a_second_deploy_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    other = identity_of(os.getppid())  # a live process that is not us
    with deploy_lock(tmp_path, "sfctl upgrade compose", identity=other) as lock:
        lock.step("draining proxy")
        with pytest.raises(LockHeld) as refused:
            with deploy_lock(tmp_path, "sfctl deploy compose"):
                pytest.fail("two deploys at once")
        assert refused.value.judgement.liveness is Liveness.ALIVE
        message = str(refused.value)
        assert f"bob@{other.host} (pid {other.pid})" in message
        assert "`sfctl upgrade compose`" in message and "now: draining proxy" in message
        with pytest.raises(LockHeld, match="stop pid"):  # --force-unlock never breaks a live one
            with deploy_lock(tmp_path, "sfctl deploy compose", force_unlock=True):
                pytest.fail("broke a live lock")
        assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == lock.holder.token
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_dead_holder_is_detected_and_broken_only_with_force(tmp_path: Path) -> None:
    gone = identity_of(dead_pid())
    record = replace(new_holder(gone, "sfctl upgrade compose", T0, "t0"), step="draining proxy")
    (tmp_path / LOCK_FILE).write_text(json.dumps(record.to_json()))  # as a SIGKILL leaves it
    with pytest.raises(LockHeld) as refused:
        with deploy_lock(tmp_path, "sfctl deploy compose"):
            pytest.fail("took a lock without --force-unlock")
    assert refused.value.judgement.liveness is Liveness.DEAD
    assert "last step: draining proxy" in str(refused.value)
    assert (tmp_path / LOCK_FILE).exists()
    with deploy_lock(tmp_path, "sfctl deploy compose", force_unlock=True) as lock:
        assert lock.broken is not None
        assert f"pid {gone.pid}" in lock.broken and "has exited" in lock.broken
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_lock_from_another_host_is_kept_unless_forced(tmp_path: Path) -> None:
    record = new_holder(
        replace(current_identity(), host="ops-2", pid=1), "sfctl upgrade compose", T0, "t1"
    )
    (tmp_path / LOCK_FILE).write_text(json.dumps(record.to_json()))
    with pytest.raises(LockHeld) as refused:
        with deploy_lock(tmp_path, "sfctl deploy compose"):
            pytest.fail("assumed a foreign holder dead")
    assert refused.value.judgement.liveness is Liveness.UNKNOWN
    assert "ops-2" in str(refused.value) and "--force-unlock" in str(refused.value)
    with deploy_lock(tmp_path, "sfctl deploy compose", force_unlock=True) as lock:
        assert lock.broken is not None and "ops-2" in lock.broken


def test_an_unreadable_lock_file_is_reported_and_breakable(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text('{"user": "ali')  # a hand-made or truncated file
    with pytest.raises(LockHeld, match="unreadable") as refused:
        with deploy_lock(tmp_path, "sfctl deploy compose"):
            pytest.fail("ignored the lock file")
    assert refused.value.holder is None
    with deploy_lock(tmp_path, "sfctl deploy compose", force_unlock=True) as lock:
        assert lock.broken is not None and "unreadable" in lock.broken


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_the_lock_is_released_however_the_block_ends(
    tmp_path: Path, error: type[BaseException]
) -> None:
    with pytest.raises(error):
        with deploy_lock(tmp_path, "sfctl upgrade compose"):
            raise error
    assert not (tmp_path / LOCK_FILE).exists()
    with deploy_lock(tmp_path, "sfctl upgrade compose"):
        pass


def test_a_broken_lock_is_not_ours_to_update_or_remove(tmp_path: Path) -> None:
    with deploy_lock(tmp_path, "sfctl upgrade compose") as lock:
        theirs = new_holder(replace(current_identity(), host="ops-2"), "sfctl deploy", T0, "x")
        (tmp_path / LOCK_FILE).write_text(json.dumps(theirs.to_json()))  # --force-unlock there
        with pytest.raises(LockLost, match="broken by another run"):
            lock.step("moving traffic")
    assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == "x"  # theirs stays


def test_inspect_lock_reports_the_holder_for_status(tmp_path: Path) -> None:
    assert inspect_lock(tmp_path) is None
    with deploy_lock(tmp_path, "sfctl rollback compose"):
        found = inspect_lock(tmp_path)
        assert found is not None
        record, verdict = found
        assert record is not None and record.command == "sfctl rollback compose"
        assert verdict.liveness is Liveness.ALIVE


def test_a_state_folder_that_cannot_exist_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SfctlError, match="deploy lock") as failed:
        with deploy_lock(tmp_path / "file" / ".sfctl", "sfctl deploy compose"):
            pytest.fail("locked inside a file")
    assert "\n" not in str(failed.value)


# --- real processes ---------------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from sfctl.deploy.lock import LockHeld, deploy_lock
sys.stdin.readline()  # wait for "go"
try:
    with deploy_lock(Path(sys.argv[1]), "sfctl upgrade compose") as lock:
        print("won", flush=True)
        sys.stdin.readline()  # hold it until told
except LockHeld as exc:
    print("held", exc, flush=True)
"""


def start_child(state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


@pytest.mark.parametrize("round_", range(4))
def test_two_processes_racing_for_the_lock_exactly_one_wins(tmp_path: Path, round_: int) -> None:
    state = tmp_path / ".sfctl"
    children = [start_child(state), start_child(state)]
    for child in children:  # both are started before either is told to go
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    answers = [child.stdout.readline() for child in children if child.stdout is not None]
    outputs = [child.communicate("release\n", timeout=60) for child in children]
    assert sorted(a.split()[0] for a in answers if a) == ["held", "won"], (answers, outputs)
    winner = children[[a.startswith("won") for a in answers].index(True)]
    loser_says = next(a for a in answers if a.startswith("held"))
    assert f"(pid {winner.pid})" in loser_says
    assert all(child.returncode == 0 for child in children), outputs
    assert not (state / LOCK_FILE).exists()


def holding_child(state: Path) -> subprocess.Popen[str]:
    """A real process that has taken the lock and holds it."""
    child = start_child(state)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().startswith("won")
    assert (state / LOCK_FILE).exists()
    return child


def test_ctrl_c_releases_the_lock_of_a_real_process(tmp_path: Path) -> None:
    child = holding_child(tmp_path)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_killed_holder_leaves_a_stale_lock_that_force_unlock_breaks(tmp_path: Path) -> None:
    child = holding_child(tmp_path)
    child.kill()
    child.communicate(timeout=60)
    with pytest.raises(LockHeld) as refused:
        with deploy_lock(tmp_path, "sfctl deploy compose"):
            pytest.fail("took a stale lock without --force-unlock")
    assert refused.value.judgement.liveness is Liveness.DEAD
    assert f"pid {child.pid}" in str(refused.value)
    with deploy_lock(tmp_path, "sfctl deploy compose", force_unlock=True) as lock:
        assert lock.broken is not None and f"pid {child.pid}" in lock.broken
