"""Builds one provider object per configured provider (each owns its pooled HTTP session)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.core.config import GatewayConfig, ProviderConfig
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.azure import AzureOpenAIProvider
from gateway.providers.base import Provider
from gateway.providers.mock import MockProvider
from gateway.providers.openai import OpenAIProvider
from gateway.providers.openai_compatible import OpenAICompatibleProvider

_FACTORIES: dict[str, Callable[[ProviderConfig], Provider]] = {
    "openai": OpenAIProvider,
    "openai-compatible": OpenAICompatibleProvider,
    "azure": AzureOpenAIProvider,
    "anthropic": AnthropicProvider,
    "mock": MockProvider,
}

MOCK = ProviderConfig(name="mock", type="mock")


def build_providers(config: GatewayConfig) -> dict[str, Provider]:
    """Must run inside the event loop: HTTP providers open their session on construction."""
    configs = list(config.providers) or [MOCK]
    return {p.name: _FACTORIES[p.type](p) for p in configs}
