"""Helpers of the guardrail tests: a gateway whose config file holds policies (and guardrail
settings), in front of the scripted upstream, with the official SDKs as clients."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway
from support.scripted_upstream import ScriptedUpstream, scripted_config

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
FAST_REFRESH = {"SMARTFLOW_POLICY_REFRESH_SECS": "0.05", "SMARTFLOW_CACHE_EMBEDDER": "none"}
# documented example or checksum-valid fakes: nothing here is a real credential or person
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SSN = "536-22-8147"
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"


def policy(name: str, *rules: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "rules": [dict(rule) for rule in rules], **fields}


def rule(name: str, when: str, action: Any) -> dict[str, Any]:
    return {"name": name, "when": when, "action": action}


@asynccontextmanager
async def guarded_gateway(
    tmp_path: Path,
    up: ScriptedUpstream,
    policies: Sequence[Mapping[str, Any]] = (),
    *,
    guardrails: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningGateway]:
    config: dict[str, Any] = {**scripted_config(up), "policies": [dict(p) for p in policies]}
    if guardrails is not None:
        config["guardrails"] = dict(guardrails)
    async with running_gateway(tmp_path, config, {**FAST_REFRESH, **(env or {})}) as gw:
        assert gw.state.policies is not None, "the guardrails did not start"
        yield gw


async def audit_row(gw: RunningGateway, request_id: str) -> dict[str, Any]:
    """The audit record of one request (written in batches: polled until it is there)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(
                gw.url + "/api/audit", params={"limit": "200"}, headers=ADMIN
            ) as response:
                assert response.status == 200
                page = await response.json()
            for row in page["records"]:
                if row["request_id"] == request_id:
                    return dict(row)
            await asyncio.sleep(0.05)
    raise AssertionError(f"no audit record for {request_id}")


async def metric(gw: RunningGateway, name: str, **labels: str) -> float:
    """The value of one sample in /metrics (0 when the labelled child does not exist yet)."""
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/metrics") as response:
        text = await response.text()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0
