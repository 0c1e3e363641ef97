"""Structured JSON logs on stdout. Prompt and response text are never logged by default."""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import orjson

MAX_BATCH = 512
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


def configure_logging(level: str, *, background: bool = False) -> Callable[[], None]:
    """Route every logger through one JSON handler on stdout; returns what flushes and stops it.

    With `background`, records are formatted and written by a listener thread, so a request's
    access log costs the event loop only a queue put. Call it in the process that serves (after
    any fork: a listener thread does not survive one).
    """
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.setLevel(level)
    # aiohttp's own access log is replaced by ours (which carries the request id).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if not background:
        root.handlers[:] = [stream]
        return lambda: None
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    writer = _BatchWriter(records, stream)
    root.handlers[:] = [_LazyQueueHandler(records)]
    writer.start()

    def stop() -> None:
        records.put(None)
        writer.join(timeout=10)  # everything queued before the sentinel is written
        root.handlers[:] = [stream]

    return stop


class _BatchWriter(threading.Thread):
    """Formats what is queued and writes it in one write and one flush per batch: under load a
    flush per line costs more than the formatting."""

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord | None],
        handler: logging.StreamHandler[TextIO],
    ) -> None:
        super().__init__(name="smartflow-log-writer", daemon=True)
        self._records = records
        self._handler = handler

    def run(self) -> None:
        stream = self._handler.stream
        formatter = self._handler.formatter or logging.Formatter()
        done = False
        while not done:
            batch = [self._records.get()]
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
                stream.write("\n".join(lines) + "\n")
                stream.flush()


class _LazyQueueHandler(logging.handlers.QueueHandler):
    """Queues the record as it is: the listener thread formats it (QueueHandler's own prepare()
    would format on the caller's thread, which is the cost we are moving off the event loop)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record
