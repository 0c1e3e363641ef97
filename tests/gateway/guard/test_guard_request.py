"""Request-side guardrails in the proxy, through the official SDKs: a deny refuses the request
before the upstream sees it (in each client's wire format), a redaction rewrites what the upstream
receives, a route sends it to another model, a cache action changes its cache scope; the audit
log and metrics get the verdict, the finding types and counts and the deciding rule, never the
matched text."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import pytest

from support.gateway import ADMIN_KEY
from support.guard_e2e import (
    AWS_KEY,
    EMAIL,
    SSN,
    audit_row,
    guarded_gateway,
    metric,
    policy,
    rule,
)
from support.scripted_upstream import CLAUDE, MODEL, ScriptedUpstream

NO_SECRETS = policy(
    "no-secrets",
    rule(
        "block-keys",
        "findings.has('aws_access_key') || findings.has('us_ssn')",
        {"type": "deny", "message": "prompts may not carry credentials or SSNs"},
    ),
)


def _openai(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=ADMIN_KEY, max_retries=0)


def _anthropic(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url + "/anthropic", api_key=ADMIN_KEY, max_retries=0)


async def test_a_deny_refuses_before_the_upstream_in_the_openai_wire(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_SECRETS]) as gw:
        async with _openai(gw.url) as sdk:
            with pytest.raises(openai.PermissionDeniedError) as refused:
                await sdk.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": f"my key is {AWS_KEY}, fix my CLI"}],
                )
            fine = await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "How do I rotate a key?"}]
            )
        error = refused.value
        assert error.status_code == 403
        assert error.code == "policy_violation"
        assert "prompts may not carry credentials" in error.message
        assert fine.choices[0].message.content
        assert up.calls() == 1, "the refused request must never reach the upstream"
        request_id = error.response.headers["x-smartflow-request-id"]
        row = await audit_row(gw, request_id)
        assert row["compliance"] == "block"
        assert row["findings"] == "aws_access_key=1"
        assert row["policy"] == "no-secrets@1:block-keys"
        assert row["policy_action"] == "deny"
        assert row["status"] == 403
        assert AWS_KEY not in str(row)
        assert await metric(gw, "smartflow_compliance_verdicts_total", verdict="block") == 1
        assert (
            await metric(
                gw,
                "smartflow_compliance_findings_total",
                type="aws_access_key",
                direction="prompt",
            )
            == 1
        )
        assert (
            await metric(
                gw,
                "smartflow_policy_decisions_total",
                policy="no-secrets",
                action="deny",
                mode="enforce",
            )
            == 1
        )


async def test_a_deny_in_the_anthropic_wire(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_SECRETS]) as gw:
        async with _anthropic(gw.url) as sdk:
            with pytest.raises(anthropic.PermissionDeniedError) as refused:
                await sdk.messages.create(
                    model=CLAUDE,
                    max_tokens=64,
                    messages=[{"role": "user", "content": f"My SSN is {SSN}; is it valid?"}],
                )
        assert refused.value.status_code == 403
        body = refused.value.body
        assert isinstance(body, dict)
        assert body["type"] == "error"
        assert body["error"]["type"] == "permission_error"
        assert up.calls() == 0


async def test_a_redaction_rewrites_what_the_upstream_receives(tmp_path: Path) -> None:
    redact = policy(
        "mask-contacts",
        rule("emails", "findings.has('email')", {"type": "redact", "types": ["email"]}),
    )
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [redact]) as gw:
        async with _openai(gw.url) as sdk:
            raw = await sdk.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": "You are a support agent."},
                    {"role": "user", "content": f"Please email {EMAIL} the invoice."},
                ],
            )
        assert raw.parse().choices[0].message.content
        sent = up.seen[-1].body["messages"]
        assert sent[0]["content"] == "You are a support agent."
        assert sent[1]["content"] == "Please email [REDACTED:email] the invoice."
        row = await audit_row(gw, raw.headers["x-smartflow-request-id"])
        assert row["policy_action"] == "redact"
        assert row["findings"] == "email=1"
        assert EMAIL not in str(row)


async def test_a_route_sends_the_request_to_another_model(tmp_path: Path) -> None:
    route = policy(
        "sensitive-to-gpt-4o",
        rule("pii", "findings.total > 0", {"type": "route", "model": "gpt-4o"}),
    )
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [route]) as gw:
        async with _openai(gw.url) as sdk:
            await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"Write to {EMAIL}"}]
            )
            await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Write a haiku"}]
            )
        assert [seen.body["model"] for seen in up.seen] == ["gpt-4o", MODEL]


async def test_cache_actions_change_the_scope_or_bypass_it(tmp_path: Path) -> None:
    scoped = policy(
        "cache-scope",
        rule("fresh", "metadata.fresh == 'yes'", {"type": "cache", "bypass": True}),
        rule("shared", "true", {"type": "cache", "namespace": "kb"}),
    )
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [scoped]) as gw:
        question = [{"role": "user", "content": "What are your opening hours?"}]
        async with _openai(gw.url) as sdk:
            first = await sdk.chat.completions.with_raw_response.create(
                model=MODEL, messages=question
            )
            second = await sdk.chat.completions.with_raw_response.create(
                model=MODEL, messages=question
            )
            fresh = await sdk.chat.completions.with_raw_response.create(
                model=MODEL, messages=question, metadata={"fresh": "yes"}, store=True
            )
        assert first.headers["x-smartflow-cache"] == "miss"
        assert second.headers["x-smartflow-cache"] == "hit-exact"
        assert fresh.headers["x-smartflow-cache"] == "bypass"
        assert up.calls() == 2
        namespaces = gw.state.cache.snapshot()["namespaces"] if gw.state.cache else []
        assert [row["namespace"] for row in namespaces] == ["policy:kb"]


async def test_an_unbound_policy_does_nothing_and_shadow_only_records(tmp_path: Path) -> None:
    elsewhere = {**NO_SECRETS, "name": "elsewhere", "bound_to": {"teams": ["finance"]}}
    shadow = {**NO_SECRETS, "name": "trial", "mode": "shadow"}
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [elsewhere, shadow]) as gw:
        async with _openai(gw.url) as sdk:
            answer = await sdk.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": f"key {AWS_KEY}"}]
            )
        assert answer.status_code == 200
        assert up.calls() == 1
        row = await audit_row(gw, answer.headers["x-smartflow-request-id"])
        assert row["policy"] == "trial@1:block-keys"
        assert row["policy_action"] == "shadow:deny"
        assert row["compliance"] == "flag"
        assert row["findings"] == "aws_access_key=1"
        assert (
            await metric(
                gw,
                "smartflow_policy_decisions_total",
                policy="trial",
                action="deny",
                mode="shadow",
            )
            == 1
        )
