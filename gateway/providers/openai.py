"""OpenAI's own API (api.openai.com), and the base of every OpenAI-wire HTTP upstream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from yarl import URL

from gateway.core.config import ProviderConfig
from gateway.providers.base import Endpoint, UpstreamRequest, Wire
from gateway.providers.http import GET, POST, HttpProvider

# Path under base_url for each endpoint this wire serves; `models` is the only GET.
OPENAI_PATHS: Mapping[Endpoint, str] = {
    "chat": "chat/completions",
    "completions": "completions",
    "embeddings": "embeddings",
    "models": "models",
    "responses": "responses",
}


class OpenAIProvider(HttpProvider):
    """Bearer-key auth; URLs are fixed per endpoint, so they are built once."""

    kind = "openai"
    wire: Wire = "openai"
    native_responses = True
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._urls = {
            endpoint: self.base_url.joinpath(path) for endpoint, path in OPENAI_PATHS.items()
        }
        key = config.api_key.get_secret_value() if config.api_key is not None else ""
        self._auth: Mapping[str, str] = {"authorization": f"Bearer {key}"} if key else {}

    def target(self, request: UpstreamRequest) -> tuple[str, URL]:
        url = self._urls.get(request.endpoint)
        if url is None:
            self.unsupported(request)
        return (GET if request.endpoint == "models" else POST), url

    async def auth_headers(self) -> Mapping[str, str]:
        return self._auth
