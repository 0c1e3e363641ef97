"""PostgreSQL unreachable mid-run, then back: requests keep working, audit records spill to the
local file and are replayed into the database, none lost and none duplicated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from support.gateway import ADMIN_KEY, running_gateway
from support.pg import fetch, fresh_database
from support.tcpproxy import TcpProxy

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def test_database_outage_spills_and_replays(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        proxy = TcpProxy("127.0.0.1", 5432)
        await proxy.start()
        via_proxy = dsn.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        async with running_gateway(tmp_path, env={"DATABASE_URL": via_proxy}) as gw:
            async with httpx.AsyncClient(timeout=10) as client:
                created = await client.post(
                    gw.url + "/api/enterprise/vkeys", json={"name": "outage"}, headers=ADMIN
                )
                key = {"Authorization": f"Bearer {created.json()['key']}"}

                async def ask(text: str) -> str:
                    response = await client.post(
                        gw.url + "/v1/chat/completions",
                        json={
                            "model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": text}],
                        },
                        headers=key,
                    )
                    assert response.status_code == 200
                    return response.headers["x-smartflow-request-id"]

                ids = [await ask(f"before {i}") for i in range(5)]
                await proxy.cut()  # PostgreSQL goes away
                ids += [await ask(f"during {i}") for i in range(20)]
                await asyncio.sleep(1.0)
                spill = tmp_path / "data" / "audit-spill.jsonl"
                assert spill.exists() and spill.stat().st_size > 0
                await proxy.start()  # back, on the same port
                for _ in range(200):
                    rows = await fetch(dsn, "SELECT request_id FROM audit_log")
                    if len(rows) >= len(ids):
                        break
                    await asyncio.sleep(0.1)
                ids += [await ask(f"after {i}") for i in range(5)]
        rows = await fetch(dsn, "SELECT request_id FROM audit_log")
        await proxy.cut()
    stored = [r["request_id"] for r in rows]
    assert sorted(stored) == sorted(ids)  # every record, exactly once
