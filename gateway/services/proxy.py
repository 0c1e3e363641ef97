"""SERVICE_TYPE=proxy: the data plane on :7775."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.pipeline import anthropic_api, openai_api, responses_api
from gateway.pipeline.router import Router
from gateway.pipeline.state import STATE
from gateway.providers.registry import build_providers
from gateway.store.perf_board import stop as stop_task
from gateway.store.responses_base import ResponseStore, open_response_store

log = logging.getLogger("smartflow.responses")
PURGE_EVERY_S = 3600.0


async def _providers_and_router(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    providers = build_providers(state.settings.config)
    state.router = Router(state.settings.config, providers, state.metrics)
    try:
        yield
    finally:
        for provider in providers.values():
            await provider.close()


async def _response_store(app: web.Application) -> AsyncIterator[None]:
    """Where /v1/responses answers are kept for `previous_response_id`, and their expiry."""
    state = app[STATE]
    settings = state.settings
    if settings.responses_retention_s <= 0:
        yield
        return
    async with open_response_store(settings) as store:
        state.responses = store
        purger = asyncio.create_task(_purge_forever(store, settings.responses_retention_s))
        try:
            yield
        finally:
            await stop_task(purger)
            state.responses = None


async def _purge_forever(store: ResponseStore, retention_s: float) -> None:
    while True:
        try:
            removed = await store.purge(time.time() - retention_s)
        except Exception:  # a database outage must not end the loop; the next round retries
            log.warning("could not purge expired responses", exc_info=True)
        else:
            if removed:
                log.info("expired responses purged", extra={"count": removed})
        await asyncio.sleep(PURGE_EVERY_S)


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_providers_and_router)
    app.cleanup_ctx.append(_response_store)
    openai_api.add_routes(app, "/v1")
    responses_api.add_routes(app, "/v1")
    openai_api.add_routes(app, "/cursor/v1")
    openai_api.add_routes(app, "/cursor")
    anthropic_api.add_routes(app)
