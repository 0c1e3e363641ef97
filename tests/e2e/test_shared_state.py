"""Keys, limits, budgets and the audit log across real gateway processes sharing the real Redis
and PostgreSQL; outages of each; SIGTERM under load."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support.gateway import ADMIN_KEY
from support.pg import fetch, fresh_database
from support.procs import free_port, gateway_process

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
REDIS = "redis://127.0.0.1:6379/0"


def chat(model: str = "gpt-4o", text: str = "hi", max_tokens: int = 16) -> dict[str, object]:
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }


async def create_key(client: httpx.AsyncClient, url: str, **fields: object) -> dict[str, object]:
    response = await client.post(
        url + "/api/enterprise/vkeys", json={"name": "it", **fields}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(key: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


@pytest.fixture
async def shared_env() -> AsyncIterator[dict[str, str]]:
    async with fresh_database() as dsn:
        yield {"KEYSTORE_REDIS_URL": REDIS, "DATABASE_URL": dsn}


async def test_rate_limit_is_shared_by_two_processes(shared_env: dict[str, str]) -> None:
    with gateway_process(env=shared_env) as (a, _), gateway_process(env=shared_env) as (b, _):
        async with httpx.AsyncClient(timeout=10) as client:
            key = await create_key(client, a, limits={"rph": 10})
            statuses = []
            for index in range(30):
                url = (a, b)[index % 2]
                response = await client.post(
                    url + "/v1/chat/completions", json=chat(), headers=bearer(key)
                )
                statuses.append(response.status_code)
                if response.status_code == 429:
                    refused = response
    assert statuses.count(200) == 10
    assert statuses.count(429) == 20
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["x-ratelimit-limit-requests"] == "10"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


async def test_budget_holds_under_100_concurrent_requests_on_two_processes(
    shared_env: dict[str, str],
) -> None:
    cap = 0.004
    with gateway_process(env=shared_env) as (a, _), gateway_process(env=shared_env) as (b, _):
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            key = await create_key(client, a, budget={"max_usd": cap, "period": "monthly"})

            async def one(index: int) -> httpx.Response:
                return await client.post(
                    (a, b)[index % 2] + "/v1/chat/completions",
                    json=chat(text=f"question number {index}", max_tokens=40),
                    headers=bearer(key),
                )

            responses = await asyncio.gather(*(one(i) for i in range(100)))
            await asyncio.sleep(0.5)  # settlements run after the responses
            budget = (
                await client.get(f"{a}/api/enterprise/vkeys/{key['id']}/budget", headers=ADMIN)
            ).json()
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert ok and refused and len(ok) + len(refused) == 100
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in refused)
    # one request's worst case: its prompt estimate plus 40 output tokens at gpt-4o's prices
    one_reservation = (40 * 10.0 + 20 * 2.5) / 1_000_000
    assert budget["spent_usd"] <= cap + one_reservation
    assert budget["spent_usd"] > 0
    assert budget["reserved_usd"] == pytest.approx(0.0, abs=1e-9)


async def test_revoke_reaches_the_other_process_within_a_second(shared_env: dict[str, str]) -> None:
    with gateway_process(env=shared_env) as (a, _), gateway_process(env=shared_env) as (b, _):
        async with httpx.AsyncClient(timeout=10) as client:
            key = await create_key(client, a)
            for url in (a, b):  # both processes now hold the key in their caches
                ok = await client.post(
                    url + "/v1/chat/completions", json=chat(), headers=bearer(key)
                )
                assert ok.status_code == 200
            revoked = await client.post(
                f"{a}/api/enterprise/vkeys/{key['id']}/revoke", headers=ADMIN
            )
            assert revoked.status_code == 200
            same = await client.post(a + "/v1/chat/completions", json=chat(), headers=bearer(key))
            deadline = time.monotonic() + 1.0
            other = None
            while time.monotonic() < deadline:
                other = await client.post(
                    b + "/v1/chat/completions", json=chat(), headers=bearer(key)
                )
                if other.status_code == 401:
                    break
                await asyncio.sleep(0.02)
    assert same.status_code == 401  # at once on the process that served the revoke
    assert other is not None and other.status_code == 401
    assert "revoked" in other.json()["error"]["message"]


@contextmanager
def own_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
                ).stdout.strip()
                == b"PONG"
            ):
                break
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


async def test_redis_killed_mid_run_requests_succeed_and_no_audit_record_is_lost() -> None:
    port = free_port()
    async with fresh_database() as dsn:
        env = {"KEYSTORE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "DATABASE_URL": dsn}
        with own_redis(port) as redis_server, gateway_process(env=env) as (url, process):
            async with httpx.AsyncClient(timeout=10) as client:
                key = await create_key(client, url, limits={"rpm": 1000}, budget={"max_usd": 100})
                ids, statuses = [], []
                for index in range(40):
                    if index == 20:
                        redis_server.kill()
                        redis_server.wait()
                    response = await client.post(
                        url + "/v1/chat/completions",
                        json=chat(text=f"n{index}"),
                        headers=bearer(key),
                    )
                    statuses.append(response.status_code)
                    ids.append(response.headers["x-smartflow-request-id"])
            os.kill(process.pid, signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 30) == 0
        rows = await fetch(dsn, "SELECT request_id FROM audit_log")
    assert statuses == [200] * 40
    assert {r["request_id"] for r in rows} >= set(ids)


async def test_sigterm_under_load_every_answered_request_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with gateway_process(env={"SMARTFLOW_DATA_DIR": str(data)}) as (url, process):
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            key = await create_key(client, url)

            async def one(index: int) -> str | None:
                try:
                    response = await client.post(
                        url + "/v1/chat/completions",
                        json=chat(text=f"load {index}"),
                        headers=bearer(key),
                    )
                except httpx.HTTPError:
                    return None  # refused once the listener closed: never answered
                return (
                    response.headers["x-smartflow-request-id"]
                    if response.status_code == 200
                    else None
                )

            tasks = [asyncio.create_task(one(i)) for i in range(300)]
            await asyncio.sleep(0.3)
            os.kill(process.pid, signal.SIGTERM)
            answered = {rid for rid in await asyncio.gather(*tasks) if rid}
        assert await asyncio.to_thread(process.wait, 30) == 0
    with sqlite3.connect(data / "smartflow.db") as db:
        audited = {row[0] for row in db.execute("SELECT request_id FROM audit_log")}
    assert answered, "the load should have been answered in part before SIGTERM"
    assert answered <= audited


async def test_embedded_workers_share_limits_through_sqlite(tmp_path: Path) -> None:
    with gateway_process(["--workers", "2"], env={"SMARTFLOW_DATA_DIR": str(tmp_path)}) as (url, _):
        async with httpx.AsyncClient(timeout=10) as admin:
            key = await create_key(admin, url, limits={"rph": 10})
        statuses, pids = [], set()
        for _ in range(30):  # a fresh connection each time: both workers answer
            async with httpx.AsyncClient(timeout=10) as fresh:
                pids.add((await fresh.get(url + "/health")).json()["pid"])
                response = await fresh.post(
                    url + "/v1/chat/completions", json=chat(), headers=bearer(key)
                )
                statuses.append(response.status_code)
    assert len(pids) == 2
    assert statuses.count(200) == 10 and statuses.count(429) == 20


async def test_cancelled_stream_settles_what_was_relayed(tmp_path: Path) -> None:
    """A client that walks away mid-stream is charged for the output it received, not for the
    whole reservation and not for nothing."""
    from support import chaos
    from support.gateway import running_gateway, upstream_config

    async with chaos.ChaosUpstream([chaos.stream(chunk_delay_s=0.05)]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"), model="gpt-4o")
        async with running_gateway(tmp_path, config) as gw, httpx.AsyncClient(timeout=10) as client:
            key = await create_key(client, gw.url, budget={"max_usd": 10, "period": "daily"})
            async with client.stream(
                "POST",
                gw.url + "/v1/chat/completions",
                json={**chat(max_tokens=1000), "stream": True},
                headers=bearer(key),
            ) as response:
                async for _ in response.aiter_bytes():
                    break  # the first chunk, then the client goes away
            for _ in range(100):
                budget = (
                    await client.get(
                        f"{gw.url}/api/enterprise/vkeys/{key['id']}/budget", headers=ADMIN
                    )
                ).json()
                if budget["reserved_usd"] == 0 and budget["spent_usd"] > 0:
                    break
                await asyncio.sleep(0.05)
    reservation = (1000 * 10.0 + 10 * 2.5) / 1_000_000  # what was held: 1000 output tokens
    assert budget["reserved_usd"] == 0
    assert 0 < budget["spent_usd"] < reservation / 10  # a few relayed tokens, not the worst case
    assert up.disconnects == 1
