"""The AuditStore contract, checked the same way on PostgreSQL and on the embedded SQLite store."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from audit_records import NOW, make_record, make_records

from gateway.core.audit import AuditQuery, AuditRecord, Cursor, GroupBy, parse_status
from gateway.store.audit_base import AuditStore, RecordsRejected


@pytest.fixture(params=["postgres", "sqlite"])
def store(request: pytest.FixtureRequest) -> AuditStore:
    name = "pg_store" if request.param == "postgres" else "sqlite_store"
    store: AuditStore = request.getfixturevalue(name)
    return store


async def everything(
    store: AuditStore, filters: AuditQuery | None = None, limit: int = 1000
) -> list[AuditRecord]:
    """Walk every page; fails on a repeated record or a page out of order."""
    records: list[AuditRecord] = []
    cursor: Cursor | None = None
    while True:
        page = await store.query(filters or AuditQuery(), cursor, limit)
        assert len(page.records) <= limit
        records.extend(page.records)
        if page.next_cursor is None:
            break
        assert len(page.records) == limit
        cursor = Cursor.decode(page.next_cursor)
    keys = [(r.ts_us, r.request_id) for r in records]
    assert keys == sorted(keys, reverse=True), "pages are newest first, in one order"
    assert len(set(keys)) == len(keys), "no record twice"
    return records


async def test_every_field_round_trips(store: AuditStore) -> None:
    record = make_record(
        3,
        prompt="[REDACTED] wants a haiku about the sea — naïve café ☕",
        stream=True,
        cached_tokens=64,
        compliance="flag",
        error_code=None,
    )
    anonymous = make_record(5, key_id=None, model_served=None, provider=None, prompt_tokens=None)
    await store.write_batch([record, anonymous])
    stored = await everything(store)
    assert stored == [record, anonymous]


async def test_writes_are_idempotent(store: AuditStore) -> None:
    batch = make_records(50)
    await store.write_batch(batch)
    await store.write_batch(batch)  # a replayed spill file
    await store.write_batch(batch[10:20] + batch[10:20])  # duplicates inside one batch
    await store.write_batch([])
    stored = await everything(store)
    assert sorted(r.request_id for r in stored) == sorted(r.request_id for r in batch)


async def test_pagination_walks_every_record_once_including_ties(store: AuditStore) -> None:
    batch = make_records(230)
    # records in the same microsecond: the cursor must still split them without loss
    tied = [make_record(1000 + i, ts=NOW - 500.0) for i in range(25)]
    await store.write_batch(batch + tied)
    for limit in (1, 7, 25, 100, 1000):
        stored = await everything(store, limit=limit)
        assert {r.request_id for r in stored} == {r.request_id for r in batch + tied}


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (AuditQuery(key_id="key_alpha"), lambda r: r.key_id == "key_alpha"),
        (AuditQuery(key_id="nobody"), lambda r: False),
        (AuditQuery(model="gpt-4o-mini"), lambda r: r.model_requested == "gpt-4o-mini"),
        # the served name matches too
        (
            AuditQuery(model="claude-sonnet-4-20250514"),
            lambda r: r.model_served == "claude-sonnet-4-20250514",
        ),
        (AuditQuery(status=parse_status("200")), lambda r: r.status == 200),
        (AuditQuery(status=parse_status("4xx")), lambda r: 400 <= r.status < 500),
        (AuditQuery(status=parse_status("5xx")), lambda r: r.status >= 500),
        (AuditQuery(status=parse_status("404")), lambda r: False),
        (AuditQuery(since=NOW - 1000), lambda r: r.ts >= NOW - 1000),
        (AuditQuery(until=NOW - 1000), lambda r: r.ts < NOW - 1000),
        (
            AuditQuery(
                since=NOW - 37.25 * 20,
                until=NOW - 37.25 * 10,
                key_id="key_beta",
                status=parse_status("2xx"),
            ),
            lambda r: (
                NOW - 37.25 * 20 <= r.ts < NOW - 37.25 * 10
                and r.key_id == "key_beta"
                and r.status == 200
            ),
        ),
    ],
)
async def test_query_filters(store: AuditStore, filters: AuditQuery, keep: Any) -> None:
    batch = make_records(120)
    await store.write_batch(batch)
    expected = sorted(
        (r for r in batch if keep(r)), key=lambda r: (r.ts_us, r.request_id), reverse=True
    )
    assert await everything(store, filters, limit=9) == expected


def expected_spend(
    records: list[AuditRecord], group_by: GroupBy
) -> dict[str | None, tuple[int, int, int, float]]:
    totals: dict[str | None, list[Any]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for r in records:
        group = {
            "key": r.key_id,
            "model": r.model_requested,
            "day": datetime.fromtimestamp(r.ts, UTC).strftime("%Y-%m-%d"),
        }[group_by]
        row = totals[group]
        row[0] += 1
        row[1] += r.prompt_tokens or 0
        row[2] += r.completion_tokens or 0
        row[3] += r.cost_usd
    return {group: (a, b, c, d) for group, (a, b, c, d) in totals.items()}


@pytest.mark.parametrize("group_by", ["key", "model", "day"])
async def test_spend_aggregates(store: AuditStore, group_by: GroupBy) -> None:
    batch = make_records(6000)  # ~62 hours before 22:26 UTC: three UTC days
    await store.write_batch(batch)
    rows = await store.spend(group_by, None, None)
    got = {
        row.group: (row.requests, row.prompt_tokens, row.completion_tokens, row.cost_usd)
        for row in rows
    }
    want = expected_spend(batch, group_by)
    assert got.keys() == want.keys()
    for group, (requests, prompt, completion, cost) in want.items():
        assert got[group][:3] == (requests, prompt, completion)
        assert got[group][3] == pytest.approx(cost, rel=1e-9)
    if group_by == "day":
        assert len(rows) == 3
        assert [row.group for row in rows] == sorted(want)  # chronological
    else:
        costs = [row.cost_usd for row in rows]
        assert costs == sorted(costs, reverse=True)  # biggest spender first


async def test_spend_window_and_key(store: AuditStore) -> None:
    batch = make_records(600)
    await store.write_batch(batch)
    since, until = NOW - 37.25 * 400, NOW - 37.25 * 100
    rows = await store.spend("model", since, until, key_id="key_alpha")
    window = [r for r in batch if since <= r.ts < until and r.key_id == "key_alpha"]
    want = expected_spend(window, "model")
    assert {row.group: row.requests for row in rows} == {group: v[0] for group, v in want.items()}
    assert sum(row.cost_usd for row in rows) == pytest.approx(sum(r.cost_usd for r in window))
    assert await store.spend("key", NOW + 1, None) == []


async def test_spent_since(store: AuditStore) -> None:
    batch = make_records(300)
    await store.write_batch(batch)
    for key in ("key_alpha", "key_beta"):
        for since in (0.0, NOW - 37.25 * 150, NOW - 37.25 * 150 + 1e-6, NOW + 1):
            want = sum(r.cost_usd for r in batch if r.key_id == key and r.ts >= since)
            assert await store.spent_since(key, since) == pytest.approx(want, abs=1e-12)
    assert await store.spent_since("key_unknown", 0.0) == 0.0
    await store.ping()


@pytest.mark.parametrize(
    "bad",
    [
        {"prompt_tokens": 2**70},  # no 64-bit column holds it
        {"model_requested": None},  # a required field missing
        {"cost_usd": {"usd": 1}},  # not a number at all
    ],
)
async def test_a_refused_value_fails_the_whole_batch_as_records_rejected(
    store: AuditStore, bad: dict[str, Any]
) -> None:
    """The sink tells a refused record (set aside) from a store that is down (retried) by this."""
    good = make_records(3)
    with pytest.raises(RecordsRejected):
        await store.write_batch([*good, make_record(9, **bad)])
    assert (await store.query(AuditQuery(), None, 10)).records == ()
    await store.write_batch(good)  # the store still works
    assert len((await store.query(AuditQuery(), None, 10)).records) == 3
