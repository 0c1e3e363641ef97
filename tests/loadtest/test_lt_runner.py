"""The open-loop generator against the mock and small fakes, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from aiohttp import web

from loadtest.report import build_report, format_ms, summary_rows
from loadtest.runner import Arm, BenchConfig, RunSettings, Sample, run_benchmark
from loadtest.stats import arm_stats, level_stats
from loadtest.workload import ANCHOR_PROMPT, WorkloadSpec
from mockllm.server import MockBehaviour, start_server

from support.chat_server import COMPLETION, serve_chat
from support.procs import free_port, stop, wait_ready


def _prompt(body: bytes) -> str:
    content = orjson.loads(body)["messages"][0]["content"]
    assert isinstance(content, str)
    return content


@pytest.mark.parametrize(("rps", "must_keep_up"), [(200, True), (1000, False)])
async def test_scheduler_keeps_the_target_rate_against_the_mock(
    rps: int, must_keep_up: bool
) -> None:
    """At 1,000/s a shared 2-core machine may fall behind: then the level must say so (invalid),
    never report a rate it did not send."""
    async with await start_server(MockBehaviour(latency_ms=0)) as mock:
        config = BenchConfig(
            arms=(Arm("smartflow", mock.url, "sk-test"),),
            rps=(rps,),
            duration_s=3.0,
            workload=WorkloadSpec(mode="miss"),
            settings=RunSettings(warmup=20),
        )
        [[run]] = await run_benchmark(config)
    stats = arm_stats(run)
    print(f"{rps} rps: achieved {stats.achieved_rps:.2f}, lag p99 {stats.send_lag_p99_ms:.2f} ms")
    assert stats.n_scheduled == 3 * rps
    assert stats.success_rate == 1.0
    assert stats.latency is not None and stats.latency.n == 3 * rps
    if must_keep_up or not stats.invalid:
        assert stats.achieved_rps == pytest.approx(rps, rel=0.01)


async def test_a_rate_far_beyond_the_machine_is_flagged_invalid() -> None:
    async with await start_server(MockBehaviour(latency_ms=0)) as mock:
        config = BenchConfig(
            arms=(Arm("smartflow", mock.url, "sk-test"),),
            rps=(20_000,),
            duration_s=0.25,
            workload=WorkloadSpec(mode="miss"),
            settings=RunSettings(warmup=0, grace_s=10),
        )
        [[run]] = await run_benchmark(config)
    stats = arm_stats(run)
    print(f"20000 rps: achieved {stats.achieved_rps:.0f}, lag p99 {stats.send_lag_p99_ms:.1f} ms")
    assert stats.invalid and stats.invalid_reason


async def test_a_stall_shows_in_corrected_latency_not_in_service_time() -> None:
    """The fake stalls the whole process for 1 s once (as a GC pause or a blocked loop would):
    requests due meanwhile go out late, so only latency from the intended time shows the wait."""
    seen = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal seen
        await request.read()
        seen += 1
        if seen == 200:
            time.sleep(1.0)  # the stall under test: it blocks the whole process
        return web.json_response(COMPLETION)

    async with serve_chat(handler) as url:
        config = BenchConfig(
            arms=(Arm("smartflow", url, "sk-test"),),
            rps=(200,),
            duration_s=2.0,
            workload=WorkloadSpec(mode="miss"),
            settings=RunSettings(warmup=0),
        )
        [[run]] = await run_benchmark(config)
    stats = arm_stats(run)
    assert stats.latency is not None and stats.service is not None
    print(f"corrected p99 {stats.latency.p99:.1f} ms, service p99 {stats.service.p99:.1f} ms")
    assert stats.success_rate == 1.0
    assert stats.latency.p99 > 500
    # Requests in flight during the stall see some of it in their service time too; those the
    # stall kept from being sent see it only in the corrected latency, by most of the second.
    assert stats.latency.p99 >= stats.service.p99 + 500
    assert stats.invalid and stats.send_lag_p99_ms > 500


async def test_a_stalled_upstream_process_costs_every_request_due_meanwhile() -> None:
    """The mock runs in its own process and is stopped (SIGSTOP) for a second mid-level: the
    generator keeps sending on schedule, so each of the ~200 requests due during the stall
    records its own wait, where a closed-loop client would have recorded one slow request."""
    port = free_port()
    mock = subprocess.Popen(
        [sys.executable, "-m", "sfctl", "mock-upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    stall: list[asyncio.TimerHandle] = []

    def stall_once(_: object) -> None:
        if not stall:  # the first report comes with the first send of the level
            stall.append(loop.call_later(0.5, os.kill, mock.pid, signal.SIGSTOP))
            stall.append(loop.call_later(1.5, os.kill, mock.pid, signal.SIGCONT))

    try:
        await asyncio.to_thread(wait_ready, url + "/health", mock)
        config = BenchConfig(
            arms=(Arm("smartflow", url, "sk-test"),),
            rps=(200,),
            duration_s=2.5,
            workload=WorkloadSpec(mode="miss"),
            settings=RunSettings(warmup=20, grace_s=10),
        )
        [[run]] = await run_benchmark(config, stall_once)
    finally:
        for handle in stall:
            handle.cancel()
        os.kill(mock.pid, signal.SIGCONT)
        stop(mock)
    stats = arm_stats(run)
    assert stats.latency is not None and stats.service is not None
    waited = [s for s in run.samples if s.latency is not None and s.latency > 0.25]
    print(f"p99 {stats.latency.p99:.0f} ms, {len(waited)} requests waited > 250 ms, "
          f"lag p99 {stats.send_lag_p99_ms:.1f} ms")  # fmt: skip
    assert stats.success_rate == 1.0 and stats.n_scheduled == 500
    assert stats.latency.p99 > 500
    assert len(waited) >= 100  # about 200 were due during the stall
    assert stats.send_lag_p99_ms < 100  # they went out on time: the wait is the upstream's
    assert all(s.sent is not None and s.sent - s.intended < 0.1 for s in waited)


async def test_mixed_mode_reports_hits_and_misses_separately() -> None:
    order: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        prompt = _prompt(await request.read())
        order.append(prompt)
        if prompt == ANCHOR_PROMPT and len(order) > 1:
            return web.json_response(COMPLETION, headers={"x-smartflow-cache": "hit-exact"})
        await asyncio.sleep(0.03)
        return web.json_response(
            COMPLETION, headers={"x-smartflow-cache": "miss", "x-smartflow-overhead-ms": "0.8"}
        )

    async with serve_chat(handler) as url:
        config = BenchConfig(
            arms=(Arm("smartflow", url, "sk-test"),),
            rps=(100,),
            duration_s=1.0,
            workload=WorkloadSpec(mode="mixed"),
            seed=4,
            settings=RunSettings(warmup=4),
        )
        [runs] = await run_benchmark(config)
    assert order[0] == ANCHOR_PROMPT  # pre-warmed before anything else
    stats = level_stats(runs).arms["smartflow"]
    assert stats.cache == {"hit-exact": 50, "miss": 50}
    assert stats.hit_rate == 0.5
    assert stats.hit_latency is not None and stats.miss_latency is not None
    assert stats.hit_latency.n == 50 and stats.miss_latency.n == 50
    # each figure comes from its own samples (no timing bound on hits: a busy machine can
    # stall one; a miss cannot be faster than the 30 ms the server sleeps)
    [run] = runs
    for kind, latency in (("hit-exact", stats.hit_latency), ("miss", stats.miss_latency)):
        own = [s.latency * 1000 for s in run.samples if s.cache == kind and s.latency is not None]
        assert latency.max == pytest.approx(max(own), rel=0.01), kind
    assert stats.miss_latency.p50 >= 30
    assert stats.server_overhead_ms == 0.8
    # the summary table shows the two peaks apart, not only their meaningless joint median
    head, [row], _ = summary_rows(build_report(config, [level_stats(runs)]))
    cells = dict(zip(head, row, strict=True))
    assert float(cells["Miss p50"].removesuffix("ms")) >= 30
    assert cells["Hit p99"] == format_ms(stats.hit_latency.p99)


async def test_overhead_compares_the_same_requests_on_both_arms() -> None:
    async def fast(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(0.005)
        return web.json_response(COMPLETION)

    async def slow(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(0.025)
        return web.json_response(COMPLETION, headers={"x-smartflow-cache": "miss"})

    async with serve_chat(fast) as direct, serve_chat(slow) as gateway:
        config = BenchConfig(
            arms=(Arm("smartflow", gateway, "k1"), Arm("direct", direct, "k2")),
            rps=(100,),
            duration_s=1.0,
            workload=WorkloadSpec(mode="miss"),
            settings=RunSettings(warmup=2),
        )
        [runs] = await run_benchmark(config)
    level = level_stats(runs, seed=1)
    assert [r.arm for r in runs] == ["smartflow", "direct"]
    assert [s.intended for s in runs[0].samples] == [s.intended for s in runs[1].samples]
    over = level.overhead
    assert over is not None and over.n_gateway == over.n_direct == 100
    assert 15 < over.p50_ms < 35
    assert over.p50_ci[0] <= over.p50_ms <= over.p50_ci[1]


async def test_streaming_records_first_token_and_gaps() -> None:
    async with await start_server(MockBehaviour(tokens_per_second=500)) as mock:
        config = BenchConfig(
            arms=(Arm("smartflow", mock.url, "sk-test"),),
            rps=(50,),
            duration_s=0.5,
            workload=WorkloadSpec(mode="miss", max_tokens=8, stream=True),
            settings=RunSettings(warmup=1),
        )
        [[run]] = await run_benchmark(config)
    stats = arm_stats(run)
    assert stats.errors == {"2xx": 25}
    assert stats.ttft is not None and stats.itl is not None and stats.latency is not None
    assert stats.ttft.p50 < stats.latency.p50
    assert stats.itl.n > 25


async def test_error_taxonomy_and_grace_timeouts() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        n = handler.count  # type: ignore[attr-defined]
        handler.count = n + 1  # type: ignore[attr-defined]
        kind = n % 6
        if kind == 0:
            return web.json_response(
                {"error": {"message": "slow down", "type": "requests"}}, status=429
            )
        if kind == 1:
            return web.json_response(
                {"error": {"message": "boom", "type": "server_error"}}, status=500
            )
        if kind == 2:
            return web.json_response(
                {"error": {"message": "bad", "type": "invalid_request_error"}}, status=400
            )
        if kind == 3:  # a stream cut short: no [DONE]
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}  # fmt: skip
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            return resp
        if kind == 4:
            await asyncio.sleep(30)  # outlives the grace period
        if kind == 5 and request.transport is not None:
            request.transport.close()  # reset without an answer
        return web.json_response(COMPLETION)

    handler.count = 0  # type: ignore[attr-defined]
    async with serve_chat(handler) as url:
        config = BenchConfig(
            arms=(Arm("smartflow", url, "sk-test"),),
            rps=(60,),
            duration_s=0.5,
            workload=WorkloadSpec(mode="miss", stream=True),
            settings=RunSettings(warmup=0, grace_s=0.3),
        )
        [[run]] = await run_benchmark(config)
    stats = arm_stats(run)
    assert stats.errors == {
        "429": 5,
        "5xx": 5,
        "4xx": 5,
        "incomplete_stream": 5,
        "timeout": 5,
        "connection_reset": 5,
    }
    assert stats.success_rate == 0.0 and stats.n_scheduled == 30


def test_an_early_send_counts_from_the_send_not_the_intended_time() -> None:
    """uvloop's millisecond timers can wake the sender before the intended time: the wait then
    starts at the send, so latency never drops below the service time."""
    early = Sample(0, False, intended=1.0, sent=0.9995, first_token=1.0002, end=1.0003)
    assert early.latency == pytest.approx(early.service)
    assert early.start == early.sent
    late = Sample(1, False, intended=1.0, sent=1.002, end=1.003)
    assert late.latency == pytest.approx(0.003)  # coordinated omission: from the intended time
    assert late.service == pytest.approx(0.001)
