"""Azure OpenAI: deployment and api-version in the URL, api-key or Entra ID (AD) token auth."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from gateway.core.config import ProviderConfig
from gateway.core.errors import InvalidRequest, UpstreamUnavailable
from gateway.providers.azure import COGNITIVE_SERVICES_SCOPE, AzureOpenAIProvider

KEY = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8"
T0 = 1_750_000_000.0
CHAT_BODY = {
    "model": "gpt-4o",  # Azure ignores it; it is passed through untouched
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 32,
}


@dataclass
class AccessToken:
    token: str
    expires_on: int


class FakeCredential:
    """Stands in for azure.identity.aio credentials: hands out numbered tokens, slowly."""

    def __init__(self, lifetime_s: int = 3600, clock: Any = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.lifetime_s = lifetime_s
        self.clock = clock
        self.fail = False
        self.closed = False

    async def get_token(self, *scopes: str) -> AccessToken:
        self.calls.append(scopes)
        await asyncio.sleep(0.02)  # a real token fetch is a network round trip
        if self.fail:
            raise RuntimeError("ClientSecretCredential: AADSTS7000215 tenant 1234 secret xyz")
        now = self.clock() if self.clock else T0
        return AccessToken(f"eyJ0eXAi.token-{len(self.calls)}", int(now) + self.lifetime_s)

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def send_and_read(provider: Any, request: Any) -> tuple[Any, bytes]:
    response = await provider.send(request)
    body = await response.read()
    response.release()
    return response, body


def make_azure(make_provider: Any, base: str, **fields: Any) -> AzureOpenAIProvider:
    fields.setdefault("api_key", KEY)
    provider: AzureOpenAIProvider = make_provider(
        AzureOpenAIProvider, type="azure", base_url=base, **fields
    )
    return provider


@pytest.mark.parametrize(
    ("endpoint", "suffix"),
    [("chat", "chat/completions"), ("completions", "completions"), ("embeddings", "embeddings")],
)
async def test_the_deployment_and_api_version_go_in_the_url(
    upstream: Any, make_provider: Any, make_request: Any, endpoint: str, suffix: str
) -> None:
    provider = make_azure(make_provider, upstream.url)
    response, raw = await send_and_read(
        provider, make_request(endpoint, CHAT_BODY, deployment="gpt-4o-prod")
    )

    assert response.status == 200
    assert response.headers["apim-request-id"]
    [seen] = upstream.received
    assert seen.method == "POST"
    assert seen.path == f"/openai/deployments/gpt-4o-prod/{suffix}"
    assert seen.query == {"api-version": "2024-10-21"}
    assert seen.headers["api-key"] == KEY
    assert "Authorization" not in seen.headers
    assert seen.body == orjson.dumps(CHAT_BODY)
    if endpoint == "chat":
        completion = ChatCompletion.model_validate_json(raw)
        assert completion.choices[0].message.content == "Hello! How can I help you today?"
    if endpoint == "embeddings":
        CreateEmbeddingResponse.model_validate_json(raw)


async def test_a_configured_api_version_is_used(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_azure(make_provider, f"{upstream.url}/", api_version="2025-01-01-preview")
    await send_and_read(provider, make_request("chat", CHAT_BODY, deployment="o3-mini"))
    await send_and_read(provider, make_request("models"))
    chat, models = upstream.received
    assert chat.path == "/openai/deployments/o3-mini/chat/completions"
    assert chat.query == {"api-version": "2025-01-01-preview"}
    assert (models.method, models.path) == ("GET", "/openai/models")
    assert models.query == {"api-version": "2025-01-01-preview"}


async def test_models_are_listed_with_a_get(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_azure(make_provider, upstream.url)
    _, raw = await send_and_read(provider, make_request("models"))
    assert orjson.loads(raw)["data"][0]["id"] == "gpt-4o-2024-08-06"
    [seen] = upstream.received
    assert (seen.method, seen.path, seen.query) == (
        "GET",
        "/openai/models",
        {"api-version": "2024-10-21"},
    )
    assert seen.headers["api-key"] == KEY


async def test_messages_is_not_served(upstream: Any, make_provider: Any, make_request: Any) -> None:
    provider = make_azure(make_provider, upstream.url)
    with pytest.raises(InvalidRequest, match=r"provider upstream-1 \(azure\) does not serve"):
        await provider.send(make_request("messages", CHAT_BODY))


async def test_a_stream_passes_through(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_azure(make_provider, upstream.url)
    response = await provider.send(make_request("chat", {**CHAT_BODY, "stream": True}, stream=True))
    raw = b"".join([chunk async for chunk in response.iter_chunks()])
    response.release()
    assert raw == b"".join(upstream.sent)
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_concurrent_requests_share_one_ad_token_fetch(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    credential = FakeCredential()
    provider = make_azure(
        make_provider,
        upstream.url,
        api_key=None,
        azure_ad=True,
        provider_kwargs={"credential": credential, "clock": lambda: T0},
    )
    results = await asyncio.gather(
        *(send_and_read(provider, make_request("chat", CHAT_BODY)) for _ in range(20))
    )

    assert [r.status for r, _ in results] == [200] * 20
    assert credential.calls == [(COGNITIVE_SERVICES_SCOPE,)]
    assert {r.headers["Authorization"] for r in upstream.received} == {"Bearer eyJ0eXAi.token-1"}
    assert all("api-key" not in r.headers for r in upstream.received)


async def test_the_ad_token_is_refreshed_near_expiry(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    clock = Clock()
    credential = FakeCredential(lifetime_s=3600, clock=clock)
    provider = make_azure(
        make_provider,
        upstream.url,
        api_key=None,
        azure_ad=True,
        provider_kwargs={"credential": credential, "clock": clock},
    )

    await send_and_read(provider, make_request("chat", CHAT_BODY))
    clock.now = T0 + 3600 - 301  # more than five minutes left: keep it
    await send_and_read(provider, make_request("chat", CHAT_BODY))
    clock.now = T0 + 3600 - 299  # under five minutes left: replace it
    await asyncio.gather(
        *(send_and_read(provider, make_request("chat", CHAT_BODY)) for _ in range(5))
    )

    assert len(credential.calls) == 2
    tokens = [r.headers["Authorization"] for r in upstream.received]
    assert tokens == ["Bearer eyJ0eXAi.token-1"] * 2 + ["Bearer eyJ0eXAi.token-2"] * 5


async def test_a_failed_refresh_keeps_a_token_that_has_not_expired(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    clock = Clock()
    credential = FakeCredential(lifetime_s=3600, clock=clock)
    provider = make_azure(
        make_provider,
        upstream.url,
        api_key=None,
        azure_ad=True,
        provider_kwargs={"credential": credential, "clock": clock},
    )
    await send_and_read(provider, make_request("chat", CHAT_BODY))
    credential.fail = True
    clock.now = T0 + 3600 - 60
    await send_and_read(provider, make_request("chat", CHAT_BODY))
    assert upstream.received[-1].headers["Authorization"] == "Bearer eyJ0eXAi.token-1"

    clock.now = T0 + 3600 + 1  # now it has expired: nothing to send with
    with pytest.raises(UpstreamUnavailable) as caught:
        await provider.send(make_request("chat", CHAT_BODY))
    assert caught.value.message == (
        "provider upstream-1: cannot get an Azure AD token: RuntimeError"
    )
    assert len(upstream.received) == 2


async def test_ad_without_azure_identity_is_a_clear_config_error(
    make_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)
    with pytest.raises(ValueError, match=r"azure-identity is not installed"):
        make_azure(make_provider, "https://contoso.openai.azure.com", api_key=None, azure_ad=True)


async def test_the_default_credential_is_created_and_closed_by_the_provider(
    make_provider: Any, make_request: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity.aio as identity_aio

    made: list[FakeCredential] = []

    def default_credential() -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    monkeypatch.setattr(identity_aio, "DefaultAzureCredential", default_credential)
    provider = AzureOpenAIProvider(
        ProviderConfig(
            name="aoai", type="azure", base_url="https://contoso.openai.azure.com", azure_ad=True
        )
    )
    assert provider.target(make_request("chat", deployment="gpt-4o"))[1].human_repr() == (
        "https://contoso.openai.azure.com/openai/deployments/gpt-4o/chat/completions"
        "?api-version=2024-10-21"
    )
    assert len(made) == 1 and not made[0].closed
    await provider.close()
    assert made[0].closed


async def test_an_injected_credential_is_left_open(make_provider: Any, upstream: Any) -> None:
    credential = FakeCredential()
    provider = make_azure(
        make_provider,
        upstream.url,
        api_key=None,
        azure_ad=True,
        provider_kwargs={"credential": credential},
    )
    await provider.close()
    assert not credential.closed
