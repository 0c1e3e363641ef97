"""The rendered Caddyfiles pass the real `caddy validate`, are `caddy fmt`-clean, and adapt to
the guide's routing: bare wildcards, streaming-safe proxying, HSTS, management 404 by default."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sfctl.render.caddy import caddyfile, render_caddy
from sfctl.render.compose import render_compose
from sfctl.spec import Spec

from support.sfctl_render import caddy, custom_spec, default_spec


@pytest.fixture(scope="module")
def admin_hash() -> str:
    result = caddy("hash-password", "--plaintext", "correct horse battery staple")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _adapt(path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = caddy("adapt", "--adapter", "caddyfile", "--config", str(path), env=env)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _routes(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path matcher or '' for the catch-all, handler tree) in the order Caddy evaluates them."""
    (server,) = config["apps"]["http"]["servers"].values()
    (site,) = [r for r in server["routes"] if r.get("match")]
    out = []
    for route in site["handle"][0]["routes"]:
        paths = [p for m in route.get("match", []) for p in m.get("path", [])]
        if route["handle"][0]["handler"] == "subroute":
            out.append((paths[0] if paths else "", route))
    return out


def _handlers(tree: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(tree, dict):
        if "handler" in tree:
            found.append(tree)
        for value in tree.values():
            found += _handlers(value)
    elif isinstance(tree, list):
        for value in tree:
            found += _handlers(value)
    return found


@pytest.mark.parametrize("flavour", ["bare-metal", "compose"])
@pytest.mark.parametrize("which", ["default", "custom"])
def test_caddy_validate_accepts_rendered_caddyfile(
    tmp_path: Path, which: str, flavour: str, admin_hash: str
) -> None:
    spec = default_spec() if which == "default" else custom_spec()
    render = render_caddy if flavour == "bare-metal" else render_compose
    render(spec, tmp_path)
    env = {spec.management.basic_auth_hash_env: admin_hash}
    result = caddy(
        "validate", "--adapter", "caddyfile", "--config", str(tmp_path / "Caddyfile"), env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr
    # formatted exactly as `caddy fmt` would (validate warns otherwise)
    fmt = caddy("fmt", str(tmp_path / "Caddyfile"))
    assert fmt.stdout == (tmp_path / "Caddyfile").read_text()


def test_exposed_management_without_its_hash_fails_closed(tmp_path: Path) -> None:
    """basic_auth with an unset hash variable is an error at start, never an open door."""
    render_caddy(custom_spec(), tmp_path)
    result = caddy(
        "validate",
        "--adapter",
        "caddyfile",
        "--config",
        str(tmp_path / "Caddyfile"),
        env={"ACME_ADMIN_HTPASSWD": ""},
    )
    assert result.returncode != 0
    assert "basic_auth" in result.stderr


def test_route_table_uses_bare_wildcards_only() -> None:
    for spec in (default_spec(), custom_spec()):
        text = caddyfile(spec, host="localhost")
        paths = re.findall(r"^\s*handle (\S+) \{", text, re.MULTILINE)
        assert "/v1*" in paths and "/api/guardrails*" in paths and "/api/policy*" in paths
        assert not [p for p in paths if p.endswith("/*")], paths


def test_default_routes_stream_and_hide_management(tmp_path: Path) -> None:
    render_caddy(default_spec(), tmp_path)
    config = _adapt(tmp_path / "Caddyfile", {})
    routes = dict(_routes(config))
    order = [path for path, _ in _routes(config)]
    # the management MCP paths are matched before the proxy's /api/mcp* (longest first)
    assert order.index("/api/mcp/tools*") < order.index("/api/mcp*")
    assert order.index("/api/mcp/auth*") < order.index("/api/mcp*")
    for public in ("/api/mcp*", "/a2a*", "/.well-known*"):
        (proxy,) = [h for h in _handlers(routes[public]) if h["handler"] == "reverse_proxy"]
        assert proxy["upstreams"] == [{"dial": "localhost:7775"}], public
    for path, upstream in [
        ("/v1*", "localhost:7775"),
        ("/anthropic*", "localhost:7775"),
        ("/api/compliance*", "localhost:7777"),
        ("/api/policy*", "localhost:7782"),
    ]:
        (proxy,) = [h for h in _handlers(routes[path]) if h["handler"] == "reverse_proxy"]
        assert proxy["upstreams"] == [{"dial": upstream}]
        assert proxy["flush_interval"] == -1  # SSE tokens are never held in a buffer
    for path in (
        "/api/enterprise*",
        "/api/guardrails*",
        "/api/mcp/tools*",
        "/api/mcp/auth*",
        "/api/admin/mcp*",
        "/api/admin/a2a*",
        "/api/openapi.json",
    ):
        kinds = [h["handler"] for h in _handlers(routes[path])]
        assert "reverse_proxy" not in kinds
        (static,) = [h for h in _handlers(routes[path]) if h["handler"] == "static_response"]
        assert static["status_code"] == 404
    # the catch-all (metrics included) is not public either
    catch_all = routes[""]
    assert [
        h["status_code"] for h in _handlers(catch_all) if h["handler"] == "static_response"
    ] == [404]


def test_edge_settings_gzip_hsts_email(tmp_path: Path) -> None:
    render_caddy(default_spec(), tmp_path)
    config = _adapt(tmp_path / "Caddyfile", {})
    everything = _handlers(config["apps"]["http"])
    (encode,) = [h for h in everything if h["handler"] == "encode"]
    assert "gzip" in encode["encodings"]
    headers = [h for h in everything if h["handler"] == "headers"]
    assert headers[0]["response"]["set"]["Strict-Transport-Security"] == [
        "max-age=31536000; includeSubDomains"
    ]
    issuers = [
        i for p in config["apps"]["tls"]["automation"]["policies"] for i in p.get("issuers", [])
    ]
    assert issuers and all(i.get("email") == "ops@example.com" for i in issuers)


def test_exposed_management_is_guarded(tmp_path: Path, admin_hash: str) -> None:
    spec: Spec = custom_spec()
    render_compose(spec, tmp_path)
    config = _adapt(tmp_path / "Caddyfile", {"ACME_ADMIN_HTPASSWD": admin_hash})
    routes = dict(_routes(config))
    handlers = [h["handler"] for h in _handlers(routes["/api/enterprise*"])]
    # allow-list first, then basic auth, then the api-server: in that order
    assert (
        handlers.index("static_response")
        < handlers.index("authentication")
        < handlers.index("reverse_proxy")
    )
    (proxy,) = [h for h in _handlers(routes["/api/enterprise*"]) if h["handler"] == "reverse_proxy"]
    assert proxy["upstreams"] == [{"dial": "api-server:7778"}]
    text = json.dumps(routes["/api/enterprise*"])
    assert "10.20.0.0/16" in text and "203.0.113.7/32" in text
    assert admin_hash not in (tmp_path / "Caddyfile").read_text()


def test_acme_server_and_plain_http(tmp_path: Path) -> None:
    spec = custom_spec()
    text = caddyfile(spec, host=None)
    assert "acme_ca https://acme-staging-v02.api.letsencrypt.org/directory" in text
    assert "max-age=63072000" in text
    plain = default_spec().model_copy(
        update={"tls": default_spec().tls.model_copy(update={"enabled": False})}
    )
    text = caddyfile(plain, host=None)
    assert "http://smartflow.example.com {" in text
    assert "Strict-Transport-Security" not in text
