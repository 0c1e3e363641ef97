"""tools/list and tools/call behind the gateway's keys, limits, budgets, cache and audit.

A tools/call goes: resolve the server and tool (unknown -> -32602, not allowed -> a FORBIDDEN
error), admit it against the key's rate limits and budget at the server's price per call
(refused -> 429 with Retry-After), serve it from the tool-result cache when the tool may be
cached, else call the upstream (down -> an error naming the server, marked unhealthy; a JSON-RPC
error from it is relayed as is). After the answer, off the hot path: settle the price (a cache hit
or a failed call costs nothing), store the result, write one audit record, count the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy

from gateway.core.audit import AuditRecord, CacheOutcome
from gateway.core.errors import RateLimited
from gateway.core.keys import VirtualKey
from gateway.core.mcp_protocol import (
    FORBIDDEN,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    RATE_LIMITED,
    UPSTREAM_UNAVAILABLE,
    RpcError,
    args_hash,
    tool_call_params,
)
from gateway.mcp import param_headers
from gateway.mcp.aggregate import (
    RegistryView,
    Target,
    list_all,
    list_one,
    resolve,
    split_name,
    unavailable,
)
from gateway.mcp.guard import check_arguments, check_result, tool_guard, tool_model
from gateway.mcp.tool_cache import ToolCache, cache_key, cacheable
from gateway.mcp.upstream import McpUnavailable, McpUpstreamError
from gateway.pipeline import admission
from gateway.pipeline.admission import Ticket
from gateway.pipeline.context import RequestContext
from gateway.pipeline.finish import audit_findings
from gateway.pipeline.guard_judge import Guard
from gateway.pipeline.state import GatewayState

log = logging.getLogger("smartflow.mcp")


@dataclass(slots=True)
class McpExchange:
    """One POST to /api/mcp*: who asked, where, in which era, and what happened."""

    request_id: str
    key: VirtualKey | None  # None: the administrator (the all-in-one process only)
    scope: str | None  # the server of /api/mcp/NAME; None: the aggregate
    modern: bool
    no_cache: bool  # Cache-Control: no-cache
    client_ip: str | None
    started: float = field(default_factory=time.perf_counter)
    upstream_s: float = 0.0
    cache: CacheOutcome | None = None  # set by tools/call: the x-smartflow-cache header
    headers: dict[str, str] = field(default_factory=dict)  # Retry-After, x-ratelimit-*
    request_headers: CIMultiDictProxy[str] | None = None  # modern era: Mcp-Param-* checks


@dataclass(slots=True)
class _Outcome:
    """What one tools/call did, for the audit record and the metrics."""

    server: str = "-"
    tool: str = "-"
    args_hash: str | None = None
    status: int = 200
    result: str = "ok"  # metrics: ok, error (isError), refused, limited, unavailable, upstream
    error_code: str | None = None
    cost_usd: float = 0.0
    ticket: Ticket | None = None
    resolved: bool = False  # names from the registry (metric labels stay bounded), not a client
    guard_ctx: RequestContext | None = None  # the guardrails' findings and decision, if any


def registry_of(state: GatewayState) -> RegistryView:
    registry: RegistryView | None = state.registry  # checks ToolRegistry against the view
    if registry is None:
        raise RpcError(INTERNAL_ERROR, "the MCP registry is not running on this gateway")
    return registry


class McpDispatcher:
    def __init__(self, state: GatewayState, cache: ToolCache) -> None:
        self._state = state
        self.cache = cache

    async def tools_list(self, ex: McpExchange) -> dict[str, Any]:
        registry = registry_of(self._state)
        if ex.scope is None:
            return {"tools": await list_all(registry, ex.key)}
        live = registry.server(ex.scope)
        if live is None:
            return {"tools": []}
        return {"tools": await list_one(registry, live, ex.key)}

    async def tools_call(self, ex: McpExchange, params: dict[str, Any] | None) -> dict[str, Any]:
        outcome = _Outcome()
        try:
            name, arguments = tool_call_params(params)
            server, tool = split_name(ex.scope, name)
            outcome.server, outcome.tool = server or "-", tool or name
            outcome.args_hash = args_hash(arguments)
            target = await resolve(registry_of(self._state), ex.scope, name, ex.key)
            outcome.resolved = True
            if ex.request_headers is not None and target.definition is not None:
                mismatch = param_headers.check(
                    target.definition.get("inputSchema"), arguments, ex.request_headers
                )
                if mismatch is not None:
                    raise mismatch
            outcome.ticket = await self._admit(ex, target)
            guarded = await self._guard(ex, target, arguments, outcome)
            if guarded is None:
                return await self._answer(ex, target, arguments, outcome)
            ctx, guard = guarded
            sent = await check_arguments(self._state, ctx, guard, arguments)
            # cached under the hash of the arguments as asked (outcome.args_hash): the same
            # arguments are redacted the same way
            result = await self._answer(ex, target, sent, outcome)
            return await check_result(self._state, ctx, guard, result)
        except RpcError as exc:
            _classify_refusal(outcome, exc)
            raise
        finally:
            asyncio.get_running_loop().call_soon(self._after, ex, outcome)

    async def _admit(self, ex: McpExchange, target: Target) -> Ticket | None:
        counters = self._state.counters
        if ex.key is None or counters is None:
            return None
        try:
            ticket = await admission.admit_call(
                counters=counters, key=ex.key, price_usd=target.live.spec.price_per_call_usd
            )
        except RateLimited as exc:
            ex.headers.update(exc.headers)
            retry = exc.headers.get("Retry-After")
            data = {"code": exc.code, "retry_after_s": int(retry) if retry else None}
            raise RpcError(RATE_LIMITED, exc.message, data) from None
        if ticket is not None:
            ex.headers.update(admission.rate_limit_headers(ticket.result))
        return ticket

    async def _guard(
        self, ex: McpExchange, target: Target, arguments: dict[str, Any], outcome: _Outcome
    ) -> tuple[RequestContext, Guard] | None:
        """The call's guardrail state when a policy binds it (see gateway.mcp.guard)."""
        if self._state.policies is None:
            return None
        ctx = RequestContext(
            request_id=ex.request_id,
            route="mcp",
            wire="none",
            client_ip=ex.client_ip,
            model=tool_model(target.server, target.tool),
            key=ex.key,
        )
        outcome.guard_ctx = ctx
        guard = await tool_guard(self._state, ctx, arguments)
        return None if guard is None else (ctx, guard)

    def _cache_slot(self, ex: McpExchange, target: Target, digest: str) -> tuple[str | None, bool]:
        """(the cache key or None when the result is not cached, whether to look it up)."""
        spec = target.live.spec
        key_mode = ex.key.cache.mode if ex.key is not None else "on"
        if key_mode == "off" or not cacheable(target.definition, target.tool, spec.cache_tools):
            return None, False
        scope = ex.key.cache_namespace() if ex.key is not None else "admin"
        return cache_key(scope, spec.name, target.tool, digest), not ex.no_cache

    async def _answer(
        self, ex: McpExchange, target: Target, arguments: dict[str, Any], outcome: _Outcome
    ) -> dict[str, Any]:
        assert outcome.args_hash is not None
        slot, lookup = self._cache_slot(ex, target, outcome.args_hash)
        if slot is not None and lookup:
            hit = await self.cache.get(slot)
            if hit is not None:
                ex.cache = "hit-exact"
                return hit.result
            ex.cache = "miss"
        else:
            ex.cache = "bypass"
            self.cache.bypass()
        result = await self._call_upstream(ex, target, arguments, outcome)
        if result.get("isError"):
            outcome.result, outcome.error_code = "error", "tool_error"
        elif slot is not None:
            self._state.background.spawn(
                self.cache.put(
                    slot, result, ttl_s=target.live.spec.cache_ttl_s, upstream_s=ex.upstream_s
                ),
                name=f"mcp cache {ex.request_id}",
            )
        return result

    async def _call_upstream(
        self, ex: McpExchange, target: Target, arguments: dict[str, Any], outcome: _Outcome
    ) -> dict[str, Any]:
        live = target.live
        began = time.perf_counter()
        try:
            result = await live.upstream.call_tool(target.tool, arguments)
        except McpUnavailable as exc:
            live.mark_failed(str(exc), time.time())
            raise unavailable(live.spec.name, str(exc)) from None
        except McpUpstreamError as exc:
            outcome.status, outcome.result, outcome.error_code = 502, "upstream", "upstream_error"
            raise RpcError(exc.code, exc.message, exc.data) from None
        finally:
            ex.upstream_s += time.perf_counter() - began
        live.mark_ok(time.time())
        outcome.cost_usd = live.spec.price_per_call_usd
        return result

    def _after(self, ex: McpExchange, outcome: _Outcome) -> None:
        """Settle, audit and count one tools/call (scheduled after the response is written)."""
        state = self._state
        elapsed = time.perf_counter() - ex.started
        if outcome.ticket is not None and state.counters is not None:
            settlement = admission.settlement(
                outcome.ticket, actual_usd=outcome.cost_usd, actual_tokens=0
            )
            state.background.spawn(
                state.counters.settle(settlement), name=f"settle {ex.request_id}"
            )
        cache = ex.cache or "bypass"
        server, tool = (outcome.server, outcome.tool) if outcome.resolved else ("-", "-")
        state.metrics.observe_tool_call(server, tool, outcome.result, cache, elapsed)
        if state.audit is not None:
            state.audit.submit(_audit_record(ex, outcome, cache, elapsed))


def _classify_refusal(outcome: _Outcome, exc: RpcError) -> None:
    if outcome.result != "ok":
        return  # already classified where it happened (an upstream error)
    refusals = {
        FORBIDDEN: (403, "refused", "forbidden"),
        HEADER_MISMATCH: (400, "refused", "header_mismatch"),
        RATE_LIMITED: (429, "limited", None),
        UPSTREAM_UNAVAILABLE: (503, "unavailable", "upstream_unavailable"),
    }
    status, result, code = refusals.get(exc.code, (400, "refused", "invalid_params"))
    outcome.status, outcome.result = status, result
    data = exc.data if isinstance(exc.data, dict) else {}
    outcome.error_code = str(data.get("code") or code or "rate_limit_exceeded")
    if exc.message.startswith("Unknown tool"):
        outcome.error_code = "unknown_tool"


def _audit_record(
    ex: McpExchange, outcome: _Outcome, cache: CacheOutcome, elapsed: float
) -> AuditRecord:
    elapsed_ms = elapsed * 1000
    upstream_ms = ex.upstream_s * 1000
    return AuditRecord(
        ts=time.time() - elapsed,
        request_id=ex.request_id,
        key_id=ex.key.id if ex.key is not None else None,
        model_requested="-",
        provider=outcome.server,
        route="mcp",
        status=outcome.status,
        cost_usd=outcome.cost_usd,
        latency_ms=round(elapsed_ms, 3),
        upstream_ms=round(upstream_ms, 3),
        overhead_ms=round(max(0.0, elapsed_ms - upstream_ms), 3),
        cache=cache,
        client_ip=ex.client_ip,
        error_code=outcome.error_code,
        tool=outcome.tool,
        args_hash=outcome.args_hash,
        **_guard_fields(outcome.guard_ctx),
    )


def _guard_fields(ctx: RequestContext | None) -> dict[str, Any]:
    """The compliance fields of the audit record, from the call's guardrail state."""
    if ctx is None:
        return {}
    return {
        "compliance": ctx.compliance,
        "findings": audit_findings(ctx.findings),
        "policy": ctx.policy,
        "policy_action": ctx.policy_action,
    }
