"""Azure OpenAI: the deployment goes in the URL (in the body for Responses), auth is an `api-key`
or an Entra ID token.

azure-identity is an optional extra (`smartflow[azure]`): it is imported only when `azure_ad` is
set, so an api-key deployment never needs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from yarl import URL

from gateway.core.config import ProviderConfig
from gateway.core.errors import UpstreamUnavailable
from gateway.providers.base import UpstreamRequest, Wire
from gateway.providers.http import GET, POST, HttpProvider
from gateway.providers.openai import OPENAI_PATHS

DEFAULT_API_VERSION = "2024-10-21"
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
# A token is replaced this long before it expires, so none expires in flight.
REFRESH_MARGIN_S = 300.0


class AccessTokenLike(Protocol):
    token: str
    expires_on: int


class AsyncTokenCredential(Protocol):
    """What azure.identity.aio credentials offer (and test doubles implement)."""

    async def get_token(self, *scopes: str) -> Any: ...  # returns an AccessTokenLike


class _TokenCache:
    """One bearer token shared by all requests; concurrent callers share one refresh."""

    def __init__(self, credential: AsyncTokenCredential, clock: Callable[[], float]) -> None:
        self._credential = credential
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token = ""
        self._expires_on = 0.0

    def _fresh(self) -> bool:
        return bool(self._token) and self._clock() < self._expires_on - REFRESH_MARGIN_S

    async def get(self, provider: str) -> str:
        if self._fresh():
            return self._token
        async with self._lock:
            if self._fresh():  # another caller refreshed it while this one waited
                return self._token
            try:
                access: AccessTokenLike = await self._credential.get_token(COGNITIVE_SERVICES_SCOPE)
            except Exception as exc:
                if self._token and self._clock() < self._expires_on:
                    return self._token  # refresh failed, but the old token is still good
                # The type only: credential errors can be long and name tenant details.
                raise UpstreamUnavailable(
                    f"provider {provider}: cannot get an Azure AD token: {type(exc).__name__}"
                ) from exc
            self._token = access.token
            self._expires_on = float(access.expires_on)
            return self._token


def _default_credential(provider: str) -> AsyncTokenCredential:
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as exc:
        raise ValueError(
            f"provider {provider!r}: azure_ad is set but azure-identity is not installed "
            "(pip install 'smartflow[azure]')"
        ) from exc
    credential: AsyncTokenCredential = DefaultAzureCredential()
    return credential


class AzureOpenAIProvider(HttpProvider):
    kind = "azure"
    wire: Wire = "openai"
    # The Responses API is not per deployment: it is `{endpoint}/openai/v1/responses` (the v1
    # API, GA since August 2025), with the deployment name as the body's "model" and no dated
    # api-version (v1 takes none). The older `{endpoint}/openai/responses?api-version=...` needs
    # 2025-03-01-preview or later, which the configured (default 2024-10-21) version may not be,
    # so v1 is used whatever `api_version` says.
    native_responses = True
    default_base_url: ClassVar[str | None] = None  # required: validated in ProviderConfig

    def __init__(
        self,
        config: ProviderConfig,
        *,
        credential: AsyncTokenCredential | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`credential` replaces DefaultAzureCredential (tests, or a caller's own identity)."""
        self._owned_credential: AsyncTokenCredential | None = None
        self._tokens: _TokenCache | None = None
        self._api_key: Mapping[str, str] = {}
        if config.azure_ad:
            if credential is None:
                credential = self._owned_credential = _default_credential(config.name)
            self._tokens = _TokenCache(credential, clock)
        elif config.api_key is not None:
            self._api_key = {"api-key": config.api_key.get_secret_value()}
        super().__init__(config)
        self._query = {"api-version": config.api_version or DEFAULT_API_VERSION}
        self._models_url = self.base_url.joinpath("openai/models").with_query(self._query)
        self._responses_url = self.base_url.joinpath("openai/v1/responses")

    def target(self, request: UpstreamRequest) -> tuple[str, URL]:
        if request.endpoint == "models":
            return GET, self._models_url
        if request.endpoint == "responses":
            return POST, self._responses_url
        path = OPENAI_PATHS.get(request.endpoint)
        if path is None:
            self.unsupported(request)
        url = self.base_url / "openai" / "deployments" / request.deployment_model
        return POST, url.joinpath(path).with_query(self._query)

    def prepare_body(self, request: UpstreamRequest) -> Mapping[str, object]:
        """Responses go to one URL for every deployment: the body's model names the deployment."""
        if request.endpoint != "responses" or request.body.get("model") == request.deployment_model:
            return request.body
        return {**request.body, "model": request.deployment_model}

    async def auth_headers(self) -> Mapping[str, str]:
        if self._tokens is None:
            return self._api_key
        return {"authorization": f"Bearer {await self._tokens.get(self.name)}"}

    async def close(self) -> None:
        await super().close()
        if self._owned_credential is not None:
            closer = getattr(self._owned_credential, "close", None)
            if closer is not None:
                await closer()
