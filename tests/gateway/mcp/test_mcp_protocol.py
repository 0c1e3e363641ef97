"""The MCP wire rules the gateway reimplements (gateway.core.mcp_protocol, mcp_negotiate),
checked against the official SDK's own values where it exposes them (mcp_types, mcp.shared)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from mcp.shared import inbound
from mcp_types import jsonrpc
from mcp_types import version as sdk_versions

from gateway.core import mcp_negotiate as neg
from gateway.core import mcp_protocol as rpc

MODERN = "2026-07-28"
META = {
    rpc.PROTOCOL_VERSION_META_KEY: MODERN,
    rpc.CLIENT_CAPABILITIES_META_KEY: {},
    rpc.CLIENT_INFO_META_KEY: {"name": "t", "version": "1"},
}


def test_codes_and_versions_match_the_sdk() -> None:
    assert rpc.PARSE_ERROR == jsonrpc.PARSE_ERROR
    assert rpc.INVALID_REQUEST == jsonrpc.INVALID_REQUEST
    assert rpc.METHOD_NOT_FOUND == jsonrpc.METHOD_NOT_FOUND
    assert rpc.INVALID_PARAMS == jsonrpc.INVALID_PARAMS
    assert rpc.HEADER_MISMATCH == jsonrpc.HEADER_MISMATCH
    assert rpc.UNSUPPORTED_PROTOCOL_VERSION == jsonrpc.UNSUPPORTED_PROTOCOL_VERSION
    assert rpc.HANDSHAKE_VERSIONS == sdk_versions.HANDSHAKE_PROTOCOL_VERSIONS
    assert rpc.MODERN_VERSIONS == sdk_versions.MODERN_PROTOCOL_VERSIONS
    for code, status in inbound.ERROR_CODE_HTTP_STATUS.items():
        assert rpc.MODERN_HTTP_STATUS[code] == status
    assert rpc.RpcError(rpc.INTERNAL_ERROR, "x").http_status(modern=True) == 200


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, "request"),
        ({"jsonrpc": "2.0", "id": "a", "method": "ping", "params": None}, "request"),
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, "notification"),
        ({"jsonrpc": "2.0", "id": 3, "result": {}}, "response"),
    ],
)
def test_parse_single_messages(body: dict[str, Any], kind: str) -> None:
    assert rpc.parse_message(orjson.dumps(body)).kind == kind


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (b"{not json", rpc.PARSE_ERROR, "Parse error"),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', rpc.INVALID_REQUEST, "batches"),
        (b'{"jsonrpc":"1.0","id":1,"method":"ping"}', rpc.INVALID_REQUEST, "single"),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', rpc.INVALID_REQUEST, "single"),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', rpc.INVALID_REQUEST, "single"),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}', rpc.INVALID_REQUEST, "single"),
        (b'"text"', rpc.INVALID_REQUEST, "single"),
    ],
)
def test_parse_refusals(raw: bytes, code: int, fragment: str) -> None:
    with pytest.raises(rpc.RpcError) as caught:
        rpc.parse_message(raw)
    assert caught.value.code == code
    assert fragment in caught.value.message
    assert caught.value.http_status(modern=False) == 400
    assert orjson.loads(caught.value.body())["id"] is None


def test_error_bodies_and_statuses() -> None:
    error = rpc.RpcError(rpc.RATE_LIMITED, "slow down", {"code": "budget_exceeded"}, request_id=4)
    assert orjson.loads(error.body()) == {
        "jsonrpc": "2.0",
        "id": 4,
        "error": {
            "code": rpc.RATE_LIMITED,
            "message": "slow down",
            "data": {"code": "budget_exceeded"},
        },
    }
    assert error.http_status(modern=False) == error.http_status(modern=True) == 429
    unknown = rpc.unknown_tool("x")
    assert (unknown.code, unknown.http_status(modern=True), unknown.http_status(modern=False)) == (
        rpc.INVALID_PARAMS,
        400,
        200,
    )
    assert rpc.method_not_found("ping").http_status(modern=True) == 404


def test_args_hash_is_canonical() -> None:
    assert rpc.args_hash({"a": 1, "b": [1, 2]}) == rpc.args_hash({"b": [1, 2], "a": 1})
    assert rpc.args_hash({"a": 1}) != rpc.args_hash({"a": 2})
    assert len(rpc.args_hash({"big": 2**70})) == 64


def test_tool_call_params() -> None:
    assert rpc.tool_call_params({"name": "echo"}) == ("echo", {})
    for bad in (None, {}, {"name": ""}, {"name": "x", "arguments": [1]}):
        with pytest.raises(rpc.RpcError) as caught:
            rpc.tool_call_params(bad)
        assert caught.value.code == rpc.INVALID_PARAMS


@pytest.mark.parametrize(
    ("offered", "agreed"),
    [
        ("2024-11-05", "2024-11-05"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),  # not a handshake version: our latest handshake one
        ("1999-01-01", "2025-11-25"),
    ],
)
def test_initialize_answers_like_the_sdk(offered: str, agreed: str) -> None:
    params = {
        "protocolVersion": offered,
        "capabilities": {},
        "clientInfo": {"name": "c", "version": "1"},
    }
    assert neg.negotiate_initialize(params) == agreed


def test_initialize_refuses_malformed_params() -> None:
    with pytest.raises(rpc.RpcError) as caught:
        neg.negotiate_initialize({"protocolVersion": "2025-06-18"})
    assert caught.value.code == rpc.INVALID_PARAMS


def _modern(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": method,
        "params": {**(params or {}), "_meta": META},
    }


def _headers(method: str, name: str | None = None, version: str = MODERN) -> dict[str, str]:
    headers = {neg.PROTOCOL_VERSION_HEADER: version, neg.METHOD_HEADER: method}
    if name is not None:
        headers[neg.NAME_HEADER] = name
    return headers


def _sdk(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str] | None:
    verdict = inbound.classify_inbound_request(body, headers=headers)
    if isinstance(verdict, inbound.InboundLadderRejection):
        return verdict.code, verdict.message
    return None


def _ours(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str] | None:
    try:
        neg.classify(body, headers)
    except rpc.RpcError as exc:
        return exc.code, exc.message
    return None


LADDER_CASES = [
    (_modern("tools/list"), _headers("tools/list")),
    (_modern("tools/call", {"name": "echo"}), _headers("tools/call", "echo")),
    (_modern("tools/call", {"name": "échø"}), _headers("tools/call", "=?base64?w6nDp8O4?=")),
    (_modern("tools/call", {"name": "echo"}), _headers("tools/call", "other")),
    (_modern("tools/call", {"name": "echo"}), _headers("tools/call")),
    (_modern("tools/list"), _headers("tools/call")),
    (_modern("tools/list"), _headers("tools/list", version="2025-06-18")),
    (_modern("tools/list"), {neg.METHOD_HEADER: "tools/list"}),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, _headers("tools/list")),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {}}},
        _headers("tools/list"),
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/list",
            "params": {"_meta": {**META, rpc.PROTOCOL_VERSION_META_KEY: "2099-01-01"}},
        },
        _headers("tools/list", version="2099-01-01"),
    ),
]


@pytest.mark.parametrize(("body", "headers"), LADDER_CASES)
def test_the_modern_ladder_agrees_with_the_sdk(
    body: dict[str, Any], headers: dict[str, str]
) -> None:
    assert _ours(body, headers) == _sdk(body, headers)


def test_unsupported_version_names_what_we_support() -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {"_meta": {**META, rpc.PROTOCOL_VERSION_META_KEY: "2099-01-01"}},
    }
    with pytest.raises(rpc.RpcError) as caught:
        neg.classify(body, _headers("tools/list", version="2099-01-01"))
    assert caught.value.code == rpc.UNSUPPORTED_PROTOCOL_VERSION
    assert caught.value.data == {"supported": ["2026-07-28"], "requested": "2099-01-01"}
    assert caught.value.http_status(modern=True) == 400


def test_era_routing_and_duplicated_headers() -> None:
    assert not neg.is_modern(None)
    assert not neg.is_modern("2025-06-18")
    assert neg.is_modern("2026-07-28")
    assert neg.is_modern("garbage")  # the modern ladder answers it with -32022
    pairs = [("MCP-Protocol-Version", MODERN), ("mcp-protocol-version", MODERN)]
    assert neg.duplicated_routing_header(pairs) == "mcp-protocol-version"
    assert neg.duplicated_routing_header([("Mcp-Method", "x"), ("Accept", "y")]) is None


def test_results_are_shaped_for_the_era() -> None:
    upstream = {
        "content": [{"type": "text", "text": "hi"}],
        "isError": False,
        "resultType": "complete",
        "_meta": {rpc.SERVER_INFO_META_KEY: {"name": "upstream"}, "other": 1},
    }
    info = {"name": "smartflow", "version": "1"}
    modern = neg.shape_result(upstream, modern=True, server_info=info)
    assert modern["_meta"] == {"other": 1, rpc.SERVER_INFO_META_KEY: info}
    assert modern["resultType"] == "complete"
    legacy = neg.shape_result(upstream, modern=False, server_info=info)
    assert legacy == {"content": upstream["content"], "isError": False, "_meta": {"other": 1}}
    listed = neg.shape_result({"tools": []}, modern=True, server_info=info, cacheable=True)
    assert (listed["ttlMs"], listed["cacheScope"]) == (0, "private")


def test_discover_and_initialize_results() -> None:
    info = {"name": "smartflow", "version": "1"}
    discovered = neg.discover_result(info, "use the tools")
    assert discovered["supportedVersions"] == ["2026-07-28"]
    assert discovered["_meta"][rpc.SERVER_INFO_META_KEY] == info
    assert discovered["instructions"] == "use the tools"
    initialized = neg.initialize_result("2025-06-18", info, None)
    assert initialized == {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": info,
    }
