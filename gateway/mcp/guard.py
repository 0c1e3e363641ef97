"""Guardrails on tool calls: the compliance policies of issue 14 applied to a call's arguments
(before the upstream sees them) and to its result (before the client does).

A policy binds a tool call as it binds a chat request: by the caller's key, team, or the key's
named policy, or by "model", which for a tool call is `mcp:<server>__<tool>` (so a binding of
`mcp:*` covers every tool, `mcp:files__*` one server's). Arguments are judged in the prompt
direction, results in the response direction. A deny refuses the call with a FORBIDDEN error
whose data code is `policy_violation`; a redact rewrites the string values that held the
finding (the arguments stay valid JSON) or the result's text. With no policy binding the call
nothing is scanned: tool traffic is not scanned after the response, for the record, as chat is.
Results are judged on every answer, cache hits included (the cache keeps what the tool said).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.compliance.findings import Direction, Finding
from gateway.core.errors import ComplianceTimeout, PolicyViolation
from gateway.core.mcp_protocol import FORBIDDEN, UPSTREAM_UNAVAILABLE, RpcError
from gateway.core.scan_json import redact_json_text, redact_plain
from gateway.pipeline.context import RequestContext
from gateway.pipeline.guard_judge import Guard, deny_message, judge, scan, spans_of
from gateway.pipeline.guard_stage import open_guard
from gateway.pipeline.state import GatewayState
from gateway.policy.combine import Verdict

MODEL_PREFIX = "mcp:"


def tool_model(server: str, tool: str) -> str:
    """What a policy's `models` binding matches for a tool call."""
    return f"{MODEL_PREFIX}{server}__{tool}"


async def tool_guard(
    state: GatewayState, ctx: RequestContext, arguments: dict[str, Any]
) -> Guard | None:
    """The guard of a tool call some enforced or shadow policy binds; None otherwise."""
    if state.policies is None:
        return None
    guard = await open_guard(ctx, state, {"arguments": arguments}, "mcp")
    if guard is None or not guard.policies:
        ctx.guard = None
        return None
    return guard


async def check_arguments(
    state: GatewayState, ctx: RequestContext, guard: Guard, arguments: dict[str, Any]
) -> dict[str, Any]:
    """The arguments to send upstream: as given, redacted, or refused (raises RpcError)."""
    text = orjson.dumps(arguments).decode()
    findings = await _scan(state, ctx, guard, text, "prompt")
    if findings is None:
        return arguments
    verdict = _verdict(state, ctx, guard, findings, "prompt")
    spans = spans_of(findings, verdict.redact_types()) if verdict.redact else []
    if not spans:
        return arguments
    redacted = redact_json_text(text, spans, verdict.replacement())
    if redacted is None:  # cannot happen for text orjson wrote; refuse rather than leak
        raise RpcError(FORBIDDEN, "refused by policy", {"code": "policy_violation"})
    loaded: dict[str, Any] = orjson.loads(redacted)
    return loaded


async def check_result(
    state: GatewayState, ctx: RequestContext, guard: Guard, result: dict[str, Any]
) -> dict[str, Any]:
    """The result to answer with: its text content and structured content judged together."""
    pieces = _texts(result)
    if not pieces:
        return result
    found: list[list[Finding]] = []
    for _, text in pieces:
        findings = await _scan(state, ctx, guard, text, "response")
        if findings is None:
            return result
        found.append(findings)
    verdict = _verdict(state, ctx, guard, [f for group in found for f in group], "response")
    if not verdict.redact:
        return result
    types, mode = verdict.redact_types(), verdict.replacement()
    content = list(result.get("content") or [])
    out = dict(result)
    for (where, text), findings in zip(pieces, found, strict=True):
        spans = spans_of(findings, types)
        if not spans:
            continue
        if where == -1:
            redacted = redact_json_text(text, spans, mode)
            out["structuredContent"] = orjson.loads(redacted) if redacted is not None else None
        else:
            content[where] = {**content[where], "text": redact_plain(text, spans, mode)}
    out["content"] = content
    return out


def _texts(result: dict[str, Any]) -> list[tuple[int, str]]:
    """(index in `content`, text) of each text item; -1 for the structured content's JSON."""
    pieces: list[tuple[int, str]] = []
    content = result.get("content")
    if isinstance(content, list):
        for index, item in enumerate(content):
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                pieces.append((index, item["text"]))
    structured = result.get("structuredContent")
    if structured is not None:
        pieces.append((-1, orjson.dumps(structured).decode()))
    return pieces


async def _scan(
    state: GatewayState, ctx: RequestContext, guard: Guard, text: str, direction: Direction
) -> list[Finding] | None:
    try:
        return await scan(ctx, state, guard, text, direction)
    except ComplianceTimeout as exc:
        data = {"code": "compliance_timeout"}
        raise RpcError(UPSTREAM_UNAVAILABLE, exc.message, data) from None


def _verdict(
    state: GatewayState,
    ctx: RequestContext,
    guard: Guard,
    findings: list[Finding],
    direction: Direction,
) -> Verdict:
    verdict = judge(ctx, state, guard, findings, direction)
    if verdict.deny is not None:  # enforced decisions only: shadow ones are recorded
        data = {"code": PolicyViolation.default_code}
        raise RpcError(FORBIDDEN, deny_message(verdict), data)
    return verdict
