"""The environment `sfctl up` gives the local gateway: the tool gateway on, stdio MCP servers
allowed only while it listens on loopback, and the operator's own settings kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfctl import local


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("gateway.example", False),
    ],
)
def test_loopback_hosts(host: str, expected: bool) -> None:
    assert local.is_loopback(host) is expected


def test_tool_gateway_on_and_stdio_allowed_on_loopback(tmp_path: Path) -> None:
    env = local.gateway_env({}, tmp_path, "k" * 32, None)
    assert env["MCP_GATEWAY_ENABLED"] == "true"
    assert env["SMARTFLOW_MCP_STDIO"] == "true"


def test_no_stdio_servers_when_listening_beyond_loopback(tmp_path: Path) -> None:
    env = local.gateway_env({}, tmp_path, "k" * 32, None, loopback=False)
    assert env["MCP_GATEWAY_ENABLED"] == "true"
    assert "SMARTFLOW_MCP_STDIO" not in env


def test_the_operators_settings_win(tmp_path: Path) -> None:
    base = {"MCP_GATEWAY_ENABLED": "false", "SMARTFLOW_MCP_STDIO": "false"}
    env = local.gateway_env(base, tmp_path, "k" * 32, None)
    assert env["MCP_GATEWAY_ENABLED"] == "false"
    assert env["SMARTFLOW_MCP_STDIO"] == "false"
