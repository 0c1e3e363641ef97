"""The contract every upstream adapter keeps.

A provider speaks one wire format (`openai` or `anthropic`). The pipeline hands it a request body
already in that format, with the upstream model name set, and gets back the upstream's status,
headers and body, whole or as raw chunks as they arrive. Translation between wire formats is done
by the pipeline (gateway.core.translate), never by a provider.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Wire = Literal["openai", "anthropic"]
# openai wire: chat, completions, embeddings, models, responses. anthropic wire: messages.
Endpoint = Literal["chat", "completions", "embeddings", "models", "messages", "responses"]


@dataclass(slots=True)
class UpstreamRequest:
    endpoint: Endpoint
    body: dict[str, Any]
    stream: bool
    timeout_s: float  # time allowed to the first byte, and between chunks when streaming
    request_id: str
    deployment_model: str  # Azure puts it in the URL; others find it in body["model"]


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes:
        """The whole body (non-streaming)."""

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Raw body bytes as they arrive, no re-framing (streaming)."""

    def release(self) -> None:
        """Give the connection back, or close it when the body was not read to the end."""


class Provider(abc.ABC):
    """One upstream. Owns exactly one pooled HTTP session for its whole life."""

    name: str
    kind: str
    wire: Wire
    # Whether POST /v1/responses may be forwarded untranslated (endpoint "responses"). False: the
    # pipeline translates a Responses request to chat (or Anthropic) for this provider.
    native_responses: bool = False

    def speaks(self, wire: Wire) -> bool:
        """Whether requests in `wire` format go to this provider untranslated."""
        return wire == self.wire

    @abc.abstractmethod
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send one request.

        Raises gateway.core.errors.UpstreamUnavailable when the upstream cannot be reached
        (connect error, reset before headers) and UpstreamTimeout when it does not answer in time.
        Any HTTP status, 4xx and 5xx included, is returned, not raised: retries are the router's.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the pooled session."""
