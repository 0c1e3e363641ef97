"""The in-process mock provider: deterministic answers with realistic usage, no network.

It serves every model when no provider is configured, so `sfctl up` works on a fresh machine. It
speaks both wire formats natively, so neither route pays for translation.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway.core.config import ProviderConfig
from gateway.core.errors import InvalidRequest
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse, Wire
from mockllm import content

_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}


class MemoryResponse:
    """An UpstreamResponse whose body is already in memory."""

    def __init__(self, status: int, headers: Mapping[str, str], chunks: list[bytes]) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    def release(self) -> None:
        self._chunks = []


class MockProvider(Provider):
    kind = "mock"
    wire: Wire = "openai"

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name

    def speaks(self, wire: Wire) -> bool:
        return True

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        created = int(time.time())
        body = request.body
        try:
            if request.endpoint == "messages":
                if request.stream:
                    return MemoryResponse(200, _SSE, content.anthropic_message_stream(body))
                return _json(content.anthropic_message(body))
            if request.endpoint == "chat":
                if request.stream:
                    return MemoryResponse(
                        200, _SSE, content.openai_chat_stream(body, created=created)
                    )
                return _json(content.openai_chat(body, created=created))
            if request.endpoint == "completions":
                if request.stream:
                    return MemoryResponse(
                        200, _SSE, content.openai_completion_stream(body, created=created)
                    )
                return _json(content.openai_completion(body, created=created))
            if request.endpoint == "embeddings":
                return _json(content.openai_embeddings(body))
            if request.endpoint == "models":
                return _json(content.openai_models(created=created))
        except content.MockRequestError as exc:
            raise InvalidRequest(str(exc)) from None
        # "responses": native_responses is False, so the pipeline translates a Responses request
        # to chat for this provider; the mock keeps one code path for its words.
        raise InvalidRequest(f"provider {self.name} (mock) does not serve {request.endpoint}")

    async def close(self) -> None:
        return None


def _json(payload: dict[str, Any]) -> MemoryResponse:
    return MemoryResponse(200, _JSON, [orjson.dumps(payload)])
