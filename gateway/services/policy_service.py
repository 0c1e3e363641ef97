"""SERVICE_TYPE=policy-perfect (:7782), also mounted by `all`: the policy dry run and validation.

`POST /api/policy/evaluate` answers "what would this policy do with this request, and why": it
scans the request's text (and an optional response text) with the guardrail settings in force,
builds the context the proxy would, and returns the decision, every rule with whether its
condition held (not just the first), and the findings by type: counts and confidence, never the
matched text. `POST /api/policy/validate` checks a document without storing it. Both need the
admin key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.compliance.engine import ComplianceEngine, Profile
from gateway.compliance.findings import Direction, Finding
from gateway.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from gateway.core.pricing import MAX_COUNTED_TOKENS, estimate_prompt_tokens, estimated_cost
from gateway.core.scan_text import request_text
from gateway.pipeline.state import GatewayState
from gateway.policy.compile import CompiledPolicy, compile_policy
from gateway.policy.evaluate import evaluate, explain, profile
from gateway.policy.model import (
    WEEKDAYS,
    Decision,
    FindingStat,
    KeyInfo,
    PolicyContext,
    summarize_findings,
)
from gateway.services import policy_api
from gateway.services.api_server import add_admin_routes, add_openapi
from gateway.services.keys_api import AdminHandler, json_response, read_model

ROUTES_BY_WIRE = {"openai": ("chat", "completions", "embeddings"), "anthropic": ("messages",)}
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class KeyBody(BaseModel):
    """The virtual key the request is imagined to come with."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default="", max_length=200)
    team: str = Field(default="", max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


class EvaluateBody(BaseModel):
    """A dry run. Left out: `model` is the request's, `tokens` and `cost` are estimated as the
    proxy does, `hour` and `weekday` are now (UTC), `metadata` is the request's."""

    model_config = ConfigDict(extra="forbid")

    policy: str | dict[str, Any]
    request: dict[str, Any]
    wire: Literal["openai", "anthropic"] = "openai"
    route: Literal["chat", "completions", "embeddings", "messages"] | None = None
    key: KeyBody = Field(default_factory=KeyBody)
    response: str | None = None
    model: str | None = None
    hour: int | None = Field(default=None, ge=0, le=23)
    weekday: Weekday | None = None
    tokens: int | None = Field(default=None, ge=0, le=MAX_COUNTED_TOKENS)
    cost: float | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action.model_dump(mode="json"),
        "rule": decision.rule,
        "reason": decision.reason,
        "shadow": decision.shadow,
        "policy": decision.policy,
        "version": decision.version,
        "bound": decision.bound,
    }


def findings_json(findings: dict[str, FindingStat]) -> dict[str, dict[str, float | int]]:
    return {
        kind: {"count": stat.count, "confidence": round(stat.confidence, 4)}
        for kind, stat in sorted(findings.items())
    }


def judged(policy: CompiledPolicy, context: PolicyContext) -> dict[str, Any]:
    """The decision, every rule's match and the findings for one direction."""
    matches = dict(explain(policy, context))
    rules = [
        {
            "name": rule.name,
            "when": rule.when,
            "action": rule.action.type,
            "matched": matches[rule.name],
        }
        for rule in policy.policy.rules
    ]
    return {
        "decision": decision_json(evaluate(policy, context)),
        "rules": rules,
        "findings": findings_json(dict(context.findings)),
    }


async def _policy(request: web.Request, chosen: str | dict[str, Any]) -> CompiledPolicy:
    if isinstance(chosen, dict):
        return compile_policy(chosen)
    _, policies = policy_api.runtime_of(request)
    await policies.refresh()  # a write through another replica's API shows at once
    compiled = policies.get(chosen)
    if compiled is None:
        raise NotFound(f"no active policy named '{chosen}'", param="policy")
    return compiled


def _route(body: EvaluateBody) -> str:
    allowed = ROUTES_BY_WIRE[body.wire]
    route = body.route or allowed[0]
    if route not in allowed:
        raise InvalidRequest(
            f"route: '{route}' is not a route of the {body.wire} wire (one of "
            f"{', '.join(allowed)})",
            param="route",
        )
    return route


def base_context(body: EvaluateBody, state: GatewayState, now: float) -> PolicyContext:
    """What the proxy's conditions would see before the scan (see pipeline.guard_stage)."""
    request = body.request
    model = body.model if body.model is not None else request.get("model")
    model = model if isinstance(model, str) else ""
    tokens = body.tokens if body.tokens is not None else estimate_prompt_tokens(request)
    cost = body.cost
    if cost is None:
        cost = estimated_cost(state.prices.price(model), tokens, request)
    clock = time.gmtime(now)
    metadata = body.metadata if body.metadata is not None else request.get("metadata")
    return PolicyContext(
        key=KeyInfo(body.key.id, body.key.team, body.key.metadata),
        model=model,
        route=_route(body),
        tokens=tokens,
        cost=cost,
        hour=body.hour if body.hour is not None else clock.tm_hour,
        weekday=body.weekday or WEEKDAYS[clock.tm_wday],
        metadata=metadata if isinstance(metadata, dict) else {},
    )


async def _scan(
    engine: ComplianceEngine,
    text: str,
    direction: Direction,
    chosen: Profile,
    timeout_s: float,
) -> list[Finding]:
    """On the loop when the engine says it is cheap, else in a thread under the timeout."""
    if engine.inline_ok(text):
        return engine.scan(text, direction=direction, profile=chosen)
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(engine.scan, text, direction=direction, profile=chosen), timeout_s
        )
    except TimeoutError:
        raise ServiceUnavailable(
            f"the compliance scan took longer than {timeout_s:g} s", code="compliance_timeout"
        ) from None


async def evaluate_policy(request: web.Request, state: GatewayState) -> web.Response:
    body = await read_model(request, EvaluateBody)
    compiled = await _policy(request, body.policy)
    _, policies = policy_api.runtime_of(request)
    engine = policies.engine
    base = base_context(body, state, time.time())
    chosen = profile(compiled, base) or engine.config.profile
    timeout_s = state.settings.compliance_timeout_secs
    text = request_text(body.request, body.wire, base.route).text
    found = await _scan(engine, text, "prompt", chosen, timeout_s)
    prompt = dataclasses.replace(base, findings=summarize_findings(found))
    result: dict[str, Any] = {
        "policy": {
            "name": compiled.policy.name,
            "version": compiled.policy.version,
            "mode": compiled.policy.mode,
        },
        "profile": chosen,
        **judged(compiled, prompt),
    }
    if body.response is not None:
        found = await _scan(engine, body.response, "response", chosen, timeout_s)
        answer = dataclasses.replace(base, direction="response", findings=summarize_findings(found))
        result["response"] = judged(compiled, answer)
    return json_response(result)


class ValidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any]


async def validate_policy(request: web.Request, state: GatewayState) -> web.Response:
    body = await read_model(request, ValidateBody)
    policy = compile_policy(body.document).policy
    return json_response(
        {
            "valid": True,
            "name": policy.name,
            "version": policy.version,
            "mode": policy.mode,
            "rules": [rule.name for rule in policy.rules],
        }
    )


ROUTES: tuple[tuple[str, str, AdminHandler], ...] = (
    ("POST", "/api/policy/evaluate", evaluate_policy),
    ("POST", "/api/policy/validate", validate_policy),
)


def setup(app: web.Application) -> None:
    """Mount the dry-run routes (and open the policy store with the app, once)."""
    from gateway.services import policy_openapi  # it imports this module's models

    policy_api.add_policy_context(app)
    add_admin_routes(app, ROUTES)
    add_openapi(app, policy_openapi.DRY_RUN_PATHS, policy_openapi.OPENAPI_SCHEMAS)
