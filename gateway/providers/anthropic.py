"""Anthropic's Messages API (api.anthropic.com)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from gateway.core.config import ProviderConfig
from gateway.providers.base import UpstreamRequest, Wire
from gateway.providers.http import GET, JSON_CONTENT_TYPE, POST, HttpProvider, HttpUpstreamResponse

ANTHROPIC_VERSION = "2023-06-01"
# Request headers an Anthropic client sets that change what the API does (beta features such as
# interleaved thinking or the 1M context, the API version): passed on to Anthropic upstreams only.
FORWARDED_HEADERS = ("anthropic-beta", "anthropic-version")

Operation = Literal["messages", "count_tokens"]


@dataclass(slots=True)
class AnthropicUpstreamRequest(UpstreamRequest):
    """A Messages API request as an Anthropic client sent it: which operation (a message, or
    counting a message's tokens) and the client's `anthropic-*` headers to pass on."""

    operation: Operation = "messages"
    client_headers: Mapping[str, str] = field(default_factory=dict)


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's `anthropic-beta` / `anthropic-version` headers (names lower-cased; an
    `anthropic-beta` sent several times is joined with commas, as Anthropic reads it)."""
    found: dict[str, str] = {}
    for name in FORWARDED_HEADERS:
        values = headers.getall(name, []) if isinstance(headers, CIMultiDictProxy) else []
        if len(values) > 1:
            found[name] = ",".join(v.strip() for v in values if v.strip())
        elif headers.get(name):
            found[name] = headers[name]
    return found


class AnthropicProvider(HttpProvider):
    """`x-api-key` auth plus the pinned `anthropic-version`. A client's own `anthropic-version`
    and `anthropic-beta` replace the pinned ones; config.headers replace both."""

    kind = "anthropic"
    wire: Wire = "anthropic"
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._messages_url = self.base_url.joinpath("v1/messages")
        self._count_tokens_url = self.base_url.joinpath("v1/messages/count_tokens")
        self._models_url = self.base_url.joinpath("v1/models")
        auth = {"anthropic-version": ANTHROPIC_VERSION}
        if config.api_key is not None:
            auth["x-api-key"] = config.api_key.get_secret_value()
        self._auth: Mapping[str, str] = auth

    def target(self, request: UpstreamRequest) -> tuple[str, URL]:
        if request.endpoint == "messages":
            if isinstance(request, AnthropicUpstreamRequest) and request.operation != "messages":
                return POST, self._count_tokens_url
            return POST, self._messages_url
        if request.endpoint == "models":
            return GET, self._models_url
        self.unsupported(request)

    async def auth_headers(self) -> Mapping[str, str]:
        return self._auth

    async def send(self, request: UpstreamRequest) -> HttpUpstreamResponse:
        if not isinstance(request, AnthropicUpstreamRequest) or not request.client_headers:
            return await super().send(request)
        method, url = self.target(request)
        headers = {"content-type": JSON_CONTENT_TYPE, **await self.auth_headers()}
        headers.update(request.client_headers)
        headers.update(self._extra_headers)
        headers["x-request-id"] = request.request_id
        body = orjson.dumps(self.prepare_body(request))
        return await self._request(method, url, body, headers, request)
