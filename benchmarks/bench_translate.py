"""Per-event cost of the streaming hot path: SSE parsing and OpenAI <-> Anthropic translation.

Baseline measured in the same run: one orjson.loads + orjson.dumps of the same event, the least a
translating proxy can do per event. Prints medians over rounds and the ratio to the baseline.

    python benchmarks/bench_translate.py [--events 50000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson

from gateway.core.sse import SSEEvent, SSEParser
from gateway.core.translate import AnthropicToOpenAIStream, OpenAIToAnthropicStream

OPENAI_FRAME = (
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f9f4fb6dbf",'
    b'"choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}'
    b"\n\n"
)
ANTHROPIC_FRAME = (
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}'
    b"\n\n"
)
MESSAGE_START = (
    '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    '"model":"claude","content":[],"stop_reason":null,"stop_sequence":null,'
    '"usage":{"input_tokens":12,"output_tokens":1}}}'
)


def per_event_us(run: Callable[[int], None], events: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        run(events)
        samples.append((time.perf_counter() - started) / events * 1e6)
    return statistics.median(samples)


def baseline(events: int) -> None:
    payload = OPENAI_FRAME[6:-2]
    for _ in range(events):
        orjson.dumps(orjson.loads(payload))


def parse_only(events: int) -> None:
    parser = SSEParser()
    for _ in range(events):
        parser.feed(OPENAI_FRAME)


def anthropic_to_openai(events: int) -> None:
    parser = SSEParser()
    translator = AnthropicToOpenAIStream(
        model="m", created=1, response_id="chatcmpl-1", include_usage=True
    )
    translator.feed(SSEEvent("message_start", MESSAGE_START))
    for _ in range(events):
        for event in parser.feed(ANTHROPIC_FRAME):
            translator.feed(event)


def openai_to_anthropic(events: int) -> None:
    parser = SSEParser()
    translator = OpenAIToAnthropicStream(model="m", message_id="msg_1")
    for _ in range(events):
        for event in parser.feed(OPENAI_FRAME):
            translator.feed(event)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--events", type=int, default=50_000)
    args.add_argument("--rounds", type=int, default=7)
    options = args.parse_args()
    base = per_event_us(baseline, options.events, options.rounds)
    print(f"{'per event':<38}{'µs':>8}{'x baseline':>12}")
    print(f"{'baseline: orjson loads+dumps':<38}{base:>8.2f}{1.0:>12.2f}")
    for name, run in (
        ("SSE parse (OpenAI chunk)", parse_only),
        ("parse + Anthropic -> OpenAI", anthropic_to_openai),
        ("parse + OpenAI -> Anthropic", openai_to_anthropic),
    ):
        cost = per_event_us(run, options.events, options.rounds)
        print(f"{name:<38}{cost:>8.2f}{cost / base:>12.2f}")


if __name__ == "__main__":
    main()
