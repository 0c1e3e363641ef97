"""The upstream client's own pure wire helpers: SSE decoding and JSON-RPC responses (the
`x-mcp-header` maps and `Mcp-Param-*` headers it shares with the server side are
test_mcp_headers.py's)."""

from __future__ import annotations

import pytest

from gateway.mcp.upstream_wire import SseDecoder, error_of, is_response


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


def test_responses_and_errors() -> None:
    assert is_response({"jsonrpc": "2.0", "id": 3, "result": {}}, 3)
    assert is_response({"jsonrpc": "2.0", "id": None, "error": {"code": 1}}, 3)
    assert not is_response({"jsonrpc": "2.0", "id": 4, "result": {}}, 3)
    assert not is_response({"jsonrpc": "2.0", "method": "notifications/progress"}, 3)
    assert not is_response({"jsonrpc": "2.0", "id": 3, "method": "ping"}, 3)
    error = error_of({"error": {"code": -32602, "message": "bad", "data": [1]}})
    assert (error.code, error.message, error.data) == (-32602, "bad", [1])
    assert error_of({"error": "weird"}).code == -32603
