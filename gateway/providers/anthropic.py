"""Anthropic's Messages API (api.anthropic.com)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from yarl import URL

from gateway.core.config import ProviderConfig
from gateway.providers.base import UpstreamRequest, Wire
from gateway.providers.http import GET, POST, HttpProvider

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    """`x-api-key` auth plus the pinned `anthropic-version` (config.headers may override it)."""

    kind = "anthropic"
    wire: Wire = "anthropic"
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._messages_url = self.base_url.joinpath("v1/messages")
        self._models_url = self.base_url.joinpath("v1/models")
        auth = {"anthropic-version": ANTHROPIC_VERSION}
        if config.api_key is not None:
            auth["x-api-key"] = config.api_key.get_secret_value()
        self._auth: Mapping[str, str] = auth

    def target(self, request: UpstreamRequest) -> tuple[str, URL]:
        if request.endpoint == "messages":
            return POST, self._messages_url
        if request.endpoint == "models":
            return GET, self._models_url
        self.unsupported(request)

    async def auth_headers(self) -> Mapping[str, str]:
        return self._auth
