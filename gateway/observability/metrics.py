"""Prometheus metrics, one registry per application (no process-global collectors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    """The gateway's metric families. Names are kept from the systems operators migrate from."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self._multiprocess_dir = multiprocess_dir
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._upstream_children: dict[tuple[str, str], Any] = {}
        self._tool_children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._a2a_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "smartflow_requests_total",
            "Requests answered by the gateway",
            ("route", "model", "status"),
            registry=r,
        )
        self.request_duration = Histogram(
            "smartflow_request_duration_seconds",
            "Time from request received to response complete (streams: to last byte)",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "smartflow_overhead_seconds",
            "Time spent in the gateway itself, upstream time excluded",
            ("route",),
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "smartflow_upstream_duration_seconds",
            "Time from sending upstream to the upstream's response headers",
            ("provider", "status"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_retries = Counter(
            "smartflow_upstream_retries_total",
            "Upstream attempts that failed and were retried or fell back",
            ("provider", "reason"),
            registry=r,
        )
        self.cooldowns = Counter(
            "smartflow_deployment_cooldowns_total",
            "Deployments taken out of rotation after repeated failures",
            ("provider", "model"),
            registry=r,
        )
        self.tokens = Counter(
            "smartflow_tokens_total",
            "Tokens reported by upstream usage",
            ("model", "kind"),
            registry=r,
        )
        self.cache_hits = Counter(
            "smartflow_cache_hits_total", "Response cache hits", ("kind",), registry=r
        )
        self.cache_misses = Counter(
            "smartflow_cache_misses_total", "Response cache misses", registry=r
        )
        self.cache_bypassed = Counter(
            "smartflow_cache_bypassed_total",
            "Requests the response cache did not look up, by reason",
            ("reason",),
            registry=r,
        )
        self.cache_not_stored = Counter(
            "smartflow_cache_not_stored_total",
            "Answers the response cache did not keep, by reason",
            ("reason",),
            registry=r,
        )
        self.cache_stored = Counter(
            "smartflow_cache_stored_total", "Answers written to the response cache", registry=r
        )
        self.cache_tokens_saved = Counter(
            "smartflow_cache_tokens_saved_total",
            "Upstream tokens (prompt and completion) not spent thanks to cache hits",
            registry=r,
        )
        self.cache_usd_saved = Counter(
            "smartflow_cache_usd_saved_total",
            "Upstream spend in USD avoided by cache hits, at the original answers' prices",
            registry=r,
        )
        self.cache_shadow_false_hits = Gauge(
            "smartflow_cache_shadow_false_hit_rate",
            "Shadow mode's estimate of the share of semantic hits that served a wrong answer "
            "(95% upper bound), per namespace; under --workers the highest worker's",
            ("namespace",),
            registry=r,
            multiprocess_mode="max",
        )
        self.cache_shadow = Counter(
            "smartflow_cache_shadow_checks_total",
            "Semantic hits re-asked upstream in shadow mode, by namespace and verdict",
            ("namespace", "verdict"),
            registry=r,
        )
        self.embedding_duration = Histogram(
            "smartflow_embedding_duration_seconds",
            "Time to embed a prompt for the semantic cache",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.compliance_scan = Histogram(
            "smartflow_compliance_scan_seconds",
            "Time to scan a prompt or a response (streams: per window)",
            ("direction",),
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.compliance_findings = Counter(
            "smartflow_compliance_findings_total",
            "Compliance findings by type and direction (counts only, never the text)",
            ("type", "direction"),
            registry=r,
        )
        self.compliance_verdicts = Counter(
            "smartflow_compliance_verdicts_total",
            "Requests by compliance verdict (pass, flag, block)",
            ("verdict",),
            registry=r,
        )
        self.compliance_timeouts = Counter(
            "smartflow_compliance_timeouts_total",
            "Scans slower than COMPLIANCE_TIMEOUT_SECS, by what was done (open, closed)",
            ("outcome",),
            registry=r,
        )
        self.policy_decisions = Counter(
            "smartflow_policy_decisions_total",
            "Policy decisions that matched a rule, by policy, action and whether enforced",
            ("policy", "action", "mode"),
            registry=r,
        )
        self.mcp_tool_calls = Counter(
            "smartflow_mcp_tool_calls_total",
            "MCP tools/call requests by server, tool, result (ok, error, refused, limited, "
            "unavailable) and cache outcome",
            ("server", "tool", "result", "cache"),
            registry=r,
        )
        self.mcp_tool_call_duration = Histogram(
            "smartflow_mcp_tool_call_duration_seconds",
            "Time to answer an MCP tools/call (a cache hit included)",
            ("server",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.a2a_requests = Counter(
            "smartflow_a2a_requests_total",
            "A2A JSON-RPC requests by agent, method and status",
            ("agent", "method", "status"),
            registry=r,
        )
        self.a2a_duration = Histogram(
            "smartflow_a2a_request_duration_seconds",
            "Time to answer an A2A request (streams: to the last event)",
            ("agent",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.client_disconnects = Counter(
            "smartflow_client_disconnects_total",
            "Requests whose client went away before the response was complete",
            ("route",),
            registry=r,
        )

    def observe_request(
        self, route: str, model: str, status: int, seconds: float, overhead: float
    ) -> None:
        """Count one answered request. Label children are cached: prometheus_client's labels()
        takes a lock and re-validates the values on every call."""
        key = (route, model, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, model, str(status)),
                self.request_duration.labels(route),
                self.overhead.labels(route),
            )
            self._request_children[key] = children
        count, duration, own = children
        count.inc()
        duration.observe(seconds)
        own.observe(overhead)

    def observe_upstream(self, provider: str, status: str, seconds: float) -> None:
        key = (provider, status)
        child = self._upstream_children.get(key)
        if child is None:
            child = self._upstream_children[key] = self.upstream_duration.labels(provider, status)
        child.observe(seconds)

    def observe_tool_call(
        self, server: str, tool: str, result: str, cache: str, seconds: float
    ) -> None:
        """Count one MCP tools/call; children cached as in observe_request."""
        key = (server, tool, result, cache)
        children = self._tool_children.get(key)
        if children is None:
            children = self._tool_children[key] = (
                self.mcp_tool_calls.labels(server, tool, result, cache),
                self.mcp_tool_call_duration.labels(server),
            )
        count, duration = children
        count.inc()
        duration.observe(seconds)

    def observe_a2a(self, agent: str, method: str, status: str, seconds: float) -> None:
        """Count one A2A request; children cached as in observe_request."""
        key = (agent, method, status)
        children = self._a2a_children.get(key)
        if children is None:
            children = self._a2a_children[key] = (
                self.a2a_requests.labels(agent, method, status),
                self.a2a_duration.labels(agent),
            )
        count, duration = children
        count.inc()
        duration.observe(seconds)

    def observe_tokens(self, model: str, prompt: int | None, completion: int | None) -> None:
        if prompt is not None:
            self.tokens.labels(model, "prompt").inc(prompt)
        if completion is not None:
            self.tokens.labels(model, "completion").inc(completion)

    def observe_cache_hit(self, phase: str, tokens: int, usd: float) -> None:
        self.cache_hits.labels(phase).inc()
        self.cache_tokens_saved.inc(tokens)
        self.cache_usd_saved.inc(usd)

    def render(self) -> bytes:
        """The exposition text; under --workers, the sum over every worker process."""
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(combined)
