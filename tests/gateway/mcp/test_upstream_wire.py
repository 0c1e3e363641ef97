"""The upstream client's pure wire helpers: SSE decoding, `x-mcp-header` maps and the
`Mcp-Param-*` headers, checked against the SDK's own implementation where it has one."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.inbound import encode_header_value as sdk_encode
from mcp.shared.inbound import find_invalid_x_mcp_header, mcp_param_headers, x_mcp_header_map

from gateway.mcp.upstream_wire import (
    SseDecoder,
    encode_header_value,
    error_of,
    header_map,
    is_response,
    param_headers,
)


def test_sse_events_split_across_chunks() -> None:
    stream = (
        b": ping\r\n\r\n"
        b'event: message\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
        b"event: other\ndata: skipped\n\n"
        b'data: {"b": 2}\n\n'
        b"retry: 100\n\n"
    )
    for size in (1, 3, 7, len(stream)):
        decoder = SseDecoder()
        events: list[bytes] = []
        for start in range(0, len(stream), size):
            events.extend(decoder.feed(stream[start : start + size]))
        assert events == [b'{"a":\n1}', b'{"b": 2}']


def test_sse_event_size_is_capped() -> None:
    decoder = SseDecoder(max_event=10)
    assert decoder.feed(b"data: 12345\n") == []
    with pytest.raises(ValueError, match="too large"):
        decoder.feed(b"data: 678901\n")


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


def test_responses_and_errors() -> None:
    assert is_response({"jsonrpc": "2.0", "id": 3, "result": {}}, 3)
    assert is_response({"jsonrpc": "2.0", "id": None, "error": {"code": 1}}, 3)
    assert not is_response({"jsonrpc": "2.0", "id": 4, "result": {}}, 3)
    assert not is_response({"jsonrpc": "2.0", "method": "notifications/progress"}, 3)
    assert not is_response({"jsonrpc": "2.0", "id": 3, "method": "ping"}, 3)
    error = error_of({"error": {"code": -32602, "message": "bad", "data": [1]}})
    assert (error.code, error.message, error.data) == (-32602, "bad", [1])
    assert error_of({"error": "weird"}).code == -32603
