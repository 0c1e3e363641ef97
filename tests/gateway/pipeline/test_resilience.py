"""Retries, fallback, timeouts, cooldown and disconnects against a misbehaving upstream."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import orjson

from support import chaos
from support.gateway import ADMIN_KEY, RunningGateway, running_gateway, upstream_config

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
# these tests count upstream attempts: the response cache would answer their repeated requests
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "x-smartflow-cache": "bypass"}


def refused_url() -> str:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def post(
    gw: RunningGateway, body: dict[str, object] = BODY, path: str = "/v1/chat/completions"
) -> tuple[int, dict[str, object], dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.url + path, json=body, headers=HEADERS) as response:
            return response.status, orjson.loads(await response.read()), dict(response.headers)


async def test_retries_5xx_then_succeeds(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.status(500), chaos.status(503), chaos.ok()]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw:
            status, body, _ = await post(gw)
    assert status == 200
    assert body["object"] == "chat.completion"
    assert len(up.seen) == 3


async def test_429_retry_after_is_honoured(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.status(429, retry_after="0.4"), chaos.ok()]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw:
            status, _, _ = await post(gw)
    assert status == 200
    assert len(up.seen) == 2
    assert up.seen[1].at - up.seen[0].at >= 0.4


async def test_429_after_retries_is_a_429_with_retry_after(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.status(429, retry_after="1")]) as up:
        config = upstream_config(
            ("up", f"openai-compatible:{up.url}/v1"), routing={"num_retries": 1}
        )
        async with running_gateway(tmp_path, config) as gw:
            status, body, headers = await post(gw)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert len(up.seen) == 2


async def test_connect_error_falls_back_to_next_deployment(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.ok()]) as up:
        config = upstream_config(
            ("dead", f"openai-compatible:{refused_url()}"),
            ("alive", f"openai-compatible:{up.url}/v1"),
        )
        # weights are equal: whichever is picked first, the request must end on the live one
        async with running_gateway(tmp_path, config) as gw:
            results = [await post(gw) for _ in range(6)]
    assert all(status == 200 for status, _, _ in results)
    assert len(up.seen) == 6


async def test_fallback_model_after_retries(tmp_path: Path) -> None:
    async with (
        chaos.ChaosUpstream([chaos.status(500)]) as bad,
        chaos.ChaosUpstream([chaos.ok()]) as good,
    ):
        config = upstream_config(
            ("bad", f"openai-compatible:{bad.url}/v1"),
            fallbacks=["backup"],
            extra_models=[
                {"name": "backup", "deployments": [{"provider": "good", "model": "small"}]}
            ],
            routing={"num_retries": 2},
        )
        config["providers"].append(
            {"name": "good", "type": "openai-compatible", "base_url": good.url + "/v1"}
        )
        async with running_gateway(tmp_path, config) as gw:
            status, body, _ = await post(gw)
    assert status == 200
    assert len(bad.seen) == 3  # first try + 2 retries
    assert good.seen[0].body["model"] == "small"
    assert body["model"] == "small"


async def test_everything_failing_is_502_with_clear_message(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.status(500)]) as up:
        config = upstream_config(
            ("up", f"openai-compatible:{up.url}/v1"), routing={"num_retries": 1}
        )
        async with running_gateway(tmp_path, config) as gw:
            status, body, headers = await post(gw)
    assert status == 502
    message = body["error"]["message"]  # type: ignore[index]
    assert "gpt-4o-mini" in message and "500" in message
    assert headers["x-smartflow-request-id"].startswith("req_")


async def test_timeout_is_504(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.hang(10)]) as up:
        config = upstream_config(
            ("up", f"openai-compatible:{up.url}/v1"), timeout_s=0.3, routing={"num_retries": 1}
        )
        async with running_gateway(tmp_path, config) as gw:
            status, body, _ = await post(gw)
    assert status == 504
    assert body["error"]["code"] == "upstream_timeout"  # type: ignore[index]
    assert len(up.seen) == 2


async def test_dropped_connection_is_retried(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.drop(), chaos.ok()]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw:
            status, _, _ = await post(gw)
    assert status == 200
    assert len(up.seen) == 2


async def test_client_error_is_passed_through_not_retried(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.status(400)]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw:
            status, body, _ = await post(gw)
    assert status == 400
    assert body["error"]["message"] == "chaos 400"  # type: ignore[index]
    assert len(up.seen) == 1


async def test_failing_deployment_cools_down(tmp_path: Path) -> None:
    async with (
        chaos.ChaosUpstream([chaos.status(500)]) as bad,
        chaos.ChaosUpstream([chaos.ok()]) as good,
    ):
        config = upstream_config(
            ("bad", f"openai-compatible:{bad.url}/v1"),
            ("good", f"openai-compatible:{good.url}/v1"),
            routing={"failures_before_cooldown": 2, "cooldown_s": 60},
        )
        async with running_gateway(tmp_path, config) as gw:
            for _ in range(20):
                status, _, _ = await post(gw)
                assert status == 200
            perf = {p["provider"]: p for p in gw.state.router.perf()}  # type: ignore[union-attr]
    # Once cooled, the bad deployment gets no more traffic: at most the failures that cooled it.
    assert len(bad.seen) <= 2
    assert perf["bad"]["cooling_down"] is True
    assert perf["bad"]["cooldowns"] == 1
    assert len(good.seen) == 20


async def test_client_disconnect_cancels_upstream_stream(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.stream(chunk_delay_s=0.05)]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw:
            async with aiohttp.ClientSession() as http:
                response = await http.post(
                    gw.url + "/v1/chat/completions", json={**BODY, "stream": True}, headers=HEADERS
                )
                first = await response.content.readany()
                response.close()  # the client goes away mid-stream
            for _ in range(100):
                if up.disconnects:
                    break
                await asyncio.sleep(0.02)
            metrics = gw.state.metrics.render().decode()
    assert first.startswith(b"data: ")
    assert up.disconnects == 1
    assert up.chunks_sent < 20
    assert 'smartflow_client_disconnects_total{route="chat"} 1.0' in metrics


async def test_stream_chunks_arrive_before_upstream_finishes(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.stream(chunk_delay_s=0.1)]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw, aiohttp.ClientSession() as http:
            async with http.post(
                gw.url + "/v1/chat/completions", json={**BODY, "stream": True}, headers=HEADERS
            ) as response:
                await response.content.readany()
                sent_when_first_arrived = up.chunks_sent
                rest = await response.read()
    assert sent_when_first_arrived < 5  # no buffering: we saw data long before the 20th chunk
    assert rest.endswith(b"data: [DONE]\n\n")


async def test_upstream_stall_mid_stream_ends_with_error_event(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.stall_stream()]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"), timeout_s=0.3)
        async with running_gateway(tmp_path, config) as gw, aiohttp.ClientSession() as http:
            async with http.post(
                gw.url + "/v1/chat/completions", json={**BODY, "stream": True}, headers=HEADERS
            ) as response:
                body = await response.read()
    frames = [f for f in body.split(b"\n\n") if f]
    last = orjson.loads(frames[-1].removeprefix(b"data: "))
    assert len(frames) == 3  # two content chunks, then the error
    assert last["error"]["code"] == "upstream_timeout"


async def test_upstream_drop_mid_stream_ends_with_error_event(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.drop_stream()]) as up:
        config = upstream_config(("up", f"openai-compatible:{up.url}/v1"))
        async with running_gateway(tmp_path, config) as gw, aiohttp.ClientSession() as http:
            async with http.post(
                gw.url + "/v1/chat/completions", json={**BODY, "stream": True}, headers=HEADERS
            ) as response:
                body = await response.read()
    last = orjson.loads([f for f in body.split(b"\n\n") if f][-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "api_error"
