"""What does the gateway add to a POST /v1/responses? Each arm against its floor, same run.

    python benchmarks/bench_responses.py [--rounds 400] [--no-cache] [--json out.json]

Starts on 127.0.0.1 (free ports) `sfctl mock-upstream --latency-ms 0` and the gateway
(SERVICE_TYPE=all, access log off, responses stored in its SQLite file) routing one model to the
mock as an `openai-compatible` provider (Responses translated to Chat Completions) and another to
the same mock as an `openai` provider (native: /v1/responses forwarded, `store: false` upstream,
the conversation kept by the gateway). The gateway arms use a virtual key without limits,
created through the management API, as applications call it. Unique prompts (the response cache,
on by default as in bench_gateway.py, always misses; --no-cache turns it off).

Arms (one keep-alive connection each, sequential requests, interleaved in every round and
reversed every other round; round trips read to the last byte):

- direct chat: /v1/chat/completions straight to the mock, the floor of every chat-shaped arm.
- gateway chat: the same through the gateway (the figure bench_gateway.py measures).
- responses, store: /v1/responses, translated to chat, `store: true` (the store write included).
- responses, no store: the same with `store: false`.
- direct chat, 10 turns: the chat request the chain arm becomes upstream (21 messages), direct.
- responses, chain: `previous_response_id` continuing a stored 10-turn conversation (the chain
  read from the store, translated with the new input), `store: true`.
- direct chat, stream / gateway chat, stream / responses, stream: streamed, time to last byte.
- direct responses: /v1/responses straight to the mock, the native arm's floor.
- responses, native: /v1/responses through the gateway to the `openai` provider, `store: true`.

Each row: p50 and p99 of the round trip, its floor, what the gateway adds (p50 minus the floor's
p50) and the median of x-smartflow-overhead-ms (the gateway's own time, upstream wait excluded;
taken when the headers are built, so a lower bound, and for streams only up to the headers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from bench_cache import _q, _wait_ready, fleet

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
MODEL = "gpt-4o-mini"  # openai-compatible: /v1/responses translated to chat
NATIVE = "native-4o-mini"  # openai: /v1/responses forwarded
MAX_TOKENS = 16
TURNS = 10
NATIVE_KEY_ENV = "BENCH_NATIVE_UPSTREAM_KEY"

# the last frame of a whole stream: chat, and the Responses API's terminal events
_STREAM_ENDS = (b"data: [DONE]", b"response.completed", b"response.incomplete")

Body = Callable[[int], dict[str, Any]]


def _question(tag: str, n: int) -> str:
    return f"Question {tag}-{n}: what does clause {n * 7919 % 10007} of the policy cover?"


def _chat(tag: str, *, stream: bool = False, history: list[dict[str, Any]] | None = None) -> Body:
    def body(n: int) -> dict[str, Any]:
        messages = [*(history or []), {"role": "user", "content": _question(tag, n)}]
        out: dict[str, Any] = {"model": MODEL, "messages": messages, "max_tokens": MAX_TOKENS}
        if stream:
            out["stream"] = True
        return out

    return body


def _responses(tag: str, model: str = MODEL, **fields: Any) -> Body:
    def body(n: int) -> dict[str, Any]:
        base = {"model": model, "input": _question(tag, n), "max_output_tokens": MAX_TOKENS}
        return {**base, **fields}

    return body


class Arm:
    """One kind of request on its own keep-alive connection."""

    def __init__(
        self, name: str, url: str, key: str | None, body: Body, floor: str | None, *,
        stream: bool = False,
    ) -> None:  # fmt: skip
        self.name = name
        self.url = url
        self.body = body
        self.floor = floor  # the arm whose p50 this one is compared with
        self.stream = stream
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1), headers=headers
        )
        self.sent = 0
        self.round_trip_ms: list[float] = []
        self.server_ms: list[float] = []

    async def once(self, record: bool = True) -> dict[str, Any] | None:
        self.sent += 1
        payload = json.dumps(self.body(self.sent)).encode()
        started = time.perf_counter()
        async with self.session.post(
            self.url, data=payload, headers={"Content-Type": "application/json"}
        ) as response:
            raw = await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            overhead = response.headers.get("x-smartflow-overhead-ms")
        answer = _check(self.name, response.status, raw, self.stream)
        if record:
            self.round_trip_ms.append(elapsed)
            if overhead is not None:
                self.server_ms.append(float(overhead))
        return answer


def _check(name: str, status: int, raw: bytes, stream: bool) -> dict[str, Any] | None:
    """A complete answer or an error: a benchmark of failures measures nothing."""
    if status != 200:
        raise RuntimeError(f"{name}: HTTP {status}: {raw[:300]!r}")
    if stream:
        if not any(end in raw for end in _STREAM_ENDS):
            raise RuntimeError(f"{name}: the stream did not end: {raw[-300:]!r}")
        return None
    answer = json.loads(raw)
    if answer.get("object") not in ("chat.completion", "response"):
        raise RuntimeError(f"{name}: unexpected answer: {raw[:300]!r}")
    return dict(answer)


def _output_text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response.get("output", [])
        if item.get("type") == "message"
        for part in item.get("content", [])
    )


async def _admin(session: aiohttp.ClientSession, url: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with session.post(url, json=body, headers=headers) as response:
        payload = await response.json(content_type=None)
        if response.status >= 300:
            raise RuntimeError(f"{url}: HTTP {response.status}: {payload}")
        return payload


async def _conversation(gateway: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    """A stored 10-turn conversation through the gateway: the last response's id, and the same
    conversation as chat messages (what the chain arm's upstream request carries)."""
    history: list[dict[str, Any]] = []
    previous: str | None = None
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        for turn in range(1, TURNS + 1):
            question = _question("turn", turn)
            body = {"model": MODEL, "input": question, "max_output_tokens": MAX_TOKENS,
                    "store": True, "previous_response_id": previous}  # fmt: skip
            async with session.post(gateway + "/v1/responses", json=body) as response:
                answer = _check("conversation", response.status, await response.read(), False)
            assert answer is not None
            previous = str(answer["id"])
            history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": _output_text(answer)},
            ]
    assert previous is not None
    return previous, history


async def measure(urls: dict[str, str], rounds: int, workdir: Path) -> dict[str, Any]:
    gateway, direct = urls["gateway"], urls["direct"]
    async with aiohttp.ClientSession() as probe:
        await _wait_ready(probe, direct, "/health", workdir)
        await _wait_ready(probe, gateway, "/ready", workdir)
        key = str(
            (await _admin(probe, gateway + "/api/enterprise/vkeys", {"name": "bench"}))["key"]
        )
    last, history = await _conversation(gateway, key)
    chat, responses = "/v1/chat/completions", "/v1/responses"
    arms = [
        Arm("direct chat", direct + chat, None, _chat("d"), None),
        Arm("gateway chat", gateway + chat, key, _chat("g"), "direct chat"),
        Arm("responses, store", gateway + responses, key, _responses("rs", store=True),
            "direct chat"),
        Arm("responses, no store", gateway + responses, key, _responses("rn", store=False),
            "direct chat"),
        Arm("direct chat, 10 turns", direct + chat, None, _chat("dc", history=history), None),
        Arm("responses, chain", gateway + responses, key,
            _responses("rc", store=True, previous_response_id=last), "direct chat, 10 turns"),
        Arm("direct chat, stream", direct + chat, None, _chat("ds", stream=True), None,
            stream=True),
        Arm("gateway chat, stream", gateway + chat, key, _chat("gs", stream=True),
            "direct chat, stream", stream=True),
        Arm("responses, stream", gateway + responses, key, _responses("rt", stream=True),
            "direct chat, stream", stream=True),
        Arm("direct responses", direct + responses, None, _responses("dr"), None),
        Arm("responses, native", gateway + responses, key,
            _responses("rv", model=NATIVE, store=True), "direct responses"),
    ]  # fmt: skip
    checks: dict[str, Any] = {}
    try:
        for arm in arms:  # warm-up: connections, code paths, the SQLite page cache
            for _ in range(30):
                answer = await arm.once(record=False)
            if answer is not None:
                usage = answer.get("usage") or {}
                checks[arm.name] = usage.get("input_tokens", usage.get("prompt_tokens"))
        for n in range(rounds):
            for arm in arms if n % 2 == 0 else arms[::-1]:
                await arm.once()
    finally:
        for arm in arms:
            await arm.session.close()
    p50 = {arm.name: statistics.median(arm.round_trip_ms) for arm in arms}
    figures = {
        arm.name: {
            "floor": arm.floor,
            "round_trip_p50_ms": p50[arm.name],
            "round_trip_p99_ms": _q(arm.round_trip_ms, 0.99),
            "added_p50_ms": p50[arm.name] - p50[arm.floor] if arm.floor else None,
            "x_floor": p50[arm.name] / p50[arm.floor] if arm.floor else None,
            "server_p50_ms": statistics.median(arm.server_ms) if arm.server_ms else None,
        }
        for arm in arms
    }
    return {"arms": figures, "input_tokens": checks}


def report(result: dict[str, Any], rounds: int, cache: bool) -> None:
    figures = result["arms"]
    print(f"load avg {os.getloadavg()[0]:.2f}   rounds {rounds}   upstream: mockllm, 0 ms   "
          f"store: SQLite   response cache: {'on (misses)' if cache else 'off'}")  # fmt: skip
    print(f"{'arm':<24}{'p50 ms':>9}{'p99 ms':>9}  {'floor':<22}{'added p50':>11}{'x floor':>9}"
          f"{'server p50':>12}")  # fmt: skip
    for name, row in figures.items():
        added = f"{row['added_p50_ms']:>+8.3f} ms{row['x_floor']:>8.2f}x" if row["floor"] else ""
        server = row["server_p50_ms"]
        server_text = f"{server:>9.3f} ms" if server is not None else f"{'-':>12}"
        print(f"{name:<24}{row['round_trip_p50_ms']:>9.3f}{row['round_trip_p99_ms']:>9.3f}  "
              f"{row['floor'] or '-':<22}{added:>20}{server_text if row['floor'] else ''}")  # fmt: skip

    def added_of(name: str) -> float:
        return float(figures[name]["added_p50_ms"])

    def server_of(name: str) -> float:
        return float(figures[name]["server_p50_ms"] or 0.0)

    print()
    for label, a, b in (
        ("/v1/responses (store) beyond chat", "responses, store", "gateway chat"),
        ("/v1/responses (no store) beyond chat", "responses, no store", "gateway chat"),
        ("the store write (store - no store)", "responses, store", "responses, no store"),
        ("10-turn chain beyond a first turn", "responses, chain", "responses, store"),
        ("streamed /v1/responses beyond chat", "responses, stream", "gateway chat, stream"),
        ("native beyond translated (store)", "responses, native", "responses, store"),
    ):
        print(f"{label:<40}{added_of(a) - added_of(b):>+8.3f} ms added p50   "
              f"{server_of(a) - server_of(b):>+8.3f} ms server p50")  # fmt: skip
    tokens = result["input_tokens"]
    print(f"upstream input tokens, chain arm {tokens.get('responses, chain')} against "
          f"{tokens.get('direct chat, 10 turns')} for its direct floor (the whole conversation "
          "was sent)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--no-cache", action="store_true", help="SMARTFLOW_CACHE=false")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-responses-") as tmp:
        workdir = Path(tmp)
        with fleet(workdir) as running:
            mock = running.start(
                "direct", [py, "-m", "sfctl", "mock-upstream", "--latency-ms", "0"]
            )
            routing = workdir / "routing.yaml"
            routing.write_text(
                "providers:\n"
                f"  - {{name: up, type: openai-compatible, base_url: '{mock}/v1'}}\n"
                f"  - {{name: native, type: openai, base_url: '{mock}/v1', "
                f"api_key_env: {NATIVE_KEY_ENV}}}\n"
                "models:\n"
                f"  - {{name: {MODEL}, deployments: [{{provider: up}}]}}\n"
                f"  - {{name: {NATIVE}, deployments: [{{provider: native, model: {MODEL}}}]}}\n",
                encoding="utf-8",
            )
            running.start(
                "gateway",
                [py, "-m", "gateway", "--service", "all", "--host", "127.0.0.1",
                 "--config", str(routing)],
                ADMIN_API_KEY=ADMIN_KEY,
                SMARTFLOW_ACCESS_LOG="false",
                SMARTFLOW_CACHE="false" if args.no_cache else "true",
                SMARTFLOW_CACHE_EMBEDDER="none",  # exact phases only, whatever models exist here
                SMARTFLOW_DATA_DIR=str(workdir / "data"),
                **{NATIVE_KEY_ENV: "sk-bench-upstream"},
            )  # fmt: skip
            result = asyncio.run(measure(running.urls, args.rounds, workdir))
    report(result, args.rounds, not args.no_cache)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
