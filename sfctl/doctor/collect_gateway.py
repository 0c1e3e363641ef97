"""Collect a running gateway's own view of itself from its management API: the per-component
status of /api/health/comprehensive (gateway, Redis, database, providers) and the build it runs
(/version)."""

from __future__ import annotations

from typing import Any

import httpx

from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError

__all__ = ["HEALTH_PATH", "VERSION_PATH", "collect_gateway"]

HEALTH_PATH = "/api/health/comprehensive"
VERSION_PATH = "/version"
# the gateway gives each dependency check 2 s; leave room for all of them and the network
_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def collect_gateway(
    url: str, admin_key: str, *, transport: httpx.BaseTransport | None = None
) -> Inventory:
    """GET /api/health/comprehensive and /version from the gateway at `url` (its management
    API: the api-server, or an `all` gateway), with `Authorization: Bearer <admin_key>`.

    The Inventory holds (url, the health JSON as served, plus `version`: the /version answer,
    which the runtime checks compare across gateways). Unreachable, 401, or an answer that is
    not the health JSON: one `SfctlError` line (doctor exits 2)."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise SfctlError(f"gateway URL {url!r} must start with http:// or https://", exit_code=2)
    headers = {"Authorization": f"Bearer {admin_key}", "User-Agent": "sfctl-doctor"}
    with httpx.Client(
        base_url=base, headers=headers, timeout=_TIMEOUT, transport=transport
    ) as client:
        health = _get(client, base, HEALTH_PATH)
        if not isinstance(health.get("components"), dict):
            raise SfctlError(
                f"{base}{HEALTH_PATH} did not answer the health JSON (no components): is this "
                "the management API (api-server :7778)?",
                exit_code=2,
            )
        version = _get(client, base, VERSION_PATH)
    inventory = Inventory()
    inventory.gateway_health.append((base, {**health, "version": version}))
    return inventory


def _get(client: httpx.Client, base: str, path: str) -> dict[str, Any]:
    try:
        response = client.get(path)
    except httpx.TimeoutException:
        raise SfctlError(
            f"the gateway at {base} did not answer {path} in time", exit_code=2
        ) from None
    except httpx.HTTPError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise SfctlError(f"cannot reach the gateway at {base}: {reason}", exit_code=2) from None
    if response.status_code == 401:
        raise SfctlError(
            f"the gateway at {base} refused the admin key (401): pass the ADMIN_API_KEY it runs "
            "with",
            exit_code=2,
        )
    if response.status_code == 404 and path == HEALTH_PATH:
        raise SfctlError(
            f"{base} has no {path}: point doctor at the management API (api-server :7778)",
            exit_code=2,
        )
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.is_error or not isinstance(payload, dict):
        text = " ".join(response.text.split())[:200] or response.reason_phrase
        raise SfctlError(f"{base}{path} answered HTTP {response.status_code}: {text}", exit_code=2)
    return payload
