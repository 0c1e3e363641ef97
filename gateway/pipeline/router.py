"""Sends a request to the deployments of a model: weighted choice, retries with backoff, cooldown
of failing deployments, then fallback models. Keeps per-deployment latency and error statistics."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.core.config import DeploymentConfig, GatewayConfig, ModelConfig, RoutingConfig
from gateway.core.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.core.routing import (
    Candidate,
    backoff_delay,
    is_retryable_status,
    parse_retry_after,
    pick,
)
from gateway.core.stats import DeploymentStats
from gateway.observability.metrics import GatewayMetrics
from gateway.pipeline.context import RequestContext
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse

log = logging.getLogger("smartflow.router")

WILDCARD = "*"
DEFAULT_TIMEOUT_S = 600.0
MOCK_ONLY_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "text-embedding-3-small")


@dataclass(slots=True)
class Deployment:
    """One deployment of a model at runtime: its provider, health and statistics."""

    model_name: str
    config: DeploymentConfig
    provider: Provider
    candidate: Candidate
    provider_timeout_s: float
    stats: DeploymentStats = field(default_factory=DeploymentStats)

    def upstream_model(self, route_model: str) -> str:
        """The name sent upstream: the deployment's own, else the model the route serves."""
        return self.config.model or route_model

    def timeout_s(self) -> float:
        return self.config.timeout_s or self.provider_timeout_s

    @property
    def key(self) -> str:
        return f"{self.model_name}/{self.config.provider}/{self.config.model or '*'}"


@dataclass(slots=True)
class ModelRoute:
    name: str
    deployments: list[Deployment]
    fallbacks: list[str]


@dataclass(slots=True)
class Sent:
    response: UpstreamResponse
    deployment: Deployment
    upstream_model: str


BuildRequest = Callable[[Deployment, str], UpstreamRequest]


@dataclass(slots=True)
class _Failure:
    error: GatewayError
    retry_after: float | None = None


class Router:
    def __init__(
        self,
        config: GatewayConfig,
        providers: Mapping[str, Provider],
        metrics: GatewayMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._policy: RoutingConfig = config.routing
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not security
        self._sleep = sleep
        self._routes: dict[str, ModelRoute] = {}
        self._mock_only = config.uses_mock_only
        models = config.models
        if self._mock_only:
            models = [
                *config.models,
                _wildcard_model("mock"),
            ]
        timeouts = {p.name: p.timeout_s for p in config.providers}
        for model in models:
            self._routes[model.name] = ModelRoute(
                name=model.name,
                deployments=[
                    Deployment(
                        model.name,
                        dep,
                        providers[dep.provider],
                        Candidate(i, dep),
                        timeouts.get(dep.provider, DEFAULT_TIMEOUT_S),
                    )
                    for i, dep in enumerate(model.deployments)
                ],
                fallbacks=list(model.fallbacks),
            )

    # -- lookup ----------------------------------------------------------------------------------

    def resolve(self, model: str) -> ModelRoute:
        route = self._routes.get(model) or self._routes.get(WILDCARD)
        if route is None:
            raise ModelNotFound(
                f"model {model!r} is not configured on this gateway; see GET /v1/models",
                param="model",
            )
        return route

    def metric_label(self, model: str) -> str:
        """A bounded label for metrics: configured names only, so clients cannot explode series."""
        return model if model in self._routes and model != WILDCARD else "other"

    def model_names(self) -> list[str]:
        names = [name for name in self._routes if name != WILDCARD]
        if self._mock_only:
            return names or list(MOCK_ONLY_MODELS)
        return names

    def deployments(self) -> list[Deployment]:
        return [dep for route in self._routes.values() for dep in route.deployments]

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, ctx: RequestContext, model: str, build: BuildRequest) -> Sent:
        """Try the model's deployments, then its fallbacks; return the first usable response.

        A response is usable when it is a success or an error that retrying cannot fix (4xx other
        than 408/409/429): those are the caller's to relay. Raises UpstreamUnavailable (502),
        UpstreamTimeout (504) or RateLimited (429) when every attempt failed.
        """
        first = self.resolve(model)
        chain = [first, *(self.resolve(name) for name in first.fallbacks)]
        last: _Failure | None = None
        for route in chain:
            sent, failure = await self._send_to_route(ctx, route, model, build)
            if sent is not None:
                return sent
            last = failure or last
            if route is not chain[-1]:
                log.info(
                    "falling back",
                    extra={"request_id": ctx.request_id, "from_model": route.name},
                )
        raise _final_error(model, last)

    async def _send_to_route(
        self, ctx: RequestContext, route: ModelRoute, requested: str, build: BuildRequest
    ) -> tuple[Sent | None, _Failure | None]:
        tried: set[int] = set()
        previous: Deployment | None = None
        failure: _Failure | None = None
        candidates = [d.candidate for d in route.deployments]
        for attempt in range(self._policy.num_retries + 1):
            if len(tried) >= len(candidates):
                tried.clear()
            chosen = pick(candidates, self._clock(), self._rng.random(), frozenset(tried))
            if chosen is None:
                break
            deployment = route.deployments[chosen.index]
            if failure is not None and deployment is previous:
                delay = backoff_delay(
                    attempt - 1, self._policy, self._rng.random(), failure.retry_after
                )
                waited = time.perf_counter()
                await self._sleep(delay)
                ctx.upstream_s += time.perf_counter() - waited
            upstream_model = deployment.upstream_model(
                requested if route.name == WILDCARD else route.name
            )
            sent, failure = await self._attempt(ctx, deployment, upstream_model, build)
            if sent is not None:
                return sent, None
            tried.add(chosen.index)
            previous = deployment
        return None, failure

    async def _attempt(
        self, ctx: RequestContext, deployment: Deployment, upstream_model: str, build: BuildRequest
    ) -> tuple[Sent | None, _Failure | None]:
        request = build(deployment, upstream_model)
        provider = deployment.provider
        ctx.attempts += 1
        started = time.perf_counter()
        try:
            response = await provider.send(request)
        except (UpstreamUnavailable, UpstreamTimeout) as exc:
            elapsed = time.perf_counter() - started
            ctx.upstream_s += elapsed
            timeout = isinstance(exc, UpstreamTimeout)
            self._record_failure(deployment, exc.message, "timeout" if timeout else "connect", None)
            self._metrics.observe_upstream(provider.name, "error", elapsed)
            return None, _Failure(exc)
        elapsed = time.perf_counter() - started
        ctx.upstream_s += elapsed
        self._metrics.observe_upstream(provider.name, str(response.status), elapsed)
        if response.status < 400 or not is_retryable_status(response.status):
            deployment.stats.record_success(elapsed, self._clock())
            deployment.candidate.health.record_success()
            ctx.provider = provider.name
            ctx.served_model = upstream_model
            return Sent(response, deployment, upstream_model), None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        try:
            detail = _error_message(await response.read())
        except GatewayError as exc:
            detail = exc.message
        finally:
            response.release()
        message = f"provider {provider.name} answered {response.status}: {detail}"
        self._record_failure(deployment, message, f"http_{response.status}", retry_after)
        error: GatewayError
        if response.status == 429:
            headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
            error = RateLimited(message, code="upstream_rate_limited", headers=headers)
        elif response.status in (408, 504):
            error = UpstreamTimeout(message)
        else:
            error = UpstreamUnavailable(message)
        return None, _Failure(error, retry_after)

    def _record_failure(
        self, deployment: Deployment, message: str, reason: str, retry_after: float | None
    ) -> None:
        now = self._clock()
        deployment.stats.record_error(message, now, timeout=reason == "timeout")
        self._metrics.upstream_retries.labels(deployment.provider.name, reason).inc()
        if deployment.candidate.health.record_failure(now, self._policy, retry_after):
            self._metrics.cooldowns.labels(deployment.provider.name, deployment.model_name).inc()
            log.warning(
                "deployment cooling down",
                extra={
                    "deployment": deployment.key,
                    "until_s": round(deployment.candidate.health.cooldown_until - now, 3),
                    "reason": message,
                },
            )

    # -- reporting -------------------------------------------------------------------------------

    def perf(self) -> list[dict[str, Any]]:
        """Per-deployment statistics and cooldown state (for /api/providers/perf)."""
        now = self._clock()
        out = []
        for dep in self.deployments():
            health = dep.candidate.health
            out.append(
                {
                    "deployment": dep.key,
                    "model": dep.model_name,
                    "provider": dep.provider.name,
                    "provider_type": dep.provider.kind,
                    "upstream_model": dep.config.model,
                    "weight": dep.config.weight,
                    "cooling_down": health.cooling(now),
                    "cooldown_remaining_s": round(max(0.0, health.cooldown_until - now), 3),
                    "cooldowns": health.cooldowns,
                    **dep.stats.snapshot(),
                }
            )
        return out

    def provider_summary(self) -> dict[str, dict[str, Any]]:
        """Connectivity per provider from recent traffic: no probes, so /health stays cheap."""
        now = self._clock()
        summary: dict[str, dict[str, Any]] = {}
        for dep in self.deployments():
            entry = summary.setdefault(
                dep.provider.name,
                {"type": dep.provider.kind, "status": "unknown", "deployments": 0, "cooling": 0},
            )
            entry["deployments"] += 1
            if dep.candidate.health.cooling(now):
                entry["cooling"] += 1
            stats = dep.stats
            if stats.last_success_at is not None and (
                stats.last_error_at is None or stats.last_success_at >= stats.last_error_at
            ):
                entry["status"] = "ok" if entry["status"] in ("unknown", "ok") else entry["status"]
            elif stats.last_error_at is not None:
                entry["status"] = "degraded"
                entry["last_error"] = stats.last_error
        for entry in summary.values():
            if entry["deployments"] and entry["cooling"] == entry["deployments"]:
                entry["status"] = "down"
        return summary


def _wildcard_model(provider: str) -> ModelConfig:
    return ModelConfig(name=WILDCARD, deployments=[DeploymentConfig(provider=provider)])


def _error_message(body: bytes) -> str:
    """The message from an upstream error body in either wire format, or a short excerpt."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return body[:200].decode("utf-8", "replace")


def _final_error(model: str, failure: _Failure | None) -> GatewayError:
    if failure is None:
        return UpstreamUnavailable(f"no deployment of model {model!r} could be tried")
    error = failure.error
    prefix = f"model {model!r}: every deployment and fallback failed; last: "
    if isinstance(error, RateLimited):
        return RateLimited(prefix + error.message, code=error.code, headers=error.headers)
    if isinstance(error, UpstreamTimeout):
        return UpstreamTimeout(prefix + error.message)
    if isinstance(error, InvalidRequest):
        return error
    return UpstreamUnavailable(prefix + error.message)
