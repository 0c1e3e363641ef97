"""Agent cards as the gateway serves them: an upstream agent's card rewritten to point at the
gateway, and the gateway's own card listing the agents a key may reach.

Cards are handled as JSON, in the shape the A2A SDK serves them: A2A 1.0's protobuf JSON
(`supportedInterfaces` with `protocolBinding`/`protocolVersion`, `securitySchemes` holding e.g.
`httpAuthSecurityScheme`, `securityRequirements`) and, for agents still on 0.3, the older shape
(`url` + `preferredTransport`, `security`). A rewritten card keeps the agent's own description,
skills and capabilities; what changes is where to call it (the gateway, JSON-RPC only: the binding
the gateway proxies) and how to authenticate (a Smartflow virtual key as an HTTP bearer token).
The upstream's signatures are dropped: they would not verify over the rewritten card. Pure.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

JSONRPC = "JSONRPC"
SCHEME = "smartflow"
BEARER_DESCRIPTION = "A Smartflow virtual key, sent as 'Authorization: Bearer <key>'"
GATEWAY_VERSION_FALLBACK = "1.0"


def _major(version: Any) -> int:
    try:
        return int(str(version).split(".", 1)[0])
    except ValueError:
        return -1


def _jsonrpc_interfaces(card: dict[str, Any]) -> list[dict[str, Any]]:
    interfaces = card.get("supportedInterfaces")
    if not isinstance(interfaces, list):
        return []
    return [
        i
        for i in interfaces
        if isinstance(i, dict)
        and i.get("protocolBinding") == JSONRPC
        and isinstance(i.get("url"), str)
    ]


def jsonrpc_url(card: dict[str, Any]) -> str | None:
    """Where the agent takes JSON-RPC: its 1.0 interface first, else any JSON-RPC one, else (a 0.3
    card) its main URL when that is JSON-RPC, else a JSON-RPC additional interface."""
    interfaces = _jsonrpc_interfaces(card)
    if interfaces:
        current = [i for i in interfaces if _major(i.get("protocolVersion")) == 1]
        return str((current or interfaces)[0]["url"])
    url = card.get("url")
    if isinstance(url, str) and card.get("preferredTransport", JSONRPC) == JSONRPC:
        return url
    for extra in card.get("additionalInterfaces") or []:
        if isinstance(extra, dict) and extra.get("transport") == JSONRPC:
            found = extra.get("url")
            if isinstance(found, str):
                return found
    return None


def _bearer_schemes() -> dict[str, Any]:
    return {
        SCHEME: {"httpAuthSecurityScheme": {"scheme": "bearer", "description": BEARER_DESCRIPTION}}
    }


def _drop_skill_security(card: dict[str, Any], key: str) -> None:
    for skill in card.get("skills") or []:
        if isinstance(skill, dict):
            skill.pop(key, None)


def rewrite_card(card: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The upstream card as clients of the gateway must see it (a new dict; `card` untouched)."""
    out = copy.deepcopy(card)
    out.pop("signatures", None)
    capabilities = out.get("capabilities")
    if isinstance(capabilities, dict):
        # the extended card is the agent's, with the agent's URLs: not offered through the gateway
        capabilities.pop("extendedAgentCard", None)
    out.pop("supportsAuthenticatedExtendedCard", None)
    if "supportedInterfaces" in out or "url" not in out:
        return _rewrite_current(out, endpoint)
    return _rewrite_legacy(out, endpoint)


def _rewrite_current(card: dict[str, Any], endpoint: str) -> dict[str, Any]:
    upstream = jsonrpc_url(card)
    kept = [i for i in _jsonrpc_interfaces(card) if i["url"] == upstream]
    if not kept:
        kept = [{"protocolBinding": JSONRPC, "protocolVersion": GATEWAY_VERSION_FALLBACK}]
    card["supportedInterfaces"] = [{**i, "url": endpoint} for i in kept]
    card["securitySchemes"] = _bearer_schemes()
    card["securityRequirements"] = [{"schemes": {SCHEME: {"list": []}}}]
    card.pop("security", None)
    _drop_skill_security(card, "securityRequirements")
    return card


def _rewrite_legacy(card: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """An A2A 0.3 card stays a 0.3 card (its clients speak 0.3 methods, which pass through)."""
    card["url"] = endpoint
    card["preferredTransport"] = JSONRPC
    card.pop("additionalInterfaces", None)
    card["securitySchemes"] = {
        SCHEME: {"type": "http", "scheme": "bearer", "description": BEARER_DESCRIPTION}
    }
    card["security"] = [{SCHEME: []}]
    _drop_skill_security(card, "security")
    return card


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """One agent on the gateway's card: its name (the skill id), and what its own card says."""

    name: str
    description: str | None
    card: dict[str, Any] | None  # None: the agent's card could not be fetched


def _skill(entry: AgentEntry, base_url: str) -> dict[str, Any]:
    card = entry.card or {}
    title = card.get("name") if isinstance(card.get("name"), str) else entry.name
    description = entry.description or card.get("description") or f"The agent {entry.name}"
    tags = ["a2a-agent"]
    for skill in card.get("skills") or []:
        if isinstance(skill, dict):
            tags.extend(t for t in skill.get("tags") or [] if isinstance(t, str) and t not in tags)
    return {
        "id": entry.name,
        "name": str(title),
        "description": f"{description} (A2A endpoint: {base_url}/a2a/{entry.name}; "
        f"card: {base_url}/a2a/{entry.name}/.well-known/agent-card.json)",
        "tags": tags,
    }


def gateway_card(base_url: str, version: str, agents: Sequence[AgentEntry]) -> dict[str, Any]:
    """The gateway's own card: a directory whose skills are the agents the caller may reach, each
    served at `/a2a/<skill id>` with a card of its own. The directory extension lists the same
    endpoints in a machine-readable form."""
    directory = [
        {
            "name": a.name,
            "url": f"{base_url}/a2a/{a.name}",
            "card": f"{base_url}/a2a/{a.name}/.well-known/agent-card.json",
        }
        for a in agents
    ]
    return {
        "name": "Smartflow",
        "description": "Smartflow gateway: A2A agents behind virtual keys, budgets and audit. "
        "Each skill is an agent, called at /a2a/<skill id>.",
        "supportedInterfaces": [
            {"url": d["url"], "protocolBinding": JSONRPC, "protocolVersion": "1.0"}
            for d in directory
        ],
        "provider": {"organization": "Smartflow", "url": base_url},
        "version": version,
        "capabilities": {
            "streaming": True,
            "extensions": [
                {
                    "uri": "urn:smartflow:a2a-directory:v1",
                    "description": "The agents this key may reach, each at its own endpoint",
                    "params": {"agents": directory},
                }
            ],
        },
        "securitySchemes": _bearer_schemes(),
        "securityRequirements": [{"schemes": {SCHEME: {"list": []}}}],
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [_skill(a, base_url) for a in agents],
    }


def etag(card: dict[str, Any]) -> str:
    """A weak validator over the served card (as the SDK's card route sends one)."""
    digest = hashlib.sha256(orjson.dumps(card, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'W/"{digest[:32]}"'
