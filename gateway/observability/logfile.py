"""A log file that several processes append to and rotate by size, keeping a count of old files.

Why this design: with `--workers N` the supervisor and every worker write their own logs (each
worker's access log from a background thread, one write per batch), and any of them may be the
one that crosses the size limit. Options were a single owner (the supervisor reading the workers'
logs through pipes and writing the file), or every process writing the file itself. A single
owner adds a hop per line, a pipe per worker (a shared pipe tears writes over PIPE_BUF), and does
not exist with one worker; so every process writes the file itself, under three rules:

- Each batch of whole lines is one O_APPEND write made while holding an exclusive flock on a lock
  file beside the log (`<log>.lock`, never renamed). Writers never interleave within a batch and
  nobody writes while another process renames files: no torn or lost lines.
- Under that lock, a writer first compares the inode of the path with the inode of its open file
  and reopens when they differ: after another process rotated, its next write goes to the new
  file, so no process goes on writing to a rotated-away file.
- Under that lock, a writer checks the file's size (fstat: the file is shared, its own count would
  be wrong) and, when the next lines would not fit, rotates (`log.N-1` -> `log.N` ..., `log` ->
  `log.1`, the oldest beyond `backups` is overwritten) and continues in a new file. Lines are
  never split: a file exceeds `max_bytes` only when a single line does.

flock belongs to an open file description, which a forked child shares with its parent, so a
writer opened before a fork reopens its files in the child on first use (it checks the pid).
With `capture_stdio`, the file also replaces the process's stdout and stderr (dup2 at each open),
so tracebacks, start-up errors and anything else printed follow the rotation too. A process that
has nothing to write calls `follow()` now and then (the log writer thread when idle, the
supervisor in its loop), so it does not keep a rotated-away file open or print into one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class RotatingLogFile:
    """Append whole lines to `path` from any number of processes and threads; see the module."""

    def __init__(
        self, path: Path, max_bytes: int, backups: int, *, capture_stdio: bool = False
    ) -> None:
        if max_bytes < 1 or backups < 1:
            raise ValueError("max_bytes and backups must be at least 1")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._capture_stdio = capture_stdio
        self._mutex = threading.Lock()  # flock does not exclude threads sharing a descriptor
        self._pid = -1
        self._fd = -1
        self._lock_fd = -1
        self._inode: tuple[int, int] | None = None
        self._open_in_this_process()

    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes) -> None:
        """Write `data` (whole lines, newline-terminated) to the current file, rotating first
        whenever the next lines would not fit."""
        with self._locked():
            self._write_rotating(data)

    def follow(self) -> None:
        """Move to the current file if another process rotated: for a process that is idle, so
        that it neither holds a rotated-away file open nor prints to one."""
        with self._locked():
            pass

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's own descriptors, the lock held, the current file open."""
        with self._this_process_mutex():
            if self._pid != os.getpid():
                self._open_in_this_process()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._follow()
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close this process's descriptors (never an explicit unlock: a parent may hold it)."""
        with self._this_process_mutex():
            for fd in (self._fd, self._lock_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._lock_fd = -1
            self._pid = -1

    def _this_process_mutex(self) -> threading.Lock:
        if self._pid != os.getpid():  # a fork copies a lock in whatever state it was
            self._mutex = threading.Lock()
        return self._mutex

    def _open_in_this_process(self) -> None:
        if self._fd >= 0:  # inherited through fork: close our copies, open descriptions of our own
            os.close(self._fd)
            os.close(self._lock_fd)
            self._fd = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._pid = os.getpid()
        self._reopen()

    def _reopen(self) -> None:
        fd = os.open(self.path, _FLAGS, 0o600)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        stat = os.fstat(fd)
        self._inode = (stat.st_dev, stat.st_ino)
        if self._capture_stdio:
            os.dup2(fd, 1)
            os.dup2(fd, 2)

    def _follow(self) -> None:
        """Reopen when the path names another file than ours (another process rotated)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._reopen()
            return
        if (stat.st_dev, stat.st_ino) != self._inode:
            self._reopen()

    def _write_rotating(self, data: bytes) -> None:
        start = 0
        while start < len(data):
            size = os.fstat(self._fd).st_size
            end = len(data)
            if size + end - start > self.max_bytes:  # the whole lines that fit in what is left
                room = max(0, self.max_bytes - size)
                end = data.rfind(b"\n", start, start + room) + 1
                if end <= start:
                    if size > 0:
                        self._rotate()
                        continue
                    end = data.find(b"\n", start) + 1 or len(data)  # too long: alone in a file
            _write_all(self._fd, data[start:end])
            start = end

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self._backup(index), self._backup(index + 1))
        os.replace(self.path, self._backup(1))
        self._reopen()

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
