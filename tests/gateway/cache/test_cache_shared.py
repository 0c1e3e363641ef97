"""The response cache in shared mode across real gateway processes: each test runs its own
redis-server (stopped and restarted by pid), its own PostgreSQL database and two `python -m
gateway` processes (A and B) on the mock provider with the ONNX embedder, and talks to them with
the official openai SDK.

What is shown: an answer written on A is a hit on B (exact, and semantic for a reworded
question); a replica started later warms from Redis (also when Redis was unreachable at its
start: once it is reachable); Redis down keeps every request answering (local hits too) and the
replicas resync when it is back; a purge on A reaches B, and the stats sum both replicas; two
teams never share an entry across replicas.

Probes that must not change the cache send `Cache-Control: no-store` (looked up, never written),
so a test can poll a replica until its memory has caught up with the event stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import openai
import pytest
import redis.asyncio as redis
from openai.types.chat import ChatCompletion

from gateway.cache.entry import decode

from support.gateway import ADMIN_KEY
from support.pg import fresh_database
from support.procs import free_port, gateway_process
from support.redis_server import RedisServer
from support.tcpproxy import TcpProxy

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MODEL = "gpt-4o-mini"
ENTRIES = "sf:mc:e:*"  # RedisCacheStore's default prefix

PASSWORD = "How do I reset my online banking password?"
PASSWORD_REWORDED = "How can I reset my online banking password?"
DOCUMENTS = "What documents do I need to open a savings account?"
DOCUMENTS_REWORDED = "Which documents do I need to open a savings account?"
DISPUTE = "How do I dispute a charge on my credit card statement?"
DISPUTE_REWORDED = "How can I dispute a charge on my credit card statement?"


@dataclass
class Replica:
    """One gateway process and an openai client on it."""

    url: str
    client: openai.AsyncOpenAI

    async def ask(
        self, text: str, secret: str | None = None, *, store: bool = True
    ) -> tuple[str, ChatCompletion]:
        """(x-smartflow-cache, the answer); any error status raises (the SDK's exception).
        `store=False` sends `Cache-Control: no-store`: looked up, a miss is not written (a
        probe that changes nothing)."""
        client = self.client
        if secret is not None:
            client = client.with_options(api_key=secret)
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=[{"role": "user", "content": text}],
            extra_headers=None if store else {"Cache-Control": "no-store"},
        )
        return raw.headers.get("x-smartflow-cache", ""), raw.parse()

    async def peek(self, text: str, secret: str | None = None) -> str:
        """The cache's answer to a question that writes nothing: hit-... or miss."""
        return (await self.ask(text, secret, store=False))[0]


@dataclass
class Cluster:
    server: RedisServer
    redis: redis.Redis
    env: dict[str, str]
    a: Replica
    b: Replica


def _client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=ADMIN_KEY, max_retries=0, timeout=20)


@asynccontextmanager
async def replicas(env: dict[str, str], count: int) -> AsyncIterator[list[Replica]]:
    """`count` gateway processes (support.procs.gateway_process: stopped by pid on exit), started
    and stopped side by side (each waits for its own /ready, then its own exit)."""
    managers = [gateway_process(env=env) for _ in range(count)]
    started = await asyncio.gather(
        *(asyncio.to_thread(manager.__enter__) for manager in managers), return_exceptions=True
    )
    running = [
        m for m, r in zip(managers, started, strict=True) if not isinstance(r, BaseException)
    ]
    clients: list[openai.AsyncOpenAI] = []
    try:
        for result in started:
            if isinstance(result, BaseException):
                raise result
        nodes = []
        for result in started:
            assert not isinstance(result, BaseException)
            url, _process = result
            clients.append(_client(url))
            nodes.append(Replica(url, clients[-1]))
        yield nodes
    finally:
        for client in clients:
            await client.close()
        await asyncio.gather(
            *(asyncio.to_thread(manager.__exit__, None, None, None) for manager in running)
        )


@pytest.fixture
async def cluster(embedding_models: Path) -> AsyncIterator[Cluster]:
    server = RedisServer()
    server.start()
    try:
        async with fresh_database("smartflow_mc") as dsn:
            env = {
                "KEYSTORE_REDIS_URL": server.url,
                "DATABASE_URL": dsn,
                "SMARTFLOW_CACHE_EMBEDDER": "onnx",
                "SMARTFLOW_MODEL_DIR": str(embedding_models),
            }
            async with replicas(env, 2) as (a, b):
                client = redis.Redis.from_url(server.url)
                try:
                    yield Cluster(server, client, env, a, b)
                finally:
                    await client.aclose()
    finally:
        server.kill()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10.0) -> None:
    """Polls `check` until it holds (short steps), failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)


async def in_redis(client: redis.Redis, answer_id: str, namespace: str = "admin") -> bool:
    """Whether Redis holds the cache entry of this answer (written after the response). The
    mock's ids come from the prompt and the second: the namespace tells two teams' apart."""
    async for name in client.scan_iter(match=ENTRIES, count=500):
        raw = await client.get(name)
        if raw is None:
            continue
        entry = decode(raw)
        if entry.namespace == namespace and answer_id.encode() in entry.response:
            return True
    return False


async def stored(cluster: Cluster, answer: ChatCompletion, namespace: str = "admin") -> None:
    await until(
        lambda: in_redis(cluster.redis, answer.id, namespace), f"{answer.id} stored in Redis"
    )


def text(answer: ChatCompletion) -> str:
    return answer.choices[0].message.content or ""


# -- 1. a hit across two processes ---------------------------------------------------------------


async def test_an_answer_written_on_a_is_a_hit_on_b(cluster: Cluster) -> None:
    cache, first = await cluster.a.ask(PASSWORD)
    assert cache == "miss"
    await stored(cluster, first)

    cache, same = await cluster.b.ask(PASSWORD)
    assert cache == "hit-exact"
    assert same.id == first.id and text(same) == text(first)

    cache, reworded = await cluster.b.ask(PASSWORD_REWORDED)
    assert cache == "hit-semantic"
    assert reworded.id == first.id and text(reworded) == text(first)


async def test_b_answers_a_reworded_question_from_the_entry_the_stream_brought(
    cluster: Cluster,
) -> None:
    """B never asked: only the event stream can put A's entry (with its vectors) in B's
    memory, and the semantic phase reads memory only (Redis answers exact keys)."""
    cache, first = await cluster.a.ask(DOCUMENTS)
    assert cache == "miss"
    await stored(cluster, first)

    async def mirrored() -> bool:  # a probe that writes nothing: B's memory only answers it
        return await cluster.b.peek(DOCUMENTS_REWORDED) == "hit-semantic"

    await until(mirrored, "A's entry mirrored on B", timeout_s=10)
    cache, reworded = await cluster.b.ask(DOCUMENTS_REWORDED)
    assert cache == "hit-semantic"
    assert reworded.id == first.id


# -- 2. warm start -------------------------------------------------------------------------------


async def test_a_replica_started_later_warms_from_redis(cluster: Cluster) -> None:
    _, password = await cluster.a.ask(PASSWORD)
    _, documents = await cluster.b.ask(DOCUMENTS)
    await stored(cluster, password)
    await stored(cluster, documents)

    async with replicas(cluster.env, 1) as (c,):
        cache, first = await c.ask(PASSWORD)
        assert cache == "hit-exact"  # its very first request
        assert first.id == password.id
        # phase 4 reads memory only, and C's follower starts after these events: this entry's
        # vectors can only have come from the warm start
        cache, reworded = await c.ask(DOCUMENTS_REWORDED)
        assert cache == "hit-semantic"
        assert reworded.id == documents.id


async def test_a_replica_that_starts_while_redis_is_unreachable_warms_when_it_is_back(
    cluster: Cluster,
) -> None:
    _, documents = await cluster.a.ask(DOCUMENTS)
    await stored(cluster, documents)
    proxy = TcpProxy("127.0.0.1", cluster.server.port)  # C's way to Redis, cut until started
    proxy.port = free_port()
    env = {**cluster.env, "KEYSTORE_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}
    async with replicas(env, 1) as (c,):
        assert await c.peek(DOCUMENTS_REWORDED) == "miss"  # it starts, answering without Redis
        await proxy.start()
        try:

            async def warmed() -> bool:  # phase 4 reads memory: only a warm start brings it
                return await c.peek(DOCUMENTS_REWORDED) == "hit-semantic"

            await until(warmed, "C warmed from Redis once reachable", timeout_s=10)
        finally:
            await proxy.cut()


# -- 3. Redis down and back ----------------------------------------------------------------------


async def test_redis_down_serves_every_request_and_resyncs_when_back(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    _, before = await a.ask(PASSWORD)
    await stored(cluster, before)
    assert (await b.ask(PASSWORD))[0] == "hit-exact"  # now in B's memory too

    cluster.server.kill()
    for replica in (a, b):  # local hits from each process's own memory
        cache, answer = await replica.ask(PASSWORD)
        assert cache == "hit-exact" and answer.id == before.id
    cache, fresh = await a.ask(DOCUMENTS)  # a miss goes upstream
    assert cache == "miss" and text(fresh)
    assert (await a.ask(DOCUMENTS))[0] == "hit-exact"  # and is kept in A's memory
    cache, other = await b.ask("What is the daily ATM withdrawal limit on a debit card?")
    assert cache == "miss" and text(other)
    async with httpx.AsyncClient(timeout=10) as http:  # the board is in Redis: A's own figures
        response = await http.get(a.url + "/api/metacache/stats", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["degraded"] is True and response.json()["replicas"] == 1

    cluster.server.start()  # same port, empty
    await cluster.redis.connection_pool.disconnect()  # the test's own client reconnects
    # resync: a new answer written on A becomes a hit on B. Each replica notices Redis is back
    # on its own probe; until then a write or a read may still skip Redis (never an error)
    deadline = time.monotonic() + 15
    attempt = 0
    while True:
        attempt += 1
        question = f"After the outage, how do I order replacement card number {attempt}?"
        cache, answer = await a.ask(question)
        assert cache == "miss"
        try:
            await until(partial(in_redis, cluster.redis, answer.id), "in Redis", timeout_s=1.5)
        except AssertionError:
            assert time.monotonic() < deadline, "A never wrote to Redis again"
            continue
        cache, on_b = await b.ask(question, store=False)
        # hit-semantic: the entry reached B's memory while B was embedding the question (after
        # its exact lookup missed): the same entry, found by the later phase
        if cache in ("hit-exact", "hit-semantic"):
            assert on_b.id == answer.id
            break
        assert cache == "miss"
        assert time.monotonic() < deadline, "B never read from Redis again"

    # and B's follower is back on the stream: a new entry of A's reaches B's memory
    cache, _ = await a.ask(DISPUTE)
    assert cache == "miss"

    async def mirrored() -> bool:
        return await b.peek(DISPUTE_REWORDED) == "hit-semantic"

    await until(mirrored, "A's new entry mirrored on B", timeout_s=10)


# -- 4. purge and stats --------------------------------------------------------------------------


async def test_purge_on_a_drops_the_entry_on_b_and_stats_sum_both(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    _, first = await a.ask(PASSWORD)
    await stored(cluster, first)
    assert (await b.ask(PASSWORD))[0] == "hit-exact"
    assert (await a.ask(PASSWORD))[0] == "hit-exact"
    assert (await b.ask(PASSWORD_REWORDED))[0] == "hit-semantic"

    async def summed() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(a.url + "/api/metacache/stats", headers=ADMIN)
        assert response.status_code == 200, response.text
        stats = response.json()
        return bool(stats["replicas"] == 2 and stats["hits"] == 3 and stats["misses"] == 1)

    await until(summed, "stats on A: 2 replicas, 3 hits, 1 miss", timeout_s=15)
    async with httpx.AsyncClient(timeout=5) as http:
        stats = (await http.get(a.url + "/api/metacache/stats", headers=ADMIN)).json()
    assert stats["mode"] == "shared"
    assert stats["phases"]["semantic"]["hits"] == 1

    async with httpx.AsyncClient(timeout=5) as http:
        purged = await http.post(
            a.url + "/api/metacache/purge", json={"namespace": "admin"}, headers=ADMIN
        )
    assert purged.status_code == 200, purged.text
    assert purged.json()["purged"] >= 1

    assert await a.peek(PASSWORD) == "miss"  # at once on A, whose API served the purge
    assert await a.peek(PASSWORD_REWORDED) == "miss"

    async def gone_from_b() -> bool:  # B applies the purge event from the stream
        return await b.peek(PASSWORD_REWORDED) == "miss"

    await until(gone_from_b, "the purge reached B", timeout_s=5)
    assert await b.peek(PASSWORD) == "miss"


# -- 5. scope across replicas --------------------------------------------------------------------


async def test_two_teams_never_share_an_entry_across_replicas(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    async with httpx.AsyncClient(timeout=5) as http:
        keys = []
        for team in ("red", "blue"):
            response = await http.post(
                a.url + "/api/enterprise/vkeys",
                json={"name": f"mc-{team}", "team": team},
                headers=ADMIN,
            )
            assert response.status_code == 201, response.text
            keys.append(str(response.json()["key"]))
    red, blue = keys

    cache, red_answer = await a.ask(PASSWORD, red)
    assert cache == "miss"
    await stored(cluster, red_answer, "team:red")
    cache, shared = await b.ask(PASSWORD, red)  # the same team shares across replicas
    assert cache == "hit-exact" and shared.id == red_answer.id
    assert await a.peek(PASSWORD_REWORDED, red) == "hit-semantic"
    assert await b.peek(PASSWORD_REWORDED, red) == "hit-semantic"

    # both replicas hold red's entry (and its vectors) in memory and Redis has it: blue, whose
    # probes write nothing, gets neither the exact nor the semantic entry on either replica
    for replica in (a, b):
        assert await replica.peek(PASSWORD, blue) == "miss"
        assert await replica.peek(PASSWORD_REWORDED, blue) == "miss"

    cache, blue_answer = await b.ask(PASSWORD, blue)  # blue's own answer, shared in its team
    assert cache == "miss"
    await stored(cluster, blue_answer, "team:blue")
    assert await a.peek(PASSWORD, blue) == "hit-exact"
    assert await a.peek(PASSWORD, red) == "hit-exact"
