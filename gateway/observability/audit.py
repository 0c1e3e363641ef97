"""The audit sink: records leave the hot path in microseconds and are never lost.

`submit()` only appends to an in-memory queue; a background task writes batches to the store.
When the queue is full a record goes straight to the spill file; when the store fails, the batch
goes there (fsync'd) and the store is retried with backoff. Once it answers, the spill file is
moved aside (`.replaying`), replayed in order and deleted; a leftover from a crash is replayed the
same way at the next start. Stores ignore a record they already hold, so a replay interrupted
half-way is simply replayed again.

Several processes (`--workers`) may share one spill path: appends and the move aside happen
under an exclusive lock on a side file, and one process replays at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from gateway.core.audit import AuditRecord
from gateway.store.audit_base import AuditStore, RecordsRejected

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("smartflow.audit")

AuditEvent = Literal["written", "spilled", "replayed", "rejected", "unreadable", "lost"]
CountHook = Callable[[AuditEvent, int], None]


@dataclass(slots=True)
class SinkStats:
    """Records by fate, since start. `rejected`: refused by a store that is up (set aside in the
    `.rejected` file); `unreadable`: spill lines that did not parse (also set aside); `lost`:
    neither the store nor the spill file could take them."""

    written: int = 0
    spilled: int = 0
    replayed: int = 0
    rejected: int = 0
    unreadable: int = 0
    lost: int = 0


class SpillFile:
    """JSON lines of records waiting for the store, next to `.replaying`, `.rejected` and the
    lock files. Blocking I/O: call it from a thread, except for the rare overflow append."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replaying = path.with_name(path.name + ".replaying")
        self.rejected = path.with_name(path.name + ".rejected")
        self._lock = path.with_name(path.name + ".lock")
        self._replay_lock = path.with_name(path.name + ".replay-lock")

    def pending(self) -> bool:
        return self.path.exists() or self.replaying.exists()

    def append(self, records: Sequence[AuditRecord], *, fsync: bool) -> None:
        # A leading newline ends any line torn by a crash, so it cannot swallow this one.
        data = b"\n" + b"".join(record.to_json() + b"\n" for record in records)
        self._append(self.path, data, fsync=fsync)

    def reject(self, records: Sequence[AuditRecord], lines: Sequence[bytes] = ()) -> None:
        data = b"\n" + b"".join(record.to_json() + b"\n" for record in records)
        data += b"".join(line.rstrip(b"\n") + b"\n" for line in lines)
        self._append(self.rejected, data, fsync=True)

    def claim(self) -> bool:
        """Move the spill file aside for replay, unless an unfinished replay is still there."""
        with self._locked(self._lock):
            if self.replaying.exists():
                return True
            if not self.path.exists():
                return False
            os.replace(self.path, self.replaying)
            _fsync_dir(self.path.parent)
            return True

    def finish(self) -> None:
        self.replaying.unlink(missing_ok=True)

    @contextlib.contextmanager
    def replay_lock(self) -> Iterator[bool]:
        """Yields whether this process got to replay (another may be replaying)."""
        with self._locked(self._replay_lock, blocking=False) as held:
            yield held

    def _append(self, target: Path, data: bytes, *, fsync: bool) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(self._lock):
            created = not target.exists()
            with target.open("ab") as file:
                file.write(data)
                file.flush()
                if fsync:
                    os.fsync(file.fileno())
            if fsync and created:
                _fsync_dir(target.parent)

    @contextlib.contextmanager
    def _locked(self, path: Path, *, blocking: bool = True) -> Iterator[bool]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform != "win32":
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
            yield True
        finally:
            os.close(fd)  # releases the lock


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_batch(file: BinaryIO, size: int) -> tuple[list[AuditRecord], list[bytes], bool]:
    """Up to `size` records from a spill file: (records, unreadable lines, end reached)."""
    records: list[AuditRecord] = []
    bad: list[bytes] = []
    while len(records) < size:
        line = file.readline()
        if not line:
            return records, bad, True
        if not line.strip():
            continue
        try:
            records.append(AuditRecord.from_json(line))
        except ValueError:
            bad.append(line)
    return records, bad, False


class AuditSink:
    def __init__(
        self,
        store: AuditStore,
        *,
        spill_path: Path,
        max_queue: int = 100_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        write_timeout_s: float = 10.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        on_count: CountHook | None = None,
    ) -> None:
        self._store = store
        self.spill = SpillFile(spill_path)
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._write_timeout = write_timeout_s
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._retry_s = retry_initial_s
        self._on_count = on_count
        self._queue: deque[AuditRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._down_until: float | None = None  # loop time of the next retry while the store is down
        self.stats = SinkStats()

    @property
    def store_up(self) -> bool:
        return self._down_until is None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, record: AuditRecord) -> None:
        """Hand a record over; never blocks and never raises (the hot path calls it)."""
        queue = self._queue
        if len(queue) < self._max_queue and not self._closed:
            queue.append(record)
            if len(queue) >= self._batch_size:
                self._wake.set()
            return
        try:
            self.spill.append((record,), fsync=False)
        except OSError:
            log.exception("audit record lost", extra={"request_id": record.request_id})
            self._count("lost", 1)
        else:
            self._count("spilled", 1)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-sink")

    async def close(self) -> None:
        """Write (or spill) everything submitted so far, then stop."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        try:
            if self._task is not None:
                await self._task
            else:
                await self._final_drain()
        except Exception:
            log.exception("audit sink failed while closing")
        self._closed = True
        # submitted while the last batch was being written, or kept when the spill file failed
        self._spill_sync(self._take(len(self._queue)))

    async def _run(self) -> None:
        try:
            while not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
                self._wake.clear()
                if self._closing:
                    break
                try:
                    await self._cycle()
                except Exception:  # a bug must not stop the sink: spill until the next cycle
                    log.exception("audit sink cycle failed")
                    self._mark_down()
            await self._final_drain()
        except asyncio.CancelledError:
            self._spill_sync(self._take(len(self._queue)))
            raise

    async def _cycle(self) -> None:
        if self._down_until is not None and (
            asyncio.get_running_loop().time() < self._down_until or not await self._probe()
        ):
            await self._spill_queue()
            return
        if self.spill.pending():
            await self._replay()
        if self._down_until is None:
            while self._queue and self._down_until is None:
                await self._write(self._take(self._batch_size))
        await self._spill_queue()

    async def _final_drain(self) -> None:
        if self._down_until is not None and self._queue:
            await self._probe()  # one last chance before spilling everything
        while self._queue and self._down_until is None:
            await self._write(self._take(self._batch_size))
        await self._spill_queue()

    def _take(self, count: int) -> list[AuditRecord]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(count, len(queue)))]

    async def _write(self, batch: list[AuditRecord]) -> None:
        try:
            written = await self._store_batch(batch)
        except asyncio.CancelledError:
            self._spill_sync(batch)
            raise
        if written is None:
            await self._spill(batch)
        else:
            self._count("written", written)

    async def _store_batch(self, batch: Sequence[AuditRecord]) -> int | None:
        """Write a batch: how many records went in; None when the store is down. When the store
        refuses the batch for its values (RecordsRejected), the records it refuses one by one
        are set aside and the rest written: one bad record must not hold back the log."""
        try:
            async with asyncio.timeout(self._write_timeout):
                await self._store.write_batch(batch)
            return len(batch)
        except RecordsRejected as exc:
            error = exc
        except Exception as exc:  # unreachable, overloaded, full, too slow: retried later
            self._mark_down(exc)
            return None
        refused: list[AuditRecord] = []
        for record in batch:
            try:
                async with asyncio.timeout(self._write_timeout):
                    await self._store.write_batch((record,))
            except RecordsRejected as exc:
                error = exc
                refused.append(record)
            except Exception as exc:
                self._mark_down(exc)
                return None  # the whole batch is kept; the store skips what it has
        if refused:
            log.error(
                "audit store refused records; set aside in %s",
                self.spill.rejected,
                extra={"records": len(refused), "error": repr(error)},
            )
            await asyncio.to_thread(self.spill.reject, refused)
            self._count("rejected", len(refused))
        return len(batch) - len(refused)

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(self._write_timeout):
                await self._store.ping()
        except Exception as exc:
            self._mark_down(exc)
            return False
        if self._down_until is not None:
            log.info("audit store is back")
        self._down_until = None
        self._retry_s = self._retry_initial
        return True

    def _mark_down(self, error: BaseException | None = None) -> None:
        if self._down_until is None:
            log.warning(
                "audit store unavailable; spilling to %s",
                self.spill.path,
                extra={"error": repr(error)},
            )
        self._down_until = asyncio.get_running_loop().time() + self._retry_s
        self._retry_s = min(self._retry_s * 2, self._retry_max)

    async def _replay(self) -> None:
        with self.spill.replay_lock() as held:
            if not held or not await asyncio.to_thread(self.spill.claim):
                return
            with self.spill.replaying.open("rb") as file:
                done = False
                while not done:
                    if self._closing:
                        return  # kept for the next start
                    batch, bad, done = await asyncio.to_thread(_read_batch, file, self._batch_size)
                    if bad:
                        log.error("unreadable audit spill lines set aside", extra={"n": len(bad)})
                        await asyncio.to_thread(self.spill.reject, (), bad)
                        self._count("unreadable", len(bad))
                    replayed = await self._store_batch(batch) if batch else 0
                    if replayed is None:
                        return  # the store went down again: replayed from the start next time
                    self._count("replayed", replayed)
            await asyncio.to_thread(self.spill.finish)
            log.info("audit spill file replayed")

    async def _spill_queue(self) -> None:
        while self._queue and await self._spill(self._take(self._batch_size)):
            pass

    async def _spill(self, batch: list[AuditRecord]) -> bool:
        """Append to the spill file; when that fails too, keep the batch in memory."""
        try:
            await asyncio.to_thread(self.spill.append, batch, fsync=True)
        except OSError:
            log.exception("audit spill file not writable; records kept in memory")
            self._queue.extendleft(reversed(batch))
            return False
        self._count("spilled", len(batch))
        return True

    def _spill_sync(self, batch: list[AuditRecord]) -> None:
        if not batch:
            return
        try:
            self.spill.append(batch, fsync=True)
        except OSError:
            log.exception("audit records lost", extra={"records": len(batch)})
            self._count("lost", len(batch))
        else:
            self._count("spilled", len(batch))

    def _count(self, event: AuditEvent, n: int) -> None:
        setattr(self.stats, event, getattr(self.stats, event) + n)
        if self._on_count is not None:
            try:
                self._on_count(event, n)
            except Exception:
                log.exception("audit count hook failed")
