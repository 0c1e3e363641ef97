"""SERVICE_TYPE=proxy: the data plane on :7775."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.pipeline import anthropic_api, openai_api
from gateway.pipeline.router import Router
from gateway.pipeline.state import STATE
from gateway.providers.registry import build_providers


async def _providers_and_router(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    providers = build_providers(state.settings.config)
    state.router = Router(state.settings.config, providers, state.metrics)
    try:
        yield
    finally:
        for provider in providers.values():
            await provider.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_providers_and_router)
    openai_api.add_routes(app, "/v1")
    openai_api.add_routes(app, "/cursor/v1")
    openai_api.add_routes(app, "/cursor")
    anthropic_api.add_routes(app)
