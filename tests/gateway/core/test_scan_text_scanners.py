"""The extraction, redaction and stream hold driven by the real scanners, as the proxy uses them.

Findings from `scan_pii` and `scan_secrets` over `request_text` map back into the body: after
redaction a rescan finds nothing and tool arguments still parse. In a stream, a secret the
scanner knows is stopped before any of its bytes are released, wherever a window boundary cuts
it. And, over many seeded random span sets, masking changes exactly the characters spanned.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson
import pytest

from gateway.compliance.findings import Finding
from gateway.compliance.pii import scan_pii
from gateway.compliance.secrets import scan_secrets
from gateway.core.scan_text import redact_request, request_text
from gateway.core.stream_hold import ScanWindow, StreamHold

GITHUB_TOKEN = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"  # 40 characters


def findings(text: str) -> list[Finding]:
    return [*scan_pii(text), *scan_secrets(text)]


def spans(found: list[Finding]) -> list[tuple[int, int, str]]:
    return [(f.start, f.end, f.type) for f in found]


OPENAI_BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "user", "content": "Charge 4111 1111 1111 1111 and mail jane.doe@example.com"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "deploy",
                        "arguments": orjson.dumps(
                            {"token": GITHUB_TOKEN, "aws": "AKIAIOSFODNN7EXAMPLE"}
                        ).decode(),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "deployed by jane.doe@example.com"},
    ],
}

ANTHROPIC_BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "system": "Keys: AKIAIOSFODNN7EXAMPLE",
    "messages": [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "deploy",
                    "input": {"token": GITHUB_TOKEN},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "card 4111111111111111"}],
                },
            ],
        },
    ],
}


@pytest.mark.parametrize(
    ("body", "wire", "route"),
    [(OPENAI_BODY, "openai", "chat"), (ANTHROPIC_BODY, "anthropic", "messages")],
)
@pytest.mark.parametrize("mode", ["placeholder", "mask"])
def test_redacted_request_rescans_clean(
    body: dict[str, Any], wire: Any, route: str, mode: Any
) -> None:
    before = copy.deepcopy(body)
    scan = request_text(body, wire, route)
    found = findings(scan.text)
    assert {f.type for f in found} >= {"payment_card", "aws_access_key", "github_token"}
    out = redact_request(body, wire, route, scan, spans(found), mode)
    assert body == before
    again = request_text(out, wire, route)
    # what is left is at most the entropy rule reading a placeholder as a token assignment
    left = [again.text[f.start : f.end] for f in findings(again.text)]
    assert all("[REDACTED:" in value for value in left), left
    for segment in again.segments:
        if segment.kind == "json":
            value: Any = out
            for key in segment.path:
                value = value[key]
            orjson.loads(value)


def drive(hold: StreamHold, raw: bytes, step: int) -> tuple[bytes, ScanWindow | None]:
    """Feed `raw` in `step`-byte pushes, scanning each window; stop at the first finding."""
    released = b""
    for i in range(0, len(raw), step):
        hold.push(raw[i : i + step])
        released += hold.ready()
        while (window := hold.window()) is not None:
            if scan_secrets(window.text):
                return released, window
            released += hold.scanned(window)
    window = hold.window(final=True)
    if window is not None and scan_secrets(window.text):
        return released, window
    return released + (hold.scanned(window) if window else hold.drain()), None


def openai_frames(pieces: list[str]) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1741569952,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in pieces]
    return b"".join([*frames, chunk({}, "stop"), b"data: [DONE]\n\n"])


def anthropic_frames(pieces: list[str]) -> bytes:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    frames = [
        event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-haiku-4-5",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        ),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    frames += [
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    frames += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 90},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(frames)


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("secret_at", [150, 165, 170, 180, 190, 199, 200, 230])
def test_real_scanner_stops_a_straddling_token_before_release(wire: Any, secret_at: int) -> None:
    text = (
        ("The deployment went fine. " * 12)[:secret_at]
        + " "
        + GITHUB_TOKEN
        + " is the token. "
        + "Done. " * 60
    )
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    raw = openai_frames(pieces) if wire == "openai" else anthropic_frames(pieces)
    released, caught = drive(StreamHold(wire), raw, 1)
    assert caught is not None
    assert b"ghp_" not in released
    assert GITHUB_TOKEN[-6:].encode() not in released


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_real_scanner_passes_a_clean_stream_untouched(wire: Any) -> None:
    text = (
        "Version 1.2.3 shipped on 2024-05-01; build 1714550400000; id 550e8400-e29b-41d4-a716-446655440000. "
        * 10
    )
    pieces = [text[i : i + 6] for i in range(0, len(text), 6)]
    raw = openai_frames(pieces) if wire == "openai" else anthropic_frames(pieces)
    released, caught = drive(StreamHold(wire), raw, 57)
    assert caught is None
    assert released == raw


def test_mask_changes_exactly_the_spanned_characters() -> None:
    rng = random.Random(14)
    body = {
        "messages": [
            {
                "role": "user",
                "content": "".join(rng.choice("abc xyz") for _ in range(rng.randint(0, 30))),
            }
            for _ in range(6)
        ]
    }
    scan = request_text(body, "openai", "chat")
    for _ in range(500):
        chosen = []
        for _ in range(rng.randint(0, 4)):
            start = rng.randint(0, len(scan.text))
            chosen.append((start, min(len(scan.text), start + rng.randint(0, 12)), "t"))
        out = redact_request(body, "openai", "chat", scan, chosen, "mask")
        expected = list(scan.text)
        for start, end, _ in chosen:
            for i in range(start, end):
                if expected[i] != "\n":
                    expected[i] = "*"
        assert request_text(out, "openai", "chat").text == "".join(expected)
