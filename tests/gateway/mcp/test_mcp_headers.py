"""The MCP header helpers both ends of the gateway share (gateway.core.mcp_headers): `x-mcp-header`
maps, the `Mcp-Param-*` headers and header value encoding, checked against the SDK's own
implementation (mcp.shared.inbound)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.inbound import encode_header_value as sdk_encode
from mcp.shared.inbound import find_invalid_x_mcp_header, mcp_param_headers, x_mcp_header_map

from gateway.core.mcp_headers import encode_header_value, header_map, param_headers

SCHEMAS: list[Any] = [
    {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}},
    {
        "type": "object",
        "properties": {
            "where": {
                "type": "object",
                "properties": {"zone": {"type": "integer", "x-mcp-header": "Zone"}},
            },
            "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
        },
    },
    {"type": "object", "properties": {"n": {"type": "number", "x-mcp-header": "N"}}},
    {"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": "bad header"}}},
    {
        "type": "object",
        "properties": {
            "a": {"type": "string", "x-mcp-header": "Same"},
            "b": {"type": "string", "x-mcp-header": "same"},
        },
    },
    {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}},
    {"type": "object", "x-mcp-header": "Root"},
    {"type": "object", "properties": {"a": {"type": "string"}}},
    None,
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_header_map_agrees_with_the_sdk(schema: Any) -> None:
    ours = header_map(schema)
    if find_invalid_x_mcp_header(schema) is not None:
        assert ours is None
    else:
        assert ours == x_mcp_header_map(schema)


@pytest.mark.parametrize(
    "arguments",
    [
        {"where": {"zone": 3}, "dry": True},
        {"where": {"zone": 0}, "dry": False},
        {"where": "not an object"},
        {"dry": None},
        {},
    ],
)
def test_param_headers_agree_with_the_sdk(arguments: dict[str, Any]) -> None:
    mapping = header_map(SCHEMAS[1])
    assert mapping is not None
    assert param_headers(mapping, arguments) == mcp_param_headers(mapping, arguments)


@pytest.mark.parametrize(
    "value", ["plain", "with space", " edge", "ünïcode", "tab\there", "=?base64?abc?=", ""]
)
def test_header_values_encode_as_the_sdk_does(value: str) -> None:
    assert encode_header_value(value) == sdk_encode(value)
