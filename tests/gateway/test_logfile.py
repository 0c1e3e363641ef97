"""The rotated log file several processes write to: whole lines only, nothing lost, a size bound
per file, a count of kept files, and every writer following a rotation another one did."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

from gateway.observability.logfile import RotatingLogFile
from gateway.observability.logging import configure_logging
from gateway.settings import LogFileSettings

WRITERS = 4
BATCHES = 300


def files(path: Path) -> list[Path]:
    """The file and its backups, oldest first."""
    backups = [p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()]
    return [*sorted(backups, key=lambda p: -int(p.suffix[1:])), path]


def lines(path: Path) -> list[str]:
    return [line for p in files(path) for line in p.read_text().splitlines()]


def _write_batches(path: Path, writer: int, inherited: RotatingLogFile, turns: BarrierType) -> None:
    sink = inherited if writer % 2 else RotatingLogFile(path, 20_000, 1000)  # both kinds of use
    for batch in range(BATCHES):
        size = 1 + (batch * 7 + writer) % 23  # 1 to 23 lines: some batches cross the size bound
        text = "".join(
            json.dumps({"writer": writer, "batch": batch, "line": n, "pad": "x" * 60}) + "\n"
            for n in range(size)
        )
        sink.write(text.encode())
    for turn in range(WRITERS):  # then one line each, in turn: each must land after the last
        turns.wait()
        if turn == writer:
            sink.write(json.dumps({"marker": writer}).encode() + b"\n")


def test_processes_share_one_rotated_file_without_losing_or_tearing_a_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.log"
    inherited = RotatingLogFile(path, 20_000, 1000)  # opened before fork, like the supervisor's
    context = multiprocessing.get_context("fork")
    turns = context.Barrier(WRITERS)
    writers = [
        context.Process(target=_write_batches, args=(path, writer, inherited, turns))
        for writer in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    written = [json.loads(line) for line in lines(path)]  # each line whole
    markers = [r.pop("marker") for r in written if "marker" in r]
    assert markers == list(range(WRITERS))  # nobody wrote on in a file rotated away
    written = [r for r in written if r]
    expected = {
        (w, b, n)
        for w in range(WRITERS)
        for b in range(BATCHES)
        for n in range(1 + (b * 7 + w) % 23)
    }
    got = [(r["writer"], r["batch"], r["line"]) for r in written]
    assert len(got) == len(expected) and set(got) == expected
    assert len(files(path)) > 10
    assert all(p.stat().st_size <= 20_000 for p in files(path))


def test_the_oldest_file_goes_past_the_count(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    sink = RotatingLogFile(path, 1000, 2)
    for index in range(100):
        sink.write(f"{index:04d} {'.' * 94}\n".encode())  # 100 bytes a line, 10 a file
    assert [p.name for p in files(path)] == ["app.log.2", "app.log.1", "app.log"]
    assert [line[:4] for line in lines(path)] == [f"{i:04d}" for i in range(70, 100)]


def test_a_line_longer_than_the_limit_is_written_whole_in_a_file_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.log"
    sink = RotatingLogFile(path, 1000, 5)
    sink.write(b"short\n" + b"y" * 3000 + b"\n" + b"after\n")
    assert lines(path) == ["short", "y" * 3000, "after"]
    assert (tmp_path / "app.log.1").stat().st_size == 3001


def test_a_writer_follows_a_rotation_done_by_another(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    first, second = RotatingLogFile(path, 100, 5), RotatingLogFile(path, 100, 5)
    first.write(b"a" * 60 + b"\n")
    first.write(b"b" * 60 + b"\n")  # rotates: `second` still has the old file open
    second.write(b"c\n")
    assert path.read_text() == "b" * 60 + "\nc\n"


def test_an_idle_writer_follows_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    first, idle = RotatingLogFile(path, 100, 5), RotatingLogFile(path, 100, 5)
    first.write(b"a" * 60 + b"\n")
    first.write(b"b" * 60 + b"\n")  # rotates
    assert os.fstat(idle.fileno()).st_ino != path.stat().st_ino
    idle.follow()
    assert os.fstat(idle.fileno()).st_ino == path.stat().st_ino
    assert path.read_text() == "b" * 60 + "\n"  # and wrote nothing


def test_background_logging_goes_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    settings = LogFileSettings(path, max_bytes=50_000, backups=20)
    stop = configure_logging("INFO", background=True, file=settings, capture_stdio=False)
    try:
        log = logging.getLogger("smartflow.test")
        for index in range(2000):
            log.info("request", extra={"request_id": f"req_{index}"})
    finally:
        stop()
        configure_logging("INFO")  # back to stdout for the other tests
    ids = [json.loads(line)["request_id"] for line in lines(path)]
    assert sorted(ids) == sorted(f"req_{i}" for i in range(2000))
    assert len(list(tmp_path.glob("gateway.log.*"))) > 2
