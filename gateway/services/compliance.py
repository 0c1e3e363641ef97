"""SERVICE_TYPE=compliance (:7777). Scanning arrives with the compliance issue; the service
already answers its health route so deployments and probes can be wired now."""

from __future__ import annotations

from aiohttp import web

from gateway.pipeline.state import STATE


async def intelligent_health(request: web.Request) -> web.Response:
    settings = request.app[STATE].settings
    return web.json_response(
        {"status": "ok", "service": "compliance", "timeout_secs": settings.compliance_timeout_secs}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/compliance/intelligent/health", intelligent_health)
