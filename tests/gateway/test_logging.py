"""JSON logs written by the background writer: every record queued before stop() is written, as
one JSON object per line, with extra fields at the top level."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.observability.logging import configure_logging


def test_background_writer_writes_every_record_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    stop = configure_logging("INFO", background=True)
    try:
        log = logging.getLogger("smartflow.test")
        for index in range(1500):  # more than one batch
            log.info("request", extra={"request_id": f"req_{index}", "status": 200})
        log.debug("not at INFO")
    finally:
        stop()
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["request_id"] for r in records] == [f"req_{i}" for i in range(1500)]
    assert {r["level"] for r in records} == {"info"}
    assert records[0]["status"] == 200 and records[0]["logger"] == "smartflow.test"
    assert records[0]["ts"].endswith("Z")
