"""Card rewriting and the JSON-RPC reading the proxy does, on cards and answers shaped exactly as
the a2a-sdk produces them (1.0 protobuf JSON, and its 0.3 compatibility shapes)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from a2a.client.card_resolver import parse_agent_card
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from gateway.a2a import card as cards
from gateway.a2a import jsonrpc
from gateway.a2a.jsonrpc import RpcError

from support.a2a_agents import echo_agent_card

ENDPOINT = "https://gw.example.com/a2a/echo"


def sdk_card() -> dict[str, Any]:
    return agent_card_to_dict(echo_agent_card("echo", url="http://10.0.0.5:9000/rpc"))


def test_a_current_card_points_at_the_gateway_with_bearer_auth() -> None:
    upstream = sdk_card()
    upstream["supportedInterfaces"].append(
        {"url": "http://10.0.0.5:9001/", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}
    )
    upstream["signatures"] = [{"protected": "x", "signature": "y"}]
    rewritten = cards.rewrite_card(upstream, ENDPOINT)
    assert rewritten["supportedInterfaces"] == [
        {"url": ENDPOINT, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]
    assert "signatures" not in rewritten
    assert "10.0.0.5" not in orjson.dumps(rewritten).decode()
    parsed = parse_agent_card(rewritten)  # what an SDK client makes of it
    assert parsed.security_schemes["smartflow"].http_auth_security_scheme.scheme == "bearer"
    assert list(parsed.security_requirements[0].schemes) == ["smartflow"]
    assert parsed.skills[0].id == "echo"
    assert upstream["supportedInterfaces"][0]["url"] == "http://10.0.0.5:9000/rpc"  # untouched


def test_the_jsonrpc_url_prefers_the_current_protocol() -> None:
    card = {
        "supportedInterfaces": [
            {"url": "http://a/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
            {"url": "http://a/old", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
            {"url": "http://a/new", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        ]
    }
    assert cards.jsonrpc_url(card) == "http://a/new"
    assert cards.jsonrpc_url({"url": "http://a/v03"}) == "http://a/v03"
    legacy_rest = {
        "url": "http://a/rest",
        "preferredTransport": "HTTP+JSON",
        "additionalInterfaces": [{"url": "http://a/rpc", "transport": "JSONRPC"}],
    }
    assert cards.jsonrpc_url(legacy_rest) == "http://a/rpc"
    assert cards.jsonrpc_url({"name": "no interfaces"}) is None


def test_a_03_card_stays_a_03_card() -> None:
    upstream = {
        "name": "Old agent",
        "description": "0.3",
        "url": "http://10.0.0.5/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "additionalInterfaces": [{"url": "http://10.0.0.5/grpc", "transport": "GRPC"}],
        "securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "X-K"}},
        "security": [{"k": []}],
        "skills": [
            {"id": "s", "name": "S", "description": "d", "tags": [], "security": [{"k": []}]}
        ],
        "version": "1",
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
    }
    rewritten = cards.rewrite_card(upstream, ENDPOINT)
    assert rewritten["url"] == ENDPOINT and "additionalInterfaces" not in rewritten
    assert rewritten["security"] == [{"smartflow": []}]
    assert "security" not in rewritten["skills"][0]
    parsed = parse_agent_card(rewritten)
    assert [(i.url, i.protocol_version) for i in parsed.supported_interfaces] == [
        (ENDPOINT, "0.3.0")
    ]
    assert parsed.security_schemes["smartflow"].http_auth_security_scheme.scheme == "bearer"


def test_the_gateway_card_is_a_directory_of_agents() -> None:
    entries = [
        cards.AgentEntry("echo", None, sdk_card()),
        cards.AgentEntry("down", "Currently unreachable", None),
    ]
    card = cards.gateway_card("https://gw", "1.2.3", entries)
    parsed = parse_agent_card(card)
    assert parsed.name == "Smartflow" and parsed.version == "1.2.3"
    assert [s.id for s in parsed.skills] == ["echo", "down"]
    assert parsed.skills[0].name == "Echo agent"
    assert "echo" in parsed.skills[0].tags
    assert parsed.skills[1].description.startswith("Currently unreachable")
    assert [i.url for i in parsed.supported_interfaces] == [
        "https://gw/a2a/echo",
        "https://gw/a2a/down",
    ]
    directory = card["capabilities"]["extensions"][0]["params"]["agents"]
    assert directory[0]["card"] == "https://gw/a2a/echo/.well-known/agent-card.json"
    assert cards.etag(card) == cards.etag(cards.gateway_card("https://gw", "1.2.3", entries))


def test_requests_are_read_not_rewritten() -> None:
    body = orjson.dumps({"jsonrpc": "2.0", "id": "a", "method": "GetTask", "params": {"id": "t1"}})
    request = jsonrpc.parse_request(jsonrpc.load(body))
    assert (request.id, request.method, request.task_id()) == ("a", "GetTask", "t1")
    assert not request.streaming and not request.starts_task and request.label == "GetTask"
    stream = jsonrpc.parse_request(
        jsonrpc.load(
            b'{"jsonrpc":"2.0","id":3,"method":"message/stream","params":{"message":{"taskId":"t9"}}}'
        )
    )
    assert stream.streaming and stream.starts_task and stream.task_id() == "t9"
    assert jsonrpc.parse_request({"jsonrpc": "2.0", "method": "x/custom"}).label == "other"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'[{"jsonrpc":"2.0","id":1,"method":"GetTask"}]', -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"GetTask"}', -32600),
        (b'{"jsonrpc":"2.0","id":1}', -32600),
    ],
)
def test_malformed_requests_are_refused(body: bytes, code: int) -> None:
    with pytest.raises(RpcError) as refused:
        jsonrpc.parse_request(jsonrpc.load(body))
    assert refused.value.status == 400 and refused.value.code == code


@pytest.mark.parametrize(
    ("answer", "task_id"),
    [
        ({"result": {"task": {"id": "t1", "status": {}}}}, "t1"),
        ({"result": {"statusUpdate": {"taskId": "t2"}}}, "t2"),
        ({"result": {"artifactUpdate": {"taskId": "t3"}}}, "t3"),
        ({"result": {"message": {"messageId": "m", "taskId": "t4"}}}, "t4"),
        ({"result": {"id": "t5", "status": {"state": "TASK_STATE_COMPLETED"}}}, "t5"),
        ({"result": {"kind": "task", "id": "t6"}}, "t6"),
        ({"result": {"kind": "status-update", "taskId": "t7"}}, "t7"),
        ({"result": {"message": {"messageId": "m"}}}, None),
        ({"error": {"code": -32001, "message": "Task not found"}}, None),
        ([], None),
    ],
)
def test_task_ids_are_found_in_both_generations(answer: Any, task_id: str | None) -> None:
    assert jsonrpc.result_task_id(answer) == task_id


def test_error_bodies_are_jsonrpc() -> None:
    body = orjson.loads(jsonrpc.error_body(7, -32051, "no such agent"))
    assert body == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32051, "message": "no such agent"},
    }
    assert jsonrpc.answer_error(body) == (-32051, "no such agent")
    assert jsonrpc.answer_error({"result": {}}) is None
