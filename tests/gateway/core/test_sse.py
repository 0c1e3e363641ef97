"""SSEParser and encode_event, on recorded upstream bodies split every way a socket may split them.

The parser must give the same events however the body is cut into chunks.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.sse import SSEEvent, SSEParser, encode_event

# Recorded shapes: an OpenAI chat stream (with usage) and the start of an Anthropic stream.
OPENAI_BODY = (
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default",'
    b'"system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default",'
    b'"system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":'
    b'"Caf\xc3\xa9 \xf0\x9f\x8c\x8d"},'
    b'"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b"data: [DONE]\n\n"
)
ANTHROPIC_BODY = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL",'
    b'"type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929",'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}\n\n'
    b"event: ping\n"
    b'data: {"type": "ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"\xe6\x97\xa5\xe6\x9c\xac"}}\n\n'
)


def parse_whole(body: bytes) -> list[SSEEvent]:
    return SSEParser().feed(body)


def test_parses_openai_stream() -> None:
    events = parse_whole(OPENAI_BODY)
    assert [e.event for e in events] == [None, None, None]
    assert events[-1].data == "[DONE]"
    assert '"content":"Café 🌍"' in events[1].data


def test_parses_anthropic_stream_with_event_names() -> None:
    events = parse_whole(ANTHROPIC_BODY)
    assert [e.event for e in events] == ["message_start", "ping", "content_block_delta"]
    assert events[2].data.endswith('"text":"日本"}}')


@pytest.mark.parametrize("body", [OPENAI_BODY, ANTHROPIC_BODY], ids=["openai", "anthropic"])
def test_every_two_way_split_gives_the_same_events(body: bytes) -> None:
    whole = parse_whole(body)
    for cut in range(len(body) + 1):
        parser = SSEParser()
        assert parser.feed(body[:cut]) + parser.feed(body[cut:]) == whole, cut


@pytest.mark.parametrize("body", [OPENAI_BODY, ANTHROPIC_BODY], ids=["openai", "anthropic"])
def test_byte_at_a_time(body: bytes) -> None:
    parser = SSEParser()
    events = [event for i in range(len(body)) for event in parser.feed(body[i : i + 1])]
    assert events == parse_whole(body)


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_other_line_endings(newline: bytes) -> None:
    body = ANTHROPIC_BODY.replace(b"\n", newline)
    whole = SSEParser()  # a final lone "\r" may be half of "\r\n": only flush settles it
    assert whole.feed(body) + whole.flush() == parse_whole(ANTHROPIC_BODY)
    parser = SSEParser()  # split between "\r" and "\n", and after a lone "\r"
    events = [event for i in range(len(body)) for event in parser.feed(body[i : i + 1])]
    assert events + parser.flush() == parse_whole(ANTHROPIC_BODY)


def test_comments_and_events_without_data_are_ignored() -> None:
    body = b": OPENROUTER PROCESSING\n\nevent: ping\n\nid: 7\nretry: 1000\n\ndata: x\n\n"
    assert parse_whole(body) == [SSEEvent(None, "x")]


def test_field_forms() -> None:
    body = b"event:delta\ndata:a\ndata:  b\ndata\n\nevent: x\ndata: y\n\ndata: z\n\n"
    assert parse_whole(body) == [
        SSEEvent("delta", "a\n b\n"),  # one leading space is stripped, a second one is data
        SSEEvent("x", "y"),
        SSEEvent(None, "z"),  # the event name does not leak into the next event
    ]


def test_byte_order_mark_is_dropped_even_when_split() -> None:
    parser = SSEParser()
    events = parser.feed(b"\xef") + parser.feed(b"\xbb") + parser.feed(b"\xbfdata: 1\n\n")
    assert events == [SSEEvent(None, "1")]
    assert SSEParser().feed(b"\xef\xbb\xbfevent: e\ndata: 2\n\n") == [SSEEvent("e", "2")]


def test_flush_dispatches_an_unterminated_last_event() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a":1}\n\ndata: [DONE]') == [SSEEvent(None, '{"a":1}')]
    assert parser.flush() == [SSEEvent(None, "[DONE]")]
    assert parser.flush() == []


def test_invalid_utf8_does_not_raise() -> None:
    assert parse_whole(b"data: \xff\xfe\n\n") == [SSEEvent(None, "\ufffd\ufffd")]


def test_encode_event() -> None:
    assert encode_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_event('{"type":"ping"}', "ping") == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert encode_event("a\nb\r\nc") == b"data: a\ndata: b\ndata: c\n\n"


@given(
    events=st.lists(
        st.tuples(
            st.none()
            | st.text(
                st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), min_size=1
            ),
            st.text(),
        ),
        max_size=6,
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_encode_then_parse_at_any_split(
    events: list[tuple[str | None, str]], cuts: list[int]
) -> None:
    body = b"".join(encode_event(data, name) for name, data in events)
    points = sorted({c % (len(body) + 1) for c in cuts})
    parser = SSEParser()
    parsed: list[SSEEvent] = []
    for start, end in zip([0, *points], [*points, len(body)], strict=True):
        parsed.extend(parser.feed(body[start:end]))
    normalised = [(name, data.replace("\r\n", "\n").replace("\r", "\n")) for name, data in events]
    assert [(e.event, e.data) for e in parsed] == normalised
