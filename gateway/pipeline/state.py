"""What the pipeline's handlers share: built once per application, reached through the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from gateway.core.audit import AuditRecord
from gateway.core.pricing import PriceTable
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import Tracer
from gateway.pipeline.auth import AdminKeyAuth
from gateway.pipeline.background import BackgroundTasks
from gateway.pipeline.context import RequestIds
from gateway.pipeline.keyauth import KeyAuthenticator
from gateway.pipeline.router import Router
from gateway.settings import Settings
from gateway.store.base import Counters, KeyEvents, KeyRepository

if TYPE_CHECKING:
    from gateway.cache.admin import CacheAdmin
    from gateway.cache.metacache import MetaCache
    from gateway.cache.shadow import ShadowChecker
    from gateway.compliance.baseline_store import BaselineCache
    from gateway.mcp.live import ToolRegistry
    from gateway.policy.registry import PolicySet
    from gateway.store.responses_base import ResponseStore


@dataclass(slots=True)
class Lifecycle:
    """Readiness and in-flight bookkeeping, for /ready and graceful shutdown."""

    ready: bool = False
    draining: bool = False
    inflight: int = 0


@dataclass(slots=True)
class GatewayState:
    settings: Settings
    metrics: GatewayMetrics
    tracer: Tracer
    auth: AdminKeyAuth | None
    router: Router | None = None
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    request_ids: RequestIds = field(default_factory=RequestIds)
    prices: PriceTable = field(default_factory=PriceTable)
    # set by the app factory when the service needs them (issue 3: keys, limits, budgets, audit)
    keys: KeyRepository | None = None
    key_events: KeyEvents | None = None
    counters: Counters | None = None
    key_auth: KeyAuthenticator | None = None
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    # named dependency checks for /api/health/comprehensive (redis, database, ...)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    perf_board: PerfBoard | None = None
    audit: AuditSubmitter | None = None
    # the response cache (proxy and all), its shadow-mode checker, and its management face
    cache: MetaCache | None = None
    cache_shadow: ShadowChecker | None = None
    cache_admin: CacheAdmin | None = None
    # guardrails (proxy and all): the policies in force, the organisations'
    # baselines, and the small thread pool for scans that may be slow
    policies: PolicySet | None = None  # with the compliance engine of the guardrails in force
    baselines: BaselineCache | None = None
    scan_pool: Executor | None = None
    # MCP servers and A2A agents (issue 15): the proxy when MCP_GATEWAY_ENABLED, the api-server
    registry: ToolRegistry | None = None
    # /v1/responses answers kept for previous_response_id (proxy, all); None: nothing is kept
    responses: ResponseStore | None = None


HealthCheck = Callable[[], Awaitable[object]]


class AuditSubmitter(Protocol):
    def submit(self, record: AuditRecord) -> None: ...


class PerfBoard(Protocol):
    """Where proxies leave their per-deployment statistics for the management API."""

    async def snapshots(self) -> list[dict[str, Any]]: ...


STATE = web.AppKey("smartflow_state", GatewayState)
