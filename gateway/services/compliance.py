"""SERVICE_TYPE=compliance (:7777), also mounted by `all`: the scan API, learning feedback and
organisations' baselines.

Every route but the health probe needs `Authorization: Bearer $ADMIN_API_KEY` and answers errors
as OpenAI-shaped JSON (`api_server.admin_endpoint`). The scanned text is never logged, stored or
echoed: responses carry types, spans and counts; feedback stores an HMAC digest of the value.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from gateway.compliance.baseline import Baseline, Feedback, Verdict
from gateway.compliance.baseline_store import BaselineCache, BaselineStore, open_baseline_store
from gateway.compliance.config import GuardrailConfig, Profile
from gateway.compliance.engine import ComplianceEngine, scan_bounded
from gateway.compliance.findings import Direction, Finding
from gateway.compliance.injection import FLAG_CONFIDENCE
from gateway.core.errors import GatewayError, InvalidRequest, NotFound, ServiceUnavailable
from gateway.pipeline.state import STATE, GatewayState
from gateway.services.api_server import add_admin_routes, add_openapi
from gateway.services.compliance_openapi import OPENAPI_PATHS, ORG_PATTERN, THRESHOLD_KEY_PATTERN
from gateway.services.keys_api import json_response, read_model
from gateway.services.openapi import model_schemas
from gateway.services.policy_api import POLICIES

BASE = "/api/compliance"
MAX_TEXT_CHARS = 1_048_576
MAX_THRESHOLDS = 200

Org = Annotated[str, Field(min_length=1, max_length=128, pattern=ORG_PATTERN)]
ThresholdKey = Annotated[str, Field(min_length=1, max_length=64, pattern=THRESHOLD_KEY_PATTERN)]
Confidence = Annotated[float, Field(ge=0, le=1)]
_ORG = re.compile(ORG_PATTERN)


@dataclass(slots=True)
class ComplianceRuntime:
    """What the handlers (and the proxy's guard stage) share; the store parts are filled in
    while the app runs. `engine` pins an engine; None scans with the guardrails in force (the
    policy set's engine), or the defaults where no policy store is open."""

    engine: ComplianceEngine | None = None
    store: BaselineStore | None = None
    baselines: BaselineCache | None = None
    backend: str | None = None


COMPLIANCE = web.AppKey("smartflow_compliance", ComplianceRuntime)
DEFAULT_ENGINE = ComplianceEngine(GuardrailConfig())


class ScanTimeout(GatewayError):
    status = 504
    openai_type = "api_error"
    anthropic_type = "timeout_error"
    default_code = "scan_timeout"


class ComplianceScanRequest(BaseModel):
    """Text to scan; `org` applies that organisation's baseline."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT_CHARS)
    direction: Direction = "prompt"
    org: Org | None = None
    profile: Profile | None = None


class ComplianceFeedbackRequest(BaseModel):
    """A verdict on the finding of `type` at `start`..`end` of `text` (the text is re-scanned;
    only the HMAC digest of the value is kept)."""

    model_config = ConfigDict(extra="forbid")

    org: Org
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    start: int = Field(ge=0, le=MAX_TEXT_CHARS)
    end: int = Field(ge=1, le=MAX_TEXT_CHARS)
    type: str = Field(min_length=1, max_length=64)
    verdict: Verdict
    direction: Direction = "prompt"


class ComplianceThresholds(RootModel[dict[ThresholdKey, Confidence]]):
    """Confidence floors by finding type or scanner; replaces the organisation's manual set."""

    model_config = ConfigDict(
        json_schema_extra={
            "additionalProperties": False,
            "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": THRESHOLD_KEY_PATTERN},
        }
    )

    root: dict[ThresholdKey, Confidence] = Field(max_length=MAX_THRESHOLDS)


def _runtime(request: web.Request) -> ComplianceRuntime:
    return request.app[COMPLIANCE]


def engine_of(app: web.Application) -> ComplianceEngine:
    """The engine scans run with: pinned, else the guardrails in force, else the defaults."""
    runtime = app.get(COMPLIANCE)
    if runtime is not None and runtime.engine is not None:
        return runtime.engine
    policies = app.get(POLICIES)
    if policies is not None and policies.policies is not None:
        return policies.policies.engine
    return DEFAULT_ENGINE


def _store(runtime: ComplianceRuntime) -> BaselineStore:
    if runtime.store is None:
        raise ServiceUnavailable("the compliance baseline store is not open on this service")
    return runtime.store


def _org(request: web.Request) -> str:
    org = request.match_info["org"]
    if len(org) > 128 or not _ORG.fullmatch(org):
        raise InvalidRequest(f"org: must match {ORG_PATTERN}", param="org")
    return org


async def _scan(
    request: web.Request,
    state: GatewayState,
    text: str,
    *,
    direction: Direction,
    profile: Profile | None,
    baseline: Baseline | None = None,
) -> list[Finding]:
    timeout_s = state.settings.compliance_timeout_secs
    try:
        return await scan_bounded(
            engine_of(request.app),
            text,
            timeout_s=timeout_s,
            direction=direction,
            profile=profile,
            baseline=baseline,
        )
    except TimeoutError:
        raise ScanTimeout(
            f"the scan took longer than COMPLIANCE_TIMEOUT_SECS ({timeout_s:g} s)"
        ) from None


def summary(baseline: Baseline) -> dict[str, Any]:
    """An organisation's baseline as the API shows it: counts and thresholds, no digests."""
    return {
        "org": baseline.org,
        "allowed_count": len(baseline.allowed),
        "thresholds": dict(sorted(baseline.thresholds.items())),
        "manual_thresholds": dict(sorted(baseline.manual_thresholds.items())),
        "feedback": dict(baseline.feedback_counts),
    }


async def scan(request: web.Request, state: GatewayState) -> web.Response:
    runtime = _runtime(request)
    body = await read_model(request, ComplianceScanRequest)
    baseline = None
    if body.org is not None:
        cache = runtime.baselines
        if cache is None:
            raise ServiceUnavailable("the compliance baseline store is not open on this service")
        baseline = await cache.get(body.org)
    started = time.perf_counter()
    findings = await _scan(
        request,
        state,
        body.text,
        direction=body.direction,
        profile=body.profile,
        baseline=baseline,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.type] = counts.get(finding.type, 0) + 1
    flagged = any(f.confidence >= FLAG_CONFIDENCE for f in findings)
    return json_response(
        {
            "findings": [f.as_dict() for f in findings],
            "verdict": "flag" if flagged else "pass",
            "counts": counts,
            "scan_ms": round(elapsed_ms, 3),
        }
    )


async def feedback(request: web.Request, state: GatewayState) -> web.Response:
    runtime = _runtime(request)
    store = _store(runtime)
    body = await read_model(request, ComplianceFeedbackRequest)
    # every scanner, no baseline: a value already allow-listed can still be confirmed
    findings: list[Finding] = []
    if body.start < body.end <= len(body.text):
        findings = await _scan(request, state, body.text, direction=body.direction, profile="full")
    match = next(
        (f for f in findings if (f.type, f.start, f.end) == (body.type, body.start, body.end)),
        None,
    )
    if match is None:
        raise NotFound(_no_finding(body, findings), param="start", code="no_such_finding")
    current = await store.baseline(body.org)
    value = body.text[match.start : match.end]
    row = Feedback(
        body.org, match.type, match.scanner, match.confidence,
        current.digest(match.type, value), body.verdict,
    )  # fmt: skip
    updated = await store.record(row)
    if runtime.baselines is not None:
        runtime.baselines.forget()
    return json_response(summary(updated))


def _no_finding(body: ComplianceFeedbackRequest, findings: list[Finding]) -> str:
    """Why the span names no finding: types and spans only, never the text."""
    message = f"no finding of type {body.type!r} at {body.start}..{body.end} in the text"
    if body.end > len(body.text):
        return f"{message}: the text has {len(body.text)} characters"
    if body.start >= body.end:
        return f"{message}: start must be less than end"
    there = [
        f"{f.type} at {f.start}..{f.end}"
        for f in findings
        if f.start < body.end and f.end > body.start
    ]
    return f"{message} (findings there: {', '.join(there)})" if there else message


async def get_baseline(request: web.Request, state: GatewayState) -> web.Response:
    org = _org(request)
    return json_response(summary(await _store(_runtime(request)).baseline(org)))


async def put_thresholds(request: web.Request, state: GatewayState) -> web.Response:
    runtime = _runtime(request)
    org = _org(request)
    store = _store(runtime)
    body = await read_model(request, ComplianceThresholds)
    updated = await store.set_thresholds(org, body.root)
    if runtime.baselines is not None:
        runtime.baselines.forget()
    return json_response(summary(updated))


async def intelligent_health(request: web.Request) -> web.Response:
    """Unauthenticated, for probes: what this service scans with."""
    settings = request.app[STATE].settings
    runtime = request.app.get(COMPLIANCE)
    config = engine_of(request.app).config
    return web.json_response(
        {
            "status": "ok",
            "service": "compliance",
            "timeout_secs": settings.compliance_timeout_secs,
            "scanners": list(config.scanners),
            "profile": config.profile,
            "baseline_store": runtime.backend if runtime is not None else None,
        }
    )


ROUTES = (
    ("POST", BASE + "/scan", scan),
    ("POST", BASE + "/feedback", feedback),
    ("GET", BASE + "/baselines/{org}", get_baseline),
    ("PUT", BASE + "/baselines/{org}/thresholds", put_thresholds),
)


def runtime_of(app: web.Application) -> ComplianceRuntime:
    runtime = app.get(COMPLIANCE)
    if runtime is None:
        runtime = app[COMPLIANCE] = ComplianceRuntime()
    return runtime


def add_baseline_context(app: web.Application) -> ComplianceRuntime:
    """Open the baseline store with the app (once, however often called): the compliance
    service and the proxy's guard stage share `app[COMPLIANCE].baselines`."""
    runtime = runtime_of(app)
    if baseline_store_context not in app.cleanup_ctx:
        app.cleanup_ctx.append(baseline_store_context)
    return runtime


def setup(app: web.Application) -> None:
    """Mount the compliance routes (and the baseline store, if not yet added)."""
    add_baseline_context(app)
    app.router.add_get(BASE + "/intelligent/health", intelligent_health)
    add_admin_routes(app, ROUTES)
    add_openapi(
        app,
        OPENAPI_PATHS,
        model_schemas(
            (model, "validation")
            for model in (ComplianceScanRequest, ComplianceFeedbackRequest, ComplianceThresholds)
        ),
    )


async def baseline_store_context(app: web.Application) -> AsyncIterator[None]:
    """PostgreSQL with DATABASE_URL, else SQLite in the data directory."""
    runtime = app[COMPLIANCE]
    settings = app[STATE].settings
    async with open_baseline_store(settings) as store:
        runtime.store = store
        runtime.baselines = BaselineCache(store, every_s=settings.compliance.refresh_s)
        runtime.backend = "postgres" if settings.database_url else "sqlite"
        try:
            yield
        finally:
            runtime.store = runtime.baselines = runtime.backend = None
