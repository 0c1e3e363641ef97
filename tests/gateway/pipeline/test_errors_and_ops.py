"""Bad input gets a clear 4xx in the caller's wire format; the operational routes answer."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import pytest

from support.gateway import ADMIN_KEY, running_gateway, upstream_config

OPENAI = {"Authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}
ANTHROPIC = {"x-api-key": ADMIN_KEY, "content-type": "application/json"}


async def call(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers) as r:
        return r.status, orjson.loads(await r.read())


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "'model'"),
        (b'{"model": "gpt-4o-mini"}', 400, "'messages'"),
        (b'{"model": "gpt-4o-mini", "messages": [], "stream": "yes"}', 400, "'messages'"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role":"user","content":"x"}], "stream": "yes"}',
            400,
            "'stream'",
        ),
    ],
)
async def test_openai_bad_bodies(tmp_path: Path, data: bytes, status: int, fragment: str) -> None:
    async with running_gateway(tmp_path) as gw:
        got, body = await call(gw.url + "/v1/chat/completions", data, OPENAI)
    assert got == status
    error = body["error"]
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert fragment in error["message"]


async def test_anthropic_bad_body_uses_anthropic_shape(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        got, body = await call(gw.url + "/anthropic/v1/messages", b"{oops", ANTHROPIC)
    assert got == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


async def test_unknown_model_is_404(tmp_path: Path) -> None:
    config = upstream_config(("up", "openai-compatible:http://127.0.0.1:9/v1"))
    async with running_gateway(tmp_path, config) as gw:
        got, body = await call(
            gw.url + "/v1/chat/completions",
            b'{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}',
            OPENAI,
        )
        a_got, a_body = await call(
            gw.url + "/anthropic/v1/messages",
            b'{"model": "no-such-model", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}',
            ANTHROPIC,
        )
    assert got == 404 and body["error"]["code"] == "model_not_found"  # type: ignore[index]
    assert a_got == 404 and a_body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_body_over_limit_is_413(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, env={"SMARTFLOW_MAX_BODY_BYTES": "4096"}) as gw:
        big = orjson.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 10_000}]}
        )
        got, body = await call(gw.url + "/v1/chat/completions", big, OPENAI)
        a_got, a_body = await call(gw.url + "/anthropic/v1/messages", big, ANTHROPIC)
    assert got == 413 and "4096" in body["error"]["message"]  # type: ignore[index]
    assert a_got == 413 and a_body["error"]["type"] == "request_too_large"  # type: ignore[index]


async def test_body_over_limit_without_content_length_is_413(tmp_path: Path) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 1024
        yield b'"}]}'

    async with running_gateway(tmp_path, env={"SMARTFLOW_MAX_BODY_BYTES": "4096"}) as gw:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                gw.url + "/v1/chat/completions", data=chunks(), headers=OPENAI
            ) as r:
                status, body = r.status, orjson.loads(await r.read())
    assert status == 413
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


async def test_embeddings_on_anthropic_provider_is_a_clear_400(tmp_path: Path) -> None:
    config = upstream_config(("claude", "anthropic:http://127.0.0.1:9"), model="claude-x")
    async with running_gateway(tmp_path, config) as gw:
        got, body = await call(
            gw.url + "/v1/embeddings", b'{"model": "claude-x", "input": "hello"}', OPENAI
        )
    assert got == 400
    assert "no embeddings endpoint" in body["error"]["message"]  # type: ignore[index]


async def test_health_ready_version_metrics(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, aiohttp.ClientSession() as http:
        health = await (await http.get(gw.url + "/health")).json()
        ready = await http.get(gw.url + "/ready")
        version = await (await http.get(gw.url + "/version")).json()
        await http.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            headers=OPENAI,
        )
        metrics = await (await http.get(gw.url + "/metrics")).text()
        health_after = await (await http.get(gw.url + "/health")).json()
        gw.state.lifecycle.draining = True
        draining = await http.get(gw.url + "/ready")
    # connectivity is judged from traffic, not probes: unknown until the first request
    assert health["status"] == "ok" and health["providers"]["mock"]["status"] == "unknown"
    assert health_after["providers"]["mock"]["status"] == "ok"
    assert ready.status == 200 and draining.status == 503
    assert set(version) >= {"version", "git_commit", "build_time", "features", "service"}
    for name in (
        "smartflow_requests_total",
        "smartflow_request_duration_seconds",
        "smartflow_upstream_duration_seconds",
        "smartflow_cache_hits_total",
        "smartflow_cache_misses_total",
        "smartflow_embedding_duration_seconds",
    ):
        assert f"# TYPE {name}" in metrics, name
    assert 'smartflow_requests_total{model="other",route="chat",status="200"} 1.0' in metrics


async def test_metric_model_label_is_bounded(tmp_path: Path) -> None:
    config = upstream_config(("up", "openai-compatible:http://127.0.0.1:9/v1"))
    async with running_gateway(tmp_path, config) as gw:
        for name in ("made-up-1", "made-up-2"):
            await call(
                gw.url + "/v1/chat/completions",
                orjson.dumps({"model": name, "messages": [{"role": "user", "content": "x"}]}),
                OPENAI,
            )
        metrics = gw.state.metrics.render().decode()
    assert "made-up" not in metrics
    assert 'smartflow_requests_total{model="other",route="chat",status="404"} 2.0' in metrics
