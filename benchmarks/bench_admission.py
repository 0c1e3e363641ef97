"""What virtual-key auth + rate limits + budget add to a request's hot path.

Runs the real stages (gateway.pipeline.gate: authenticate, then admit against the key's limits
and budget; settlement is scheduled after the response and is timed separately) on a key with
rpm, rph, tpm, max_parallel and a monthly budget, and compares them in the same run with the
no-auth path (the admin-key check alone). Embedded (in-memory counters) and shared (Redis on
127.0.0.1:6379) backends. Per-call latencies, p50/p99 over interleaved rounds.

    python benchmarks/bench_admission.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import make_mocked_request

from gateway.core.keys import KeyBudget, KeyCreate, KeyLimits, build_key, new_secret
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import NoopTracer
from gateway.pipeline import admission, gate
from gateway.pipeline.auth import AdminKeyAuth
from gateway.pipeline.context import RequestContext
from gateway.pipeline.keyauth import KeyAuthenticator
from gateway.pipeline.state import GatewayState
from gateway.settings import load_settings
from gateway.store.counters_local import LocalCounters
from gateway.store.counters_redis import RedisCounters, fail_fast_client
from gateway.store.keys_sqlite import SqliteKeyRepository

ADMIN = "sf-admin-bench-key-0123456789abcdef"
BODY = {"model": "gpt-4o-mini", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


class NoSpend:
    async def spent_since(self, key_id: str, since: float) -> float:
        return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def timed(call: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def main(calls: int, rounds: int) -> None:
    settings = load_settings({"ADMIN_API_KEY": ADMIN, "SMARTFLOW_ACCESS_LOG": "false"})
    directory = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    repository = SqliteKeyRepository(directory / "smartflow.db")
    secret = new_secret(os.urandom(32))
    key = build_key(
        KeyCreate(
            name="bench",
            limits=KeyLimits(rpm=10**9, rph=10**9, tpm=10**12, max_parallel=10**6),
            budget=KeyBudget(max_usd=10**9),
        ),
        key_id="key_" + os.urandom(8).hex(),
        secret=secret,
        now=time.time(),
        default_rph=None,
    )
    await repository.insert(key)
    redis = fail_fast_client("redis://127.0.0.1:6379/0")
    backends = {
        "embedded": LocalCounters(NoSpend()),
        "redis": RedisCounters(redis, NoSpend(), prefix="sfbench-" + os.urandom(4).hex()),
    }

    def state_for(counters: object) -> GatewayState:
        state = GatewayState(
            settings=settings,
            metrics=GatewayMetrics(),
            tracer=NoopTracer(),
            auth=AdminKeyAuth(ADMIN),
        )
        state.counters = counters  # type: ignore[assignment]
        state.key_auth = KeyAuthenticator(repository, admin=None)
        return state

    keyed = make_mocked_request(
        "POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"}
    )
    admin = make_mocked_request(
        "POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    plain_state = state_for(None)
    plain_state.key_auth = None

    async def no_auth() -> None:
        await gate.authenticate(admin, plain_state)

    floor_sha = await redis.script_load("return 1")

    async def redis_floor() -> None:  # one round trip of a trivial script: the least Redis costs
        await redis.evalsha(floor_sha, 0)

    pending: dict[int, admission.Ticket] = {}

    def keyed_path(state: GatewayState) -> Callable[[], Awaitable[object]]:
        async def run() -> None:
            ctx = RequestContext("req", "chat", "openai", None, model="gpt-4o-mini")
            caller = await gate.authenticate(keyed, state)
            await gate.admit(ctx, state, caller, BODY)
            assert ctx.ticket is not None
            pending[id(state)] = ctx.ticket

        return run

    def settle_of(state: GatewayState) -> Callable[[], Awaitable[object]]:
        async def run() -> None:
            ticket = pending[id(state)]
            assert state.counters is not None
            await state.counters.settle(
                admission.settlement(ticket, actual_usd=0.0001, actual_tokens=20)
            )

        return run

    states = {name: state_for(counters) for name, counters in backends.items()}
    for state in states.values():  # warm the key cache, the Lua scripts, the windows
        for _ in range(200):
            await keyed_path(state)()
            await settle_of(state)()
    results: dict[str, list[float]] = {
        "no-auth": [],
        "redis-floor": [],
        "embedded": [],
        "redis": [],
    }
    settles: dict[str, list[float]] = {"embedded": [], "redis": []}
    for _ in range(rounds):
        results["no-auth"].append(percentile(await timed(no_auth, calls), 50))
        results["redis-floor"].append(percentile(await timed(redis_floor, calls), 50))
        for name, state in states.items():
            admit_samples, settle_samples = [], []
            for _ in range(calls):
                admit_samples += await timed(keyed_path(state), 1)
                settle_samples += await timed(settle_of(state), 1)
            results[name].append(percentile(admit_samples, 50))
            settles[name].append(percentile(settle_samples, 50))
    base = statistics.median(results["no-auth"])
    print(f"host: {os.cpu_count()} cpus; {calls} calls x {rounds} rounds; medians of per-round p50")
    print(f"{'path':<34}{'p50 us':>10}{'added us':>10}{'target':>12}")
    print(f"{'no-auth (admin key check)':<34}{base:>10.1f}{0:>10.1f}{'':>12}")
    for name, target in (("embedded", 50.0), ("redis", 300.0)):
        p50 = statistics.median(results[name])
        added = p50 - base
        verdict = "PASS" if added <= target else "FAIL"
        print(
            f"{'auth+limits+budget, ' + name:<34}{p50:>10.1f}{added:>10.1f}{f'<= {target:.0f} {verdict}':>12}"
        )
    floor = statistics.median(results["redis-floor"])
    print(f"{'  of which one Redis round trip':<34}{floor:>10.1f}{'(floor)':>10}")
    for name in ("embedded", "redis"):
        print(
            f"{'settle after response, ' + name:<34}{statistics.median(settles[name]):>10.1f}{'(off path)':>10}"
        )
    for counters in backends.values():
        await counters.close()
    await repository.close()
    await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.calls, options.rounds))
