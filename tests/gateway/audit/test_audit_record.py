"""The audit record's spill-file form, status filters and the page cursor."""

from __future__ import annotations

import orjson
import pytest
from audit_records import make_record
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.audit import (
    CURSOR_PATTERN,
    FIELDS,
    MAX_TS,
    AuditRecord,
    Cursor,
    StatusFilter,
    page_of,
    parse_status,
)


def test_json_round_trip_keeps_every_field() -> None:
    record = make_record(0, prompt='say "hi"\n\u2603', stream=True, cached_tokens=64)
    line = record.to_json()
    assert b"\n" not in line  # one record per line of the spill file
    assert AuditRecord.from_json(line) == record
    assert list(orjson.loads(line)) == list(FIELDS)


@pytest.mark.parametrize(
    "line",
    [
        b"[]",
        b'"text"',
        b'{"ts": 1.0}',  # required fields missing
        make_record(1).to_json()[:-1] + b', "extra": 1}',
        make_record(2).to_json()[:40],  # torn by a crash
    ],
)
def test_from_json_refuses_anything_but_a_record(line: bytes) -> None:
    with pytest.raises(ValueError):
        AuditRecord.from_json(line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200", StatusFilter(200, 201)),
        ("404", StatusFilter(404, 405)),
        ("4xx", StatusFilter(400, 500)),
        ("1xx", StatusFilter(100, 200)),
    ],
)
def test_parse_status(text: str, expected: StatusFilter) -> None:
    assert parse_status(text) == expected


@pytest.mark.parametrize(
    "text", ["", "4XX", "6xx", "0xx", "40", "4000", "x4x", " 404", "404\n", "٤٠٤", "4x1"]
)
def test_parse_status_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_status(text)


@pytest.mark.parametrize("request_id", ["req_000001_ab12cd34", "", "日本-ü", "a.b.c"])
def test_cursor_round_trip(request_id: str) -> None:
    cursor = Cursor(1_795_300_000_123_456, request_id)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text",
    ["", "abc", "12", "12.0", "12.ABCD", "-5.00", "12.abc", "1234567890123456789.00", "12.00\n"],
)
def test_cursor_refuses_what_it_did_not_write(text: str) -> None:
    with pytest.raises(ValueError):
        Cursor.decode(text)


@given(st.from_regex(CURSOR_PATTERN.removesuffix("$") + r"\Z"))  # JSON Schema's `$` is the end
def test_every_string_of_the_documented_pattern_decodes(text: str) -> None:
    cursor = Cursor.decode(text)
    assert 0 <= cursor.ts_us <= MAX_TS * 1_000_000


def test_page_of_says_whether_more_follow() -> None:
    records = [make_record(i) for i in range(4)]
    last = page_of(records, 4)
    assert last.records == tuple(records) and last.next_cursor is None
    page = page_of(records, 3)
    assert page.records == tuple(records[:3])
    assert page.next_cursor is not None
    assert Cursor.decode(page.next_cursor) == Cursor(records[2].ts_us, records[2].request_id)


def test_a_record_no_store_can_hold_still_serialises() -> None:
    record = make_record(0, prompt_tokens=2**70)
    assert AuditRecord.from_json(record.to_json()) == record
