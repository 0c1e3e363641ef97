"""Holding a client stream until its text is scanned.

Streams are written out as OpenAI and Anthropic emit them. What must hold, whatever the chunk
boundaries: the bytes released over the whole stream equal the input exactly and in order; the
fresh parts of the windows are exactly the streamed text; a value split over two windows is seen
whole before any of its bytes go out; the last `context_chars` stay held until the next scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest

from gateway.core.sse import SSEParser
from gateway.core.stream_hold import ScanWindow, StreamHold

CHAT_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"

OPENAI_RECORDED = (
    b'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"content":"! How can I"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"content":" help caf\xc3\xa9 \xf0\x9f\x98\x80?"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}\n\n'
    b"data: [DONE]\n\n"
)
OPENAI_RECORDED_TEXT = "Hello! How can I help caf\u00e9 \U0001f600?"

ANTHROPIC_RECORDED = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b"event: ping\n"
    b'data: {"type": "ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let me check"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather."}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":0}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"San Francisco, CA\\"}"}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":1}\n\n'
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}\n\n'
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n\n'
)
ANTHROPIC_RECORDED_TEXT = 'Okay, let me check the weather.\n{"location": "San Francisco, CA"}'

COMPLETIONS_RECORDED = (
    b'data: {"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[{"text":"This","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}\n\n'
    b'data: {"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[{"text":" is a test","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}\n\n'
    b'data: {"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct"}\n\n'
    b"data: [DONE]\n\n"
)


def openai_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_fc9f1d7035",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def openai_stream(pieces: Iterable[str]) -> bytes:
    frames = [openai_chunk({"role": "assistant", "content": "", "refusal": None})]
    frames += [openai_chunk({"content": piece}) for piece in pieces]
    frames.append(openai_chunk({}, "stop"))
    frames.append(b"data: [DONE]\n\n")
    return b"".join(frames)


def anthropic_delta(text: str, index: int = 0) -> bytes:
    data = {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }
    return b"event: content_block_delta\ndata: " + orjson.dumps(data) + b"\n\n"


def anthropic_stream(pieces: Iterable[str]) -> bytes:
    head, _, _ = ANTHROPIC_RECORDED.partition(b"event: content_block_delta")
    tail = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    tail += ANTHROPIC_RECORDED[ANTHROPIC_RECORDED.index(b"event: message_delta") :]
    return head + b"".join(anthropic_delta(piece) for piece in pieces) + tail


class Run:
    """Drives a hold as the proxy does and records what was released, window by window."""

    def __init__(self, hold: StreamHold, stop: re.Pattern[str] | None = None) -> None:
        self.hold = hold
        self.stop = stop
        self.released = b""
        self.windows: list[ScanWindow] = []
        self.caught: tuple[ScanWindow, bytes] | None = None  # the window and what was out then

    def _scan(self, window: ScanWindow) -> bool:
        self.windows.append(window)
        if self.stop is not None and self.stop.search(window.text):
            self.caught = (window, self.released)
            return False
        self.released += self.hold.scanned(window)
        return True

    def feed(self, chunks: Iterable[bytes]) -> Run:
        for chunk in chunks:
            self.hold.push(chunk)
            self.released += self.hold.ready()
            while (window := self.hold.window()) is not None:
                if not self._scan(window):
                    return self
        window = self.hold.window(final=True)
        if window is None:
            self.released += self.hold.drain()
        elif self._scan(window):
            assert window.final
        return self

    def fresh_text(self) -> str:
        return "".join(w.text[w.context :] for w in self.windows)


def split_every(data: bytes, step: int) -> Iterator[bytes]:
    for i in range(0, len(data), step):
        yield data[i : i + step]


def released_text(wire: Any, data: bytes) -> str:
    """The text a client could read from what was released (whole frames only)."""
    hold = StreamHold(wire, chunk_chars=1, context_chars=0)
    hold.push(data)
    window = hold.window()
    return window.text if window is not None else ""


RECORDED = [
    ("openai", OPENAI_RECORDED, OPENAI_RECORDED_TEXT),
    ("anthropic", ANTHROPIC_RECORDED, ANTHROPIC_RECORDED_TEXT),
    ("openai", COMPLETIONS_RECORDED, "This is a test"),
]


@pytest.mark.parametrize(("wire", "raw", "text"), RECORDED)
@pytest.mark.parametrize(("chunk", "context"), [(1, 0), (5, 3), (12, 5), (200, 50)])
def test_every_split_point_releases_the_input_exactly(
    wire: Any, raw: bytes, text: str, chunk: int, context: int
) -> None:
    for cut in range(len(raw) + 1):
        run = Run(StreamHold(wire, chunk_chars=chunk, context_chars=context))
        run.feed([raw[:cut], raw[cut:]])
        assert run.released == raw, cut
        assert run.fresh_text() == text, cut


@pytest.mark.parametrize(("wire", "raw", "text"), RECORDED)
@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_byte_by_byte_pushes(wire: Any, raw: bytes, text: str, step: int) -> None:
    run = Run(StreamHold(wire, chunk_chars=4, context_chars=2)).feed(split_every(raw, step))
    assert run.released == raw
    assert run.fresh_text() == text
    for window in run.windows:
        assert window.text == text[window.offset : window.offset + len(window.text)]
        assert window.context <= 2


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
def test_other_line_endings(ending: bytes) -> None:
    raw = ANTHROPIC_RECORDED.replace(b"\n", ending)
    for step in (1, 5, len(raw)):
        run = Run(StreamHold("anthropic", chunk_chars=6, context_chars=3)).feed(
            split_every(raw, step)
        )
        assert run.released == raw
        assert run.fresh_text() == ANTHROPIC_RECORDED_TEXT


def test_stream_without_final_blank_line_and_keep_alives() -> None:
    raw = b": keep-alive\n\n" + openai_stream(["abc", "def"])[:-2]  # ends "data: [DONE]"
    run = Run(StreamHold("openai", chunk_chars=100, context_chars=10)).feed(split_every(raw, 3))
    assert run.released == raw
    assert run.fresh_text() == "abcdef"
    assert run.windows[-1].final


def test_no_text_at_all_is_drained() -> None:
    raw = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\ndata: [DONE]\n\n'
    hold = StreamHold("openai")
    hold.push(raw)
    assert hold.ready() == raw  # nothing to scan before them
    assert hold.window(final=True) is None
    assert hold.drain() == b""


def test_frames_before_text_go_out_at_once_and_textless_frames_wait_behind_text() -> None:
    raw = openai_stream(["Hello there"])
    role, rest = raw.split(b"\n\n", 1)
    hold = StreamHold("openai", chunk_chars=200, context_chars=50)
    hold.push(raw)
    assert hold.ready() == role + b"\n\n"  # the role chunk carries no text
    assert hold.ready() == b""
    assert hold.window() is None  # 11 characters: not a window yet
    window = hold.window(final=True)
    assert window is not None
    assert (window.text, window.offset, window.final, window.context) == ("Hello there", 0, True, 0)
    assert hold.scanned(window) == rest  # finish chunk and [DONE] came after the held text


def test_held_tail_rule() -> None:
    pieces = [f"w{i:02d} " for i in range(60)]  # 4 characters per frame, 240 in all
    raw = openai_stream(pieces)
    hold = StreamHold("openai", chunk_chars=100, context_chars=30)
    hold.push(raw)
    released = hold.ready()
    window = hold.window()
    assert window is not None
    assert (window.offset, len(window.text), window.context) == (0, 240, 0)
    out = hold.scanned(window)
    released += out
    # frames whose text ends at or before 240 - 30 = 210 are out, the rest are held
    assert released_text("openai", released) == "".join(pieces)[:208]
    assert hold.unscanned == 0
    assert hold.window() is None
    final = hold.window(final=True)
    assert final is None  # nothing unscanned: the tail is drained
    assert released + hold.drain() == raw


def test_window_carries_context_from_the_previous_scan() -> None:
    hold = StreamHold("openai", chunk_chars=10, context_chars=4)
    raw = openai_stream(["0123456789", "abcdefghij"])
    second_delta = raw.index(b"data:", raw.index(b"0123456789"))
    hold.push(raw[:second_delta])
    first = hold.window()
    assert first is not None
    assert (first.text, first.offset, first.context) == ("0123456789", 0, 0)
    hold.scanned(first)
    hold.push(raw[second_delta:])
    second = hold.window()
    assert second is not None
    assert (second.text, second.offset, second.context) == ("6789abcdefghij", 6, 4)


SECRET = "AKIAIOSFODNN7EXAMPLE"
SECRET_RE = re.compile(r"AKIA[0-9A-Z]{16}")


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("secret_at", range(176, 201))
@pytest.mark.parametrize("step", [1, 97, 100_000])
def test_secret_split_over_two_windows_is_caught_before_release(
    wire: Any, secret_at: int, step: int
) -> None:
    text = ("lorem ipsum " * 20)[:secret_at] + SECRET + " and the rest of the answer." * 8
    # the model emits a few characters per delta, so the secret is cut over several frames
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    raw = openai_stream(pieces) if wire == "openai" else anthropic_stream(pieces)
    run = Run(StreamHold(wire, chunk_chars=200, context_chars=50), stop=SECRET_RE)
    run.feed(split_every(raw, step))
    assert run.caught is not None
    window, out = run.caught
    start = window.offset + window.text.index(SECRET)
    assert start == secret_at
    assert len(released_text(wire, out)) <= secret_at  # not one byte of it went out
    assert SECRET[:4].encode() not in out
    if step == 1 and secret_at >= 184:  # the first window (203 characters) ends inside it
        assert len(run.windows) == 2
        assert window.offset <= secret_at < window.offset + window.context


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_passing_stream_with_default_sizes(wire: Any) -> None:
    text = "".join(f"sentence {i} is harmless. " for i in range(80))
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    raw = openai_stream(pieces) if wire == "openai" else anthropic_stream(pieces)
    run = Run(StreamHold(wire), stop=SECRET_RE).feed(split_every(raw, 113))
    assert run.caught is None
    assert run.released == raw
    assert run.fresh_text() == text
    assert all(len(w.text) - w.context >= 200 for w in run.windows[:-1])


def test_channels_are_separated_by_a_newline() -> None:
    frames = [
        openai_chunk({"role": "assistant", "content": "Let me look"}),
        openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q":'}}]}),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
        openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "g", "arguments": "{}"},
                    }
                ]
            }
        ),
        openai_chunk({"refusal": "no"}),
        openai_chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    raw = b"".join(frames)
    run = Run(StreamHold("openai", chunk_chars=3, context_chars=1)).feed([raw])
    assert run.fresh_text() == 'Let me look\n{"q":"x"}\n{}\nno'
    assert run.released == raw


def test_anthropic_thinking_and_unknown_frames_carry_no_text() -> None:
    frames = [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}\n\n',
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
        b"data: not json\n\n",
        b"data: [1, 2]\n\n",
    ]
    hold = StreamHold("anthropic")
    hold.push(b"".join(frames))
    assert hold.unscanned == 0
    assert hold.ready() == b"".join(frames)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="chunk_chars"):
        StreamHold("openai", chunk_chars=0)
    with pytest.raises(ValueError, match="context_chars"):
        StreamHold("openai", context_chars=-1)


def test_released_frames_parse_as_the_original_events() -> None:
    """What goes out is whole frames: an SSE client parses the same events from it."""
    run = Run(StreamHold("anthropic", chunk_chars=8, context_chars=4)).feed(
        split_every(ANTHROPIC_RECORDED, 11)
    )
    parser = SSEParser()
    events = parser.feed(run.released) + parser.flush()
    expected = SSEParser().feed(ANTHROPIC_RECORDED)
    assert [(e.event, e.data) for e in events] == [(e.event, e.data) for e in expected]
