"""The sidecar embedder against loopback servers shaped like Text Embeddings Inference and like
an OpenAI-compatible /v1/embeddings (their real response shapes), the vectors coming from the
real ONNX model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from gateway.cache.embed_http import HttpEmbedder
from gateway.cache.embed_onnx import OnnxEmbedder
from gateway.cache.embedder import EmbedderUnavailable, open_embedder
from gateway.settings import load_settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECRET = "sk-sidecar-0123456789abcdef"


class Sidecar:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.url = ""
        self.release = asyncio.Event()


async def _serve(routes: dict[str, Handler]) -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sidecar(onnx_embedder: OnnxEmbedder) -> AsyncIterator[Sidecar]:
    state = Sidecar()

    async def tei(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.requests.append((request.path, dict(request.headers), body))
        inputs = body["inputs"]
        if any(text == "too long" for text in inputs):
            return web.json_response(
                {
                    "error": "Input validation error: inputs must have less than 512 tokens",
                    "error_type": "Validation",
                },
                status=413,
            )
        vectors = onnx_embedder.embed_sync(inputs) * 3.0  # unnormalised: the client normalises
        return web.json_response(vectors.tolist())

    async def openai(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.requests.append((request.path, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {SECRET}":
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        vectors = onnx_embedder.embed_sync(body["input"])
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data[::-1],  # servers may answer out of order: `index` says which is which
                "model": body["model"],
                "usage": {"prompt_tokens": 12, "total_tokens": 12},
            }
        )

    async def broken(request: web.Request) -> web.StreamResponse:
        return web.json_response([[1.0, 0.0]])  # one vector, whatever was asked

    async def hang(request: web.Request) -> web.StreamResponse:
        await state.release.wait()
        return web.json_response([])

    async def crash(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="model loading")

    routes = {
        "/embed": tei,
        "/v1/embeddings": openai,
        "/broken/embed": broken,
        "/hang/embed": hang,
        "/crash/embed": crash,
    }
    async for url in _serve(routes):
        state.url = url
        yield state
        state.release.set()


async def test_tei_shape(sidecar: Sidecar, onnx_embedder: OnnxEmbedder) -> None:
    embedder = HttpEmbedder(sidecar.url, api="tei")
    texts = ["How do I reset my password?", "Wie setze ich mein Passwort zurück?"]
    got = await embedder.embed(texts)
    await embedder.aclose()
    path, _, body = sidecar.requests[0]
    assert path == "/embed"
    assert body["inputs"] == texts
    assert got.shape == (2, 384)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * onnx_embedder.embed_sync(texts)).sum(axis=1).min() >= 0.9999
    assert embedder.dim == 384
    assert embedder.name == f"http:tei:{sidecar.url.removeprefix('http://')}"


async def test_openai_shape_with_the_key_from_the_named_env_var(
    sidecar: Sidecar, onnx_embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MY_EMBED_KEY", SECRET)
    settings = load_settings(
        {
            "SMARTFLOW_DATA_DIR": str(tmp_path),
            "SMARTFLOW_CACHE_EMBEDDER": "http",
            "SMARTFLOW_CACHE_EMBEDDER_URL": sidecar.url + "/",
            "SMARTFLOW_CACHE_EMBEDDER_API": "openai",
            "SMARTFLOW_CACHE_EMBEDDER_MODEL": "text-embedding-3-small",
            "SMARTFLOW_CACHE_EMBEDDER_KEY_ENV": "MY_EMBED_KEY",
        }
    )
    embedder = await open_embedder(settings)
    assert isinstance(embedder, HttpEmbedder)
    texts = ["first question", "second, longer question about travel insurance", "third"]
    got = await embedder.embed(texts)
    await embedder.aclose()
    path, headers, body = sidecar.requests[0]
    assert path == "/v1/embeddings"
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert body == {"model": "text-embedding-3-small", "input": texts, "encoding_format": "float"}
    # reassembled by index, not by position in the answer
    assert (got * onnx_embedder.embed_sync(texts)).sum(axis=1).min() >= 0.9999
    assert embedder.name.endswith(":text-embedding-3-small")


async def test_a_refused_key_is_unavailable_and_never_shown(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = HttpEmbedder(sidecar.url, api="openai", model="m", api_key="sk-wrong-key-123456")
    with caplog.at_level(logging.DEBUG), pytest.raises(EmbedderUnavailable) as caught:
        await embedder.embed(["hi"])
    await embedder.aclose()
    assert "401" in str(caught.value)
    assert "sk-wrong-key" not in str(caught.value)
    assert "sk-wrong-key" not in caplog.text
    assert "sk-wrong-key" not in repr(embedder.__dict__.get("name"))


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [("/broken", "expected 2 embeddings"), ("/crash", "HTTP 503")],
)
async def test_bad_answers_are_unavailable(sidecar: Sidecar, suffix: str, reason: str) -> None:
    embedder = HttpEmbedder(sidecar.url + suffix)
    with pytest.raises(EmbedderUnavailable, match=reason):
        await embedder.embed(["a", "b"])
    await embedder.aclose()


async def test_a_validation_error_is_unavailable(sidecar: Sidecar) -> None:
    embedder = HttpEmbedder(sidecar.url)
    with pytest.raises(EmbedderUnavailable, match="HTTP 413"):
        await embedder.embed(["too long"])
    # the same client keeps working afterwards
    assert (await embedder.embed(["fine"])).shape == (1, 384)
    await embedder.aclose()


async def test_a_sidecar_that_does_not_answer_times_out(sidecar: Sidecar) -> None:
    embedder = HttpEmbedder(sidecar.url + "/hang", timeout_s=0.2)
    with pytest.raises(EmbedderUnavailable, match="TimeoutError"):
        await embedder.embed(["a"])
    await embedder.aclose()


async def test_a_sidecar_that_is_down_is_unavailable(sidecar: Sidecar) -> None:
    url = sidecar.url
    async for free in _serve({}):
        url = free  # a port that was just free again after cleanup
    embedder = HttpEmbedder(url)
    with pytest.raises(EmbedderUnavailable, match=r"ClientConnectorError|ClientOSError"):
        await embedder.embed(["a"])
    await embedder.aclose()


async def test_no_texts_no_request(sidecar: Sidecar) -> None:
    embedder = HttpEmbedder(sidecar.url)
    assert (await embedder.embed([])).shape == (0, 0)
    assert sidecar.requests == []
    await embedder.aclose()


def test_settings_that_cannot_work_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = {
        "SMARTFLOW_DATA_DIR": str(tmp_path),
        "SMARTFLOW_CACHE_EMBEDDER": "http",
        "SMARTFLOW_CACHE_EMBEDDER_URL": "http://127.0.0.1:9",
    }
    monkeypatch.delenv("UNSET_EMBED_KEY", raising=False)
    with pytest.raises(EmbedderUnavailable, match="UNSET_EMBED_KEY"):
        HttpEmbedder.from_settings(
            load_settings({**base, "SMARTFLOW_CACHE_EMBEDDER_KEY_ENV": "UNSET_EMBED_KEY"})
        )
    with pytest.raises(EmbedderUnavailable, match="SMARTFLOW_CACHE_EMBEDDER_MODEL"):
        HttpEmbedder.from_settings(
            load_settings({**base, "SMARTFLOW_CACHE_EMBEDDER_API": "openai"})
        )
