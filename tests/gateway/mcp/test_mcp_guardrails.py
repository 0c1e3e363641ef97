"""The compliance policies of issue 14 on tool calls: a policy bound to `mcp:*` refuses a call
whose arguments carry an SSN before the upstream sees it, redacts an e-mail address in the
arguments the upstream receives, and redacts one in a result before the client sees it (cache
hits included); the audit record carries the findings and the deciding rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp_e2e import admin, audit_rows, create_key, mcp_gateway, register, sdk_client, settle

from gateway.core.mcp_protocol import FORBIDDEN

from support.mcp_servers import demo_server, serve_mcp

pytestmark = pytest.mark.e2e

SSN = "536-22-8147"  # checksum-valid fake
EMAIL = "jane.doe@example.com"
POLICY_ENV = {"SMARTFLOW_POLICY_REFRESH_SECS": "0.05", "SMARTFLOW_CACHE_EMBEDDER": "none"}


def _policy(name: str, models: list[str], *rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "bound_to": {"models": models}, "rules": list(rules)}


DENY_SSN = {
    "name": "ssn",
    "when": "findings.has('us_ssn')",
    "action": {"type": "deny", "message": "no SSNs in tool calls"},
}


def _redact_email(direction: str) -> dict[str, Any]:
    return {
        "name": f"email-{direction}",
        "when": f"direction == '{direction}' && findings.has('email')",
        "action": {"type": "redact", "types": ["email"]},
    }


async def _apply(gw: Any, document: dict[str, Any]) -> None:
    await admin(gw, "POST", "/api/policies", document)
    assert gw.state.policies is not None
    await gw.state.policies.refresh()


def _text(result: Any) -> str:
    return str(result.content[0].text)


async def test_arguments_refused_or_redacted_before_the_upstream(tmp_path: Path) -> None:
    async with (
        serve_mcp(demo_server("alpha")) as alpha,
        mcp_gateway(tmp_path, POLICY_ENV) as gw,
    ):
        await register(gw, "alpha", alpha.url)
        await _apply(gw, _policy("tool-pii", ["mcp:*"], DENY_SSN, _redact_email("prompt")))
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp/alpha", key, "auto") as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("echo", {"text": f"my SSN is {SSN}"})
            assert refused.value.error.code == FORBIDDEN
            assert "no SSNs in tool calls" in refused.value.error.message
            assert alpha.calls["echo"] == 0  # the upstream never saw it
            echoed = await client.call_tool("echo", {"text": f"write to {EMAIL} today"})
            assert _text(echoed) == "write to [REDACTED:email] today"  # what the upstream got
            plain = await client.call_tool("echo", {"text": "nothing to see"})
            assert _text(plain) == "nothing to see"
        await settle()
        rows = await audit_rows(gw, 3, route="mcp", tool="echo")
    by_status = {row["status"]: row for row in rows}
    denied = by_status[403]
    assert denied["error_code"] == "policy_violation"
    assert denied["compliance"] == "block" and denied["findings"] == "us_ssn=1"
    assert denied["policy"].startswith("tool-pii@") and denied["policy"].endswith(":ssn")
    redacted = [row for row in rows if row["status"] == 200 and row["findings"]]
    assert [row["policy_action"] for row in redacted] == ["redact"]


async def test_results_redacted_for_the_client_cache_hits_included(tmp_path: Path) -> None:
    async with (
        serve_mcp(demo_server("alpha")) as alpha,
        mcp_gateway(tmp_path, POLICY_ENV) as gw,
    ):
        await register(gw, "alpha", alpha.url)
        await _apply(gw, _policy("tool-results", ["mcp:alpha__*"], _redact_email("response")))
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp/alpha", key, "legacy") as client:
            for _ in range(2):  # echo is read-only: the second answer is a cache hit
                echoed = await client.call_tool("echo", {"text": f"mail {EMAIL}"})
                assert _text(echoed) == "mail [REDACTED:email]"
        assert alpha.calls["echo"] == 1  # the upstream got the address: only results are bound


async def test_policies_bound_elsewhere_leave_tool_calls_alone(tmp_path: Path) -> None:
    async with (
        serve_mcp(demo_server("alpha")) as alpha,
        mcp_gateway(tmp_path, POLICY_ENV) as gw,
    ):
        await register(gw, "alpha", alpha.url)
        await _apply(gw, _policy("chat-only", ["gpt-4o"], DENY_SSN))
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp/alpha", key, "auto") as client:
            echoed = await client.call_tool("echo", {"text": f"my SSN is {SSN}"})
            assert _text(echoed) == f"my SSN is {SSN}"
        assert alpha.calls["echo"] == 1
