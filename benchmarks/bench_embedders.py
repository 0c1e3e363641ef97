"""What one embedding costs the semantic cache, per embedder, for one sentence (a question) and
for a batch of two (a question and its conversation context: one call per request), each next
to a baseline measured in the same run: sha256 of the same texts (what the exact key costs).

Arms:
- onnx-1t / onnx-2t: all-MiniLM-L6-v2 in onnxruntime, intra-op threads 1 and 2, called
  synchronously (embed_sync);
- onnx-async: the gateway's path, `await embed(...)` (its worker thread, 1 intra-op thread);
- static: the distilled token table (embed_sync);
- http-tei: the sidecar client against a TEI-shaped server on 127.0.0.1 that answers with the
  static table: the client's and loopback's own cost, not a real model server's.

Medians over rounds, arms interleaved in each round (rotating order).

    python benchmarks/bench_embedders.py [--dir MODEL_DIR] [--calls 60] [--rounds 7] [--json out.json]

Without --dir (or SMARTFLOW_MODEL_DIR) the models are built into a temporary dir first.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from gateway.cache.embed_http import HttpEmbedder
from gateway.cache.embed_onnx import OnnxEmbedder
from gateway.cache.embed_static import StaticEmbedder
from gateway.cache.model_build import build_models

QUESTIONS = [
    "How do I reset my online banking password?",
    "What is the refund policy for orders shipped outside the EU?",
    "My laptop won't connect to the office VPN since this morning's update.",
    "Can I carry forward unused annual leave into next year?",
    "Which documents do I need to open a business account?",
    "Is physiotherapy covered by my health plan after knee surgery?",
    "How do I change the seat on my flight to Lisbon next Tuesday?",
    "Why was my card declined at the petrol station yesterday?",
    "Where can I find last year's P60 in the HR portal?",
    "What's the difference between a Roth IRA and a traditional IRA?",
    "The printer on the third floor keeps jamming, who do I call?",
    "Can I return a pair of shoes bought on sale without the receipt?",
]
CONTEXT = (
    "user: I'm travelling to Japan in May with my two kids.\n"
    "assistant: Great! Do you need help with visas, insurance or bookings?\n"
    "user: Mostly insurance, we already have the flights."
)

Call = Callable[[Sequence[str]], Awaitable[object]]


def sync(fn: Callable[[Sequence[str]], object]) -> Call:
    async def call(texts: Sequence[str]) -> object:
        return fn(texts)

    return call


def sha256_texts(texts: Sequence[str]) -> list[str]:
    return [hashlib.sha256(text.encode()).hexdigest() for text in texts]


async def per_call_ms(call: Call, batches: list[list[str]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        await call(batch)
    return (time.perf_counter() - started) / len(batches) * 1e3


async def measure(arms: dict[str, Call], calls: int, rounds: int) -> dict[str, dict[str, float]]:
    singles = [[QUESTIONS[i % len(QUESTIONS)] + f" #{i}"] for i in range(calls)]
    pairs = [[QUESTIONS[i % len(QUESTIONS)] + f" #{i}", CONTEXT] for i in range(calls)]
    samples: dict[str, dict[str, list[float]]] = {name: {"single": [], "pair": []} for name in arms}
    names = list(arms)
    for name in names:  # warm-up: sessions, thread pools, connections
        await per_call_ms(arms[name], singles[:5] + pairs[:5])
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            samples[name]["single"].append(await per_call_ms(arms[name], singles))
            samples[name]["pair"].append(await per_call_ms(arms[name], pairs))
    return {
        name: {shape: statistics.median(values) for shape, values in by_shape.items()}
        for name, by_shape in samples.items()
    }


async def tei_server(embedder: StaticEmbedder) -> tuple[web.AppRunner, str]:
    async def embed(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(embedder.embed_sync(body["inputs"]).tolist())

    app = web.Application()
    app.router.add_post("/embed", embed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def run(directory: Path, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    onnx1 = OnnxEmbedder.load(directory / "onnx", threads=1)
    onnx2 = OnnxEmbedder.load(directory / "onnx", threads=2)
    onnx_async = OnnxEmbedder.load(directory / "onnx", threads=1)
    static = StaticEmbedder.load(directory / "static")
    runner, url = await tei_server(static)
    http = HttpEmbedder(url)
    arms: dict[str, Call] = {
        "baseline-sha256": sync(sha256_texts),
        "onnx-1t": sync(onnx1.embed_sync),
        "onnx-2t": sync(onnx2.embed_sync),
        "onnx-async": onnx_async.embed,
        "static": sync(static.embed_sync),
        "http-tei": http.embed,
    }
    try:
        return await measure(arms, calls, rounds)
    finally:
        await http.aclose()
        await onnx_async.aclose()
        await runner.cleanup()


def report(results: dict[str, dict[str, float]], build_s: float | None) -> None:
    base = results["baseline-sha256"]
    print(f"load avg {os.getloadavg()[0]:.2f}; cores {os.cpu_count()}")
    if build_s is not None:
        print(f"models built in {build_s:.1f} s (onnx conversion + static distillation)")
    print(f"{'arm':<18}{'1 text ms':>12}{'x base':>10}{'2 texts ms':>13}{'x base':>10}")
    for name, row in results.items():
        print(
            f"{name:<18}{row['single']:>12.4f}{row['single'] / base['single']:>10.0f}"
            f"{row['pair']:>13.4f}{row['pair'] / base['pair']:>10.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=os.environ.get("SMARTFLOW_MODEL_DIR"))
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    build_s: float | None = None
    with tempfile.TemporaryDirectory(prefix="bench-models-") as scratch:
        directory = Path(args.dir) if args.dir else Path(scratch)
        started = time.perf_counter()
        steps = build_models(directory, static=True)
        if any(step.built for step in steps):
            build_s = time.perf_counter() - started
        results = asyncio.run(run(directory, args.calls, args.rounds))
    report(results, build_s)
    if args.json:
        args.json.write_text(json.dumps({"ms_per_call": results, "build_s": build_s}, indent=2))


if __name__ == "__main__":
    main()
