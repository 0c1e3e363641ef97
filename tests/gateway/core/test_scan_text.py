"""Scannable text of requests and responses in both wire formats, and redaction by span.

Every segment must point at the exact text it came from (so a finding maps back to the body),
redaction must return a new body and leave the caller's untouched (sharing what did not change),
and tool arguments must stay valid JSON whatever span a scanner reports over them.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from gateway.core.scan_json import redact_json_text
from gateway.core.scan_text import (
    ScanText,
    Segment,
    redact_request,
    redact_response,
    request_text,
    response_text,
)

CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"

OPENAI_CHAT: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a billing assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"My card is {CARD}, mail {EMAIL}."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "Why was I charged twice?"},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {
                        "name": "lookup_charges",
                        "arguments": f'{{"email": "{EMAIL}", "card": 4111111111111111}}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": "2 charges of $9.99"},
        {
            "role": "tool",
            "tool_call_id": "call_def456",
            "content": [{"type": "text", "text": "refund issued to " + EMAIL}],
        },
    ],
    "temperature": 0.2,
}

ANTHROPIC_MESSAGES: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "You are a billing assistant."}],
    "messages": [
        {"role": "user", "content": f"My card is {CARD}."},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Look it up.", "signature": "EqQBCgIYAh"},
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "lookup_charges",
                    "input": {"email": EMAIL, "card": 4111111111111111, "recent": True},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "2 charges"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01B",
                    "content": [{"type": "text", "text": "owner " + EMAIL}],
                },
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "AA"},
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ],
}


def at(body: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def check_segments(body: dict[str, Any], scan: ScanText) -> None:
    """Each segment's text is what lives at its path; pieces are joined by exactly one "\n"."""
    pieces = []
    for segment in scan.segments:
        value = at(body, segment.path)
        expected = orjson.dumps(value).decode() if segment.kind == "value" else value
        assert scan.text[segment.start : segment.end] == expected
        pieces.append(expected)
    assert scan.text == "\n".join(pieces)


def spans_of(scan: ScanText, needle: str, kind: str) -> list[tuple[int, int, str]]:
    out, start = [], 0
    while (found := scan.text.find(needle, start)) >= 0:
        out.append((found, found + len(needle), kind))
        start = found + 1
    return out


# --- extraction ----------------------------------------------------------------------------


def test_openai_chat_request_text() -> None:
    scan = request_text(OPENAI_CHAT, "openai", "chat")
    check_segments(OPENAI_CHAT, scan)
    assert [s.path for s in scan.segments] == [
        ("messages", 0, "content"),
        ("messages", 1, "content", 0, "text"),
        ("messages", 1, "content", 2, "text"),
        ("messages", 2, "tool_calls", 0, "function", "arguments"),
        ("messages", 3, "content"),
        ("messages", 4, "content", 0, "text"),
    ]
    assert scan.segments[3].kind == "json"
    assert "base64" not in scan.text


def test_openai_legacy_function_call_and_refusal_parts() -> None:
    body = {
        "messages": [
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
            {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": "{}"}},
        ]
    }
    scan = request_text(body, "openai", "chat")
    check_segments(body, scan)
    assert [s.path for s in scan.segments] == [
        ("messages", 0, "content", 0, "refusal"),
        ("messages", 1, "function_call", "arguments"),
    ]


@pytest.mark.parametrize(
    ("route", "field", "value"),
    [
        ("completions", "prompt", "Card: " + CARD),
        ("completions", "prompt", ["first " + EMAIL, "", "second " + CARD]),
        ("embeddings", "input", ["one " + EMAIL, "two"]),
        ("embeddings", "input", [[1, 2, 3]]),  # token arrays carry no text
    ],
)
def test_openai_prompt_and_input(route: str, field: str, value: Any) -> None:
    body = {"model": "m", field: value}
    scan = request_text(body, "openai", route)
    check_segments(body, scan)
    strings = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str) and v]
    assert scan.text == "\n".join(strings)


def test_anthropic_request_text() -> None:
    scan = request_text(ANTHROPIC_MESSAGES, "anthropic", "messages")
    check_segments(ANTHROPIC_MESSAGES, scan)
    assert [s.path for s in scan.segments] == [
        ("system", 0, "text"),
        ("messages", 0, "content"),
        ("messages", 1, "content", 1, "text"),
        ("messages", 1, "content", 2, "input"),
        ("messages", 2, "content", 0, "content"),
        ("messages", 2, "content", 1, "content", 0, "text"),
        ("messages", 2, "content", 3, "text"),
    ]
    assert scan.segments[3].kind == "value"
    assert "Look it up" not in scan.text  # thinking is signed: not read, never rewritten


def test_anthropic_system_string() -> None:
    body = {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]}
    scan = request_text(body, "anthropic", "messages")
    assert scan.text == "Be brief.\nHi"
    assert scan.segments == (
        Segment(("system",), 0, 9),
        Segment(("messages", 0, "content"), 10, 12),
    )


def test_malformed_bodies_read_what_they_can() -> None:
    body = {
        "messages": ["bad", {"role": "user", "content": 7}, {"content": [None, {"type": "text"}]}]
    }
    assert request_text(body, "openai", "chat") == ScanText("", ())
    assert request_text({"messages": None, "system": 3}, "anthropic", "messages").text == ""
    assert response_text({"choices": "x"}, "openai", "chat").text == ""


OPENAI_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": f"Your card {CARD} was charged.",
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "notify", "arguments": f'{{"to":"{EMAIL}"}}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": "Second answer", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        },
    ],
    "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
}

COMPLETION_RESPONSE: dict[str, Any] = {
    "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
    "object": "text_completion",
    "created": 1589478378,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [
        {"text": f"\n\nMail {EMAIL}", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ],
}

ANTHROPIC_RESPONSE: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": f"Your card {CARD} was charged."},
        {"type": "tool_use", "id": "toolu_01", "name": "notify", "input": {"to": EMAIL}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 30},
}


@pytest.mark.parametrize(
    ("parsed", "wire", "route", "paths"),
    [
        (
            OPENAI_RESPONSE,
            "openai",
            "chat",
            [
                ("choices", 0, "message", "content"),
                ("choices", 0, "message", "tool_calls", 0, "function", "arguments"),
                ("choices", 1, "message", "content"),
            ],
        ),
        (COMPLETION_RESPONSE, "openai", "completions", [("choices", 0, "text")]),
        (
            ANTHROPIC_RESPONSE,
            "anthropic",
            "messages",
            [("content", 0, "text"), ("content", 1, "input")],
        ),
    ],
)
def test_response_text(parsed: dict[str, Any], wire: Any, route: str, paths: list[Any]) -> None:
    scan = response_text(parsed, wire, route)
    check_segments(parsed, scan)
    assert [s.path for s in scan.segments] == paths


# --- redaction -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["placeholder", "mask"])
def test_redact_openai_request(mode: Any) -> None:
    before = copy.deepcopy(OPENAI_CHAT)
    scan = request_text(OPENAI_CHAT, "openai", "chat")
    spans = spans_of(scan, CARD, "payment_card") + spans_of(scan, EMAIL, "email")
    spans += spans_of(scan, "4111111111111111", "payment_card")
    out = redact_request(OPENAI_CHAT, "openai", "chat", scan, spans, mode)

    assert before == OPENAI_CHAT  # the caller's body is untouched
    assert out["messages"][0] is OPENAI_CHAT["messages"][0]  # unchanged parts are shared
    assert out["messages"][1]["content"][1] is OPENAI_CHAT["messages"][1]["content"][1]
    redacted = request_text(out, "openai", "chat").text
    assert CARD not in redacted
    assert EMAIL not in redacted
    assert "4111111111111111" not in redacted
    arguments = orjson.loads(out["messages"][2]["tool_calls"][0]["function"]["arguments"])
    if mode == "placeholder":
        assert out["messages"][1]["content"][0]["text"] == (
            "My card is [REDACTED:payment_card], mail [REDACTED:email]."
        )
        assert arguments == {"email": "[REDACTED:email]", "card": "[REDACTED:payment_card]"}
        assert out["messages"][4]["content"][0]["text"] == "refund issued to [REDACTED:email]"
    else:
        text = out["messages"][1]["content"][0]["text"]
        assert text == f"My card is {'*' * len(CARD)}, mail {'*' * len(EMAIL)}."
        assert len(redacted) == len(scan.text) + 2  # only the number's new quotes added
        assert arguments == {"email": "*" * len(EMAIL), "card": "*" * 16}


@pytest.mark.parametrize("mode", ["placeholder", "mask"])
def test_redact_anthropic_request(mode: Any) -> None:
    before = copy.deepcopy(ANTHROPIC_MESSAGES)
    scan = request_text(ANTHROPIC_MESSAGES, "anthropic", "messages")
    spans = spans_of(scan, CARD, "payment_card") + spans_of(scan, EMAIL, "email")
    spans += spans_of(scan, "4111111111111111", "payment_card")
    out = redact_request(ANTHROPIC_MESSAGES, "anthropic", "messages", scan, spans, mode)

    assert before == ANTHROPIC_MESSAGES
    assert out["system"] is ANTHROPIC_MESSAGES["system"]
    assert out["messages"][1]["content"][0] is ANTHROPIC_MESSAGES["messages"][1]["content"][0]
    tool_input = out["messages"][1]["content"][2]["input"]
    assert tool_input["recent"] is True
    result_text = out["messages"][2]["content"][1]["content"][0]["text"]
    if mode == "placeholder":
        assert out["messages"][0]["content"] == "My card is [REDACTED:payment_card]."
        assert tool_input == {
            "email": "[REDACTED:email]",
            "card": "[REDACTED:payment_card]",
            "recent": True,
        }
        assert result_text == "owner [REDACTED:email]"
    else:
        assert out["messages"][0]["content"] == f"My card is {'*' * len(CARD)}."
        assert tool_input["email"] == "*" * len(EMAIL)
        assert result_text == "owner " + "*" * len(EMAIL)


@pytest.mark.parametrize(
    ("parsed", "wire", "route"),
    [
        (OPENAI_RESPONSE, "openai", "chat"),
        (COMPLETION_RESPONSE, "openai", "completions"),
        (ANTHROPIC_RESPONSE, "anthropic", "messages"),
    ],
)
def test_redact_response(parsed: dict[str, Any], wire: Any, route: str) -> None:
    before = copy.deepcopy(parsed)
    scan = response_text(parsed, wire, route)
    spans = spans_of(scan, CARD, "payment_card") + spans_of(scan, EMAIL, "email")
    out = redact_response(parsed, wire, route, scan, spans, "placeholder")
    assert before == parsed
    again = response_text(out, wire, route).text
    assert CARD not in again
    assert EMAIL not in again
    assert "[REDACTED:" in again
    for segment in response_text(out, wire, route).segments:
        if segment.kind == "json":
            orjson.loads(at(out, segment.path))  # still valid JSON
    if "usage" in parsed:
        assert out["usage"] is parsed["usage"]


def test_span_straddling_two_pieces_is_cut_per_piece() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "abc SECRET"},
            {"role": "user", "content": "TAIL xyz"},
        ]
    }
    scan = request_text(body, "openai", "chat")
    start = scan.text.index("SECRET")
    end = scan.text.index("TAIL") + 4
    out = redact_request(body, "openai", "chat", scan, [(start, end, "secret")], "placeholder")
    assert [m["content"] for m in out["messages"]] == [
        "abc [REDACTED:secret]",
        "[REDACTED:secret] xyz",
    ]
    masked = redact_request(body, "openai", "chat", scan, [(start, end, "secret")], "mask")
    assert [m["content"] for m in masked["messages"]] == ["abc ******", "**** xyz"]


def test_span_covering_only_the_separator_changes_nothing() -> None:
    body = {"prompt": ["ab", "cd"]}
    scan = request_text(body, "openai", "completions")
    out = redact_request(body, "openai", "completions", scan, [(2, 3, "x")], "placeholder")
    assert out == body
    assert out is not body


def test_overlapping_spans_merge_with_the_first_type() -> None:
    body = {"prompt": "call +44 20 7946 0958 or mail a@b.io"}
    scan = request_text(body, "openai", "completions")
    spans = [(5, 21, "phone"), (9, 14, "custom"), (18, 24, "other"), (30, 36, "email")]
    out = redact_request(body, "openai", "completions", scan, spans, "placeholder")
    assert out["prompt"] == "call [REDACTED:phone] mail [REDACTED:email]"
    # touching spans stay apart
    out = redact_request(
        body, "openai", "completions", scan, [(0, 4, "a"), (4, 5, "b")], "placeholder"
    )
    assert out["prompt"].startswith("[REDACTED:a][REDACTED:b]+44")


def test_no_spans_returns_an_equal_copy() -> None:
    scan = request_text(OPENAI_CHAT, "openai", "chat")
    out = redact_request(OPENAI_CHAT, "openai", "chat", scan, [], "mask")
    assert out == OPENAI_CHAT
    assert out is not OPENAI_CHAT


def test_arguments_that_are_not_json_are_redacted_as_text() -> None:
    body = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [{"function": {"name": "f", "arguments": '{"to": "a@b.io"'}}],
            }
        ]
    }
    scan = request_text(body, "openai", "chat")
    start = scan.text.index("a@b.io")
    out = redact_request(
        body, "openai", "chat", scan, [(start - 1, start + 7, "email")], "placeholder"
    )
    assert out["messages"][0]["tool_calls"][0]["function"]["arguments"] == '{"to": [REDACTED:email]'


# --- JSON text stays JSON ------------------------------------------------------------------

ARGS = '{"note": "line\\n2 \\"q\\" caf\\u00e9 \\\\x", "n": -12.5e3, "ok": [true, null, 4111]}'


@pytest.mark.parametrize("mode", ["placeholder", "mask"])
def test_every_span_over_json_text_keeps_it_valid(mode: Any) -> None:
    orjson.loads(ARGS)
    for start in range(len(ARGS)):
        for end in range(start + 1, len(ARGS) + 1):
            out = redact_json_text(ARGS, [(start, end, "t")], mode)
            assert out is not None, (start, end)
            orjson.loads(out)


def test_json_span_inside_an_escape_widens_to_it() -> None:
    text = '{"k": "caf\\u00e9 ok"}'
    start = text.index("u00")
    out = redact_json_text(text, [(start, start + 2, "t")], "mask")
    assert out == '{"k": "caf****** ok"}'
    assert orjson.loads(redact_json_text(text, [(start, start + 2, "t")], "placeholder") or "") == {
        "k": "caf[REDACTED:t] ok"
    }


def test_json_number_becomes_a_string_and_structure_is_kept() -> None:
    text = '{"card": 4111111111111111, "ok": true}'
    whole = (0, len(text), "payment_card")
    assert orjson.loads(redact_json_text(text, [whole], "placeholder") or "") == {
        "card": "[REDACTED:payment_card]",
        "ok": True,
    }
    two = [(9, 12, "a"), (14, 20, "b")]  # two spans on one number replace it once
    assert orjson.loads(redact_json_text(text, two, "mask") or "") == {"card": "*" * 16, "ok": True}
    assert redact_json_text("{not json", [(0, 3, "x")], "mask") is None


def test_json_keys_change_only_for_a_finding_inside_them() -> None:
    text = '{"a@b.io": 1, "to": "x"}'
    assert (
        redact_json_text(text, [(2, 8, "email")], "placeholder")
        == '{"[REDACTED:email]": 1, "to": "x"}'
    )
    assert redact_json_text(text, [(1, 22, "t")], "mask") == '{"a@b.io": "*", "to": "*"}'
