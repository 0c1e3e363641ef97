"""Structured JSON logs on stdout, or in a rotated file (SMARTFLOW_LOG_FILE, see logfile.py).
Prompt and response text are never logged by default."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import orjson

from gateway.observability.logfile import RotatingLogFile

if TYPE_CHECKING:
    from gateway.settings import LogFileSettings, Settings

MAX_BATCH = 512
FOLLOW_EVERY_S = 2.0  # how soon an idle writer moves to a file another process rotated
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class _Sink(Protocol):
    def write_text(self, text: str) -> None: ...

    def follow(self) -> None: ...

    def close(self) -> None: ...


class _StreamSink:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write_text(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def follow(self) -> None:
        """A stream is not rotated."""

    def close(self) -> None:
        """The stream is the process's stdout: not ours to close."""


class _FileSink:
    def __init__(self, file: RotatingLogFile) -> None:
        self._file = file

    def write_text(self, text: str) -> None:
        self._file.write(text.encode("utf-8", "backslashreplace"))

    def follow(self) -> None:
        self._file.follow()

    def close(self) -> None:
        self._file.close()


class _SinkHandler(logging.Handler):
    """Writes each record as it comes (no thread): start-up, the supervisor, after stop()."""

    def __init__(self, sink: _Sink) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write_text(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def configure_logging(
    level: str,
    *,
    background: bool = False,
    file: LogFileSettings | None = None,
    capture_stdio: bool = True,
) -> Callable[[], None]:
    """Route every logger through one JSON handler, on stdout or in `file`; returns what flushes
    and stops it.

    With `background`, records are formatted and written by a listener thread, so a request's
    access log costs the event loop only a queue put. Call it in the process that serves (after
    any fork: a listener thread does not survive one). With `file`, the process's stdout and
    stderr go to that file too unless `capture_stdio` is False (tests sharing a process).
    """
    sink: _Sink = _StreamSink(sys.stdout)
    if file is not None:
        sink = _FileSink(
            RotatingLogFile(file.path, file.max_bytes, file.backups, capture_stdio=capture_stdio)
        )
    direct = _SinkHandler(sink)
    root = logging.getLogger()
    root.setLevel(level)
    # aiohttp's own access log is replaced by ours (which carries the request id).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    _close_ours(root.handlers)
    if not background:
        root.handlers[:] = [direct]
        return lambda: None
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    writer = _BatchWriter(records, sink)
    root.handlers[:] = [_LazyQueueHandler(records)]
    writer.start()

    def stop() -> None:
        records.put(None)
        writer.join(timeout=10)  # everything queued before the sentinel is written
        root.handlers[:] = [direct]

    return stop


def configure_from(settings: Settings, *, background: bool = False) -> Callable[[], None]:
    """The logging a gateway process gets from its settings (level, stdout or the log file)."""
    return configure_logging(settings.log_level, background=background, file=settings.log_file)


def follow_rotation() -> None:
    """For a process that seldom logs (the supervisor): move to the current log file if another
    process rotated it, stdout and stderr included. Cheap: a lock and two stats."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _SinkHandler):
            handler.sink.follow()


def _close_ours(handlers: list[logging.Handler]) -> None:
    """Release the files of a previous configuration (in a forked worker: the supervisor's)."""
    for handler in handlers:
        if isinstance(handler, _SinkHandler):
            handler.sink.close()


class _BatchWriter(threading.Thread):
    """Formats what is queued and writes it in one write and one flush per batch: under load a
    flush per line costs more than the formatting."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | None], sink: _Sink) -> None:
        super().__init__(name="smartflow-log-writer", daemon=True)
        self._records = records
        self._sink = sink

    def run(self) -> None:
        formatter = JsonFormatter()
        done = False
        while not done:
            try:
                batch = [self._records.get(timeout=FOLLOW_EVERY_S)]
            except queue.Empty:  # idle: do not hold on to a file another process rotated away
                self._guarded(self._sink.follow)
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._records.get_nowait())
                except queue.Empty:
                    break
            lines = []
            for record in batch:
                if record is None:
                    done = True
                    continue
                try:
                    lines.append(formatter.format(record))
                except Exception:  # a record that cannot be formatted must not stop the log
                    lines.append(
                        f'{{"level": "error", "msg": "unformattable log record {record.msg!r}"}}'
                    )
            if lines:
                text = "\n".join(lines) + "\n"
                self._guarded(self._sink.write_text, text)

    @staticmethod
    def _guarded(action: Callable[..., None], *args: str) -> None:
        try:
            action(*args)
        except Exception as exc:  # a full disk must not stop the writer: later batches may fit
            with contextlib.suppress(Exception):
                sys.stderr.write(f"smartflow: log lines lost: {exc}\n")


class _LazyQueueHandler(logging.handlers.QueueHandler):
    """Queues the record as it is: the listener thread formats it (QueueHandler's own prepare()
    would format on the caller's thread, which is the cost we are moving off the event loop)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record
