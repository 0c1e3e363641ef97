"""`sfctl history compose`, run as users run it (a subprocess, an 80-column terminal): the
table newest first and readable at 80 columns, `-o json`, a torn line, a missing folder."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sfctl.deploy.history import Action, Record, Result, ServiceImage, append
from sfctl.deploy.state import compose_state_dir

from support.sfctl_cli import sfctl as run_sfctl

WIDTH = 80
T0 = datetime(2025, 12, 2, 5, 0, tzinfo=UTC)


def sfctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_sfctl(*args, cwd=cwd, columns=WIDTH)


def record(
    minute: int,
    action: Action,
    result: Result,
    versions: tuple[str | None, str | None],
    seconds: float,
    reason: str | None = None,
) -> Record:
    after = versions[1]
    return Record(
        at=T0 + timedelta(minutes=minute),
        user="alice",
        host="ops-1.example.internal",
        action=action,
        result=result,
        from_version=versions[0],
        to_version=after,
        duration_s=seconds,
        reason=reason,
        after=()
        if after is None
        else (
            ServiceImage(
                service="proxy",
                image=f"smartflow/gateway:{after}",
                image_id=f"sha256:{minute:064d}",
                version=after,
                commit="d55e7614249eda52b1439fad20825471018158a9",
            ),
        ),
    )


DIRTY = "0.2.0_uncommitted_ec65c761e046"
RECORDS = [
    record(0, Action.DEPLOY, Result.OK, (None, "0.1.0"), 95.2),
    record(10, Action.UPGRADE, Result.OK, ("0.1.0", DIRTY), 41.6),
    record(
        20,
        Action.UPGRADE,
        Result.ROLLED_BACK,
        (DIRTY, "0.3.0"),
        3725,
        "proxy-2 never became ready within 60 s: /ready answered 503 (starting)",
    ),
    record(30, Action.ROLLBACK, Result.OK, (DIRTY, "0.1.0"), 38.0),
    record(40, Action.TEARDOWN, Result.OK, ("0.1.0", None), 7.4),
]


def deployment(tmp_path: Path) -> Path:
    folder = tmp_path / "prod" / "out" / "compose"
    folder.mkdir(parents=True)
    for item in RECORDS:
        append(compose_state_dir(folder), item)
    return folder


def table_rows(text: str) -> list[list[str]]:
    """The table's rows, each cell joined across the lines it wrapped onto."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:  # a continuation: the wrapped cells go on
            rows[-1] = [
                f"{a} {b}".strip() if b else a for a, b in zip(rows[-1], cells, strict=True)
            ]
    return rows


def test_the_table_lists_newest_first_within_80_columns(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    result = sfctl("history", "compose", "--dir", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert all(len(line) <= WIDTH for line in result.stdout.splitlines()), result.stdout
    for column in ("when (UTC)", "who", "action", "from -> to", "result", "took"):
        assert column in result.stdout
    rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == [f"2025-12-02 05:{m}0" for m in (4, 3, 2, 1, 0)]
    assert [row[2] for row in rows] == ["teardown", "rollback", "upgrade", "upgrade", "deploy"]
    assert [row[5] for row in rows] == ["7s", "38s", "1h02m", "42s", "1m35s"]
    assert [row[4] for row in rows] == ["ok", "ok", "ROLLED-BACK", "ok", "ok"]
    assert {row[1] for row in rows} == {"alice"}
    # a long version wraps and is never cut (rich may break it mid-word: compare unspaced)
    changes = [row[3].replace(" ", "") for row in rows]
    assert changes == [
        "0.1.0->-",
        f"{DIRTY}->0.1.0",
        f"{DIRTY}->0.3.0",
        f"0.1.0->{DIRTY}",
        "-->0.1.0",
    ]
    assert (
        "2025-12-02 05:20 upgrade rolled-back: proxy-2 never became ready within 60 s: "
        "/ready answered 503 (starting)"
    ) in " ".join(result.stdout.split())


def test_last_n_shows_only_the_newest(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    result = sfctl("history", "compose", "--dir", str(folder), "--last", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "teardown" in result.stdout and "rollback" in result.stdout
    assert "deploy " not in result.stdout.replace("deploy history", "")


def test_json_output_has_every_record_newest_first(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    result = sfctl("history", "compose", "--dir", str(folder), "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dir"] == str(folder) and data["skipped_lines"] == 0
    assert [r["action"] for r in data["records"]] == [
        "teardown",
        "rollback",
        "upgrade",
        "upgrade",
        "deploy",
    ]
    upgrade = data["records"][2]
    assert upgrade["result"] == "rolled-back" and upgrade["duration_s"] == 3725
    assert upgrade["from_version"] == DIRTY and upgrade["to_version"] == "0.3.0"
    assert upgrade["after"][0]["commit"] == "d55e7614249eda52b1439fad20825471018158a9"
    assert Record.from_json(upgrade) == RECORDS[2]


def test_a_torn_line_is_reported_and_the_rest_still_shown(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    with (compose_state_dir(folder) / "history.jsonl").open("a") as f:
        f.write('{"schema": 1, "at": "2025-12-02T06:00:00+00:00", "user": "al')
    result = sfctl("history", "compose", "--dir", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 unreadable line" in result.stderr
    assert result.stdout.count("2025-12-02 05:") >= 5
    data = json.loads(
        sfctl("history", "compose", "--dir", str(folder), "-o", "json", cwd=tmp_path).stdout
    )
    assert data["skipped_lines"] == 1 and len(data["records"]) == 5


def test_the_default_folder_is_what_sfctl_render_compose_writes(tmp_path: Path) -> None:
    append(compose_state_dir(tmp_path / "rendered"), RECORDS[0])
    result = sfctl("history", "compose", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["records"]) == 1
    (tmp_path / "empty" / "rendered").mkdir(parents=True)
    result = sfctl("history", "compose", cwd=tmp_path / "empty")
    assert result.returncode == 0
    assert "no deploys recorded for rendered yet" in result.stdout


def test_a_missing_folder_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = sfctl("history", "compose", "--dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no deployment folder" in result.stderr and "--dir" in result.stderr
