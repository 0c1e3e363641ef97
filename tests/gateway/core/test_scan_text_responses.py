"""Scannable text of OpenAI Responses API bodies (route "responses") and redaction by span.

A policy that redacts or refuses on /v1/chat/completions must do the same on /v1/responses: the
instructions, every input item a person or a model wrote (messages, function call arguments and
outputs) and a Response's output items are read; images, files and reasoning are not. Findings
come from the real PII scanner; after redaction a rescan finds nothing, function call arguments
still parse, and the caller's body is left untouched.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from gateway.compliance.pii import scan_pii
from gateway.core.scan_text import (
    Segment,
    redact_request,
    redact_response,
    request_text,
    response_text,
)

CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"


def card_spans(text: str) -> list[tuple[int, int, str]]:
    return [(f.start, f.end, f.type) for f in scan_pii(text) if f.type == "payment_card"]


def redacted_request(body: dict[str, Any]) -> dict[str, Any]:
    scan = request_text(body, "openai", "responses")
    spans = card_spans(scan.text)
    assert spans, "the card was not in the scanned text"
    return redact_request(body, "openai", "responses", scan, spans, "placeholder")


def test_a_string_input_is_read_and_redacted() -> None:
    body = {"model": "gpt-4.1", "input": f"Charge my card {CARD} please"}
    scan = request_text(body, "openai", "responses")
    assert scan.text == body["input"]
    assert scan.segments == (Segment(("input",), 0, len(body["input"])),)
    out = redacted_request(body)
    assert out["input"] == "Charge my card [REDACTED:payment_card] please"
    assert body["input"].endswith("please") and CARD in body["input"]  # the caller's body


def test_instructions_are_read_before_the_input() -> None:
    body = {"model": "gpt-4.1", "instructions": f"The customer's card is {CARD}.", "input": "Hi"}
    scan = request_text(body, "openai", "responses")
    assert scan.text == f"The customer's card is {CARD}.\nHi"
    assert [s.path for s in scan.segments] == [("instructions",), ("input",)]
    out = redacted_request(body)
    assert out["instructions"] == "The customer's card is [REDACTED:payment_card]."
    assert out["input"] == "Hi"


CONVERSATION: dict[str, Any] = {
    "model": "gpt-4.1",
    "input": [
        {"role": "user", "content": "What did I buy?"},  # an item without a type is a message
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": f"My card is {CARD}."},
                {"type": "input_image", "image_url": "https://example.com/4111111111111111.png"},
                {"type": "input_file", "file_id": "file-4111111111111111"},
            ],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": f"the card {CARD} was given"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": "Let me look that up.", "annotations": []},
                {"type": "refusal", "refusal": f"I will not repeat {CARD}."},
            ],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "lookup_orders",
            "arguments": orjson.dumps({"card": CARD, "limit": 5}).decode(),
        },
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": f"orders for card {CARD}: none",
        },
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [{"type": "input_text", "text": f"receipt: {CARD}"}],
        },
    ],
}


def test_input_items_are_read_part_by_part() -> None:
    scan = request_text(CONVERSATION, "openai", "responses")
    assert [s.path for s in scan.segments] == [
        ("input", 0, "content"),
        ("input", 1, "content", 0, "text"),
        ("input", 3, "content", 0, "text"),
        ("input", 3, "content", 1, "refusal"),
        ("input", 4, "arguments"),
        ("input", 5, "output"),
        ("input", 6, "output", 0, "text"),
    ]
    assert scan.segments[4].kind == "json"
    for segment in scan.segments:  # each segment points at the text it came from
        node: Any = CONVERSATION
        for key in segment.path:
            node = node[key]
        assert scan.text[segment.start : segment.end] == node
    # images, files and reasoning are not read
    assert "example.com" not in scan.text and "file-" not in scan.text
    assert "was given" not in scan.text


def test_every_card_in_the_input_is_redacted_and_arguments_stay_json() -> None:
    before = copy.deepcopy(CONVERSATION)
    out = redacted_request(CONVERSATION)
    assert before == CONVERSATION  # the caller's body is untouched
    items = out["input"]
    assert items[1]["content"][0]["text"] == "My card is [REDACTED:payment_card]."
    assert items[1]["content"][1] is CONVERSATION["input"][1]["content"][1]  # shared, unchanged
    assert items[3]["content"][1]["refusal"] == "I will not repeat [REDACTED:payment_card]."
    assert orjson.loads(items[4]["arguments"]) == {"card": "[REDACTED:payment_card]", "limit": 5}
    assert items[5]["output"] == "orders for card [REDACTED:payment_card]: none"
    assert items[6]["output"][0]["text"] == "receipt: [REDACTED:payment_card]"
    assert items[2] is CONVERSATION["input"][2]  # reasoning is not read, so not rewritten
    assert not card_spans(request_text(out, "openai", "responses").text)


def test_a_card_number_in_arguments_is_masked_inside_the_json() -> None:
    arguments = f'{{"card": {CARD_DIGITS}, "note": "pay"}}'  # a JSON number
    body: dict[str, Any] = {
        "model": "gpt-4.1",
        "input": [{"type": "function_call", "call_id": "c", "name": "pay", "arguments": arguments}],
    }
    scan = request_text(body, "openai", "responses")
    out = redact_request(body, "openai", "responses", scan, card_spans(scan.text), "mask")
    masked = out["input"][0]["arguments"]
    # still valid JSON: the number becomes a string of as many "*"
    assert orjson.loads(masked) == {"card": "*" * len(CARD_DIGITS), "note": "pay"}
    assert body["input"][0]["arguments"] == arguments


def test_a_body_without_a_finding_is_returned_as_it_was() -> None:
    body = {"model": "gpt-4.1", "instructions": "Be brief.", "input": "Order 1234, please"}
    scan = request_text(body, "openai", "responses")
    assert not card_spans(scan.text)
    assert redact_request(body, "openai", "responses", scan, [], "placeholder") == body


def test_the_chat_reading_is_not_used_for_responses() -> None:
    """A Responses body has no `messages`; a chat route reading it would scan nothing."""
    body = {"model": "gpt-4.1", "input": f"card {CARD}"}
    assert request_text(body, "openai", "chat").text == ""
    assert request_text(body, "openai", "responses").text == f"card {CARD}"


RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1750000000,
    "status": "completed",
    "model": "gpt-4.1-2025-04-14",
    "instructions": f"echoed instructions {CARD}",
    "output": [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": f"about {CARD}"}],
        },
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": f"Your card {CARD} was charged twice.",
                    "annotations": [],
                    "logprobs": [],
                },
                {"type": "refusal", "refusal": f"Not saying {CARD} again."},
            ],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "refund",
            "arguments": orjson.dumps({"card": CARD}).decode(),
            "status": "completed",
        },
    ],
    "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30},
}


def test_a_response_reads_its_output_items() -> None:
    scan = response_text(RESPONSE, "openai", "responses")
    assert [s.path for s in scan.segments] == [
        ("output", 1, "content", 0, "text"),
        ("output", 1, "content", 1, "refusal"),
        ("output", 2, "arguments"),
    ]
    assert "echoed" not in scan.text  # the prompt side, scanned with the request
    assert "about" not in scan.text  # reasoning


def test_a_response_is_redacted_in_its_output() -> None:
    before = copy.deepcopy(RESPONSE)
    scan = response_text(RESPONSE, "openai", "responses")
    out = redact_response(
        RESPONSE, "openai", "responses", scan, card_spans(scan.text), "placeholder"
    )
    assert before == RESPONSE
    message = out["output"][1]
    assert message["content"][0]["text"] == "Your card [REDACTED:payment_card] was charged twice."
    assert message["content"][1]["refusal"] == "Not saying [REDACTED:payment_card] again."
    assert orjson.loads(out["output"][2]["arguments"]) == {"card": "[REDACTED:payment_card]"}
    assert out["usage"] is RESPONSE["usage"] and out["output"][0] is RESPONSE["output"][0]
    assert not card_spans(response_text(out, "openai", "responses").text)


def test_a_response_without_output_reads_nothing() -> None:
    for parsed in ({"id": "resp_1", "output": []}, {"id": "resp_1", "output": None}, {}):
        assert response_text(parsed, "openai", "responses").segments == ()
    clean = copy.deepcopy(RESPONSE)
    clean["output"] = clean["output"][1:2]
    clean["output"][0]["content"] = [{"type": "output_text", "text": "No card here."}]
    assert not card_spans(response_text(clean, "openai", "responses").text)
