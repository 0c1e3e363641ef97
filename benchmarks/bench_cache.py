"""What does MetaCache cost and save? Hits against the round trip to a 0 ms upstream, misses with
and without the semantic phase, per embedder.

    python benchmarks/bench_cache.py [--rounds 300] [--model-dir DIR] [--json out.json]

Starts on 127.0.0.1 (free ports) `sfctl mock-upstream --latency-ms 0` and three gateways
(SERVICE_TYPE=all, access log off) routing to it, one per embedder: `none` (exact phases only),
`static` and `onnx` (the models from --model-dir, else $SMARTFLOW_MODEL_DIR; build them with
`smartflow-gateway build-models`). One keep-alive connection per arm, sequential requests, the
arms interleaved in every round (the machine is shared: medians, ratios within one run).

Arms:
- direct: a chat completion straight to the mock (the baseline: what any upstream call costs).
- exact hit: the same request again through the gateway (phase 1).
- semantic hit (onnx, static): a reworded question whose answer was cached (phase 4).
- miss (none, onnx, static): a new question each time: what the cache adds to a miss, with and
  without the semantic phase.
Each arm reports the client's round trip (median, p90) and the gateway's own time
(x-smartflow-overhead-ms: the server time minus the upstream's). Targets: an exact hit's server
time <= 0.3 ms and its round trip below the direct call's; a semantic hit <= 8 ms with ONNX and
<= 1 ms with the static embedder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
MODEL = "gpt-4o-mini"
CACHED = "How do I reset my online banking password?"
REWORDED = "How can I reset my online banking password?"  # guard-clean, cosine >= 0.90
EMBEDDERS = ("none", "static", "onnx")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Fleet:
    """Server processes for one benchmark run, each on a free loopback port, logging into the
    work dir; stopped by their pids when the run ends (also reused by bench_guard.py)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.urls: dict[str, str] = {}
        self._started: list[subprocess.Popen[bytes]] = []
        self._env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }

    def start(self, name: str, argv: list[str], **extra: str) -> str:
        port = _free_port()
        with (self.workdir / f"{name}.log").open("wb") as log:
            self._started.append(
                subprocess.Popen(
                    [*argv, "--port", str(port)],
                    cwd=REPO,
                    env={**self._env, **extra},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        self.urls[name] = f"http://127.0.0.1:{port}"
        return self.urls[name]

    def stop(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def fleet(workdir: Path) -> Iterator[Fleet]:
    servers = Fleet(workdir)
    try:
        yield servers
    finally:
        servers.stop()


@contextlib.contextmanager
def servers(workdir: Path, model_dir: Path) -> Iterator[dict[str, str]]:
    """name -> base URL; every process stopped by its pid at the end."""
    py = sys.executable
    with fleet(workdir) as running:
        mock = running.start("direct", [py, "-m", "sfctl", "mock-upstream", "--latency-ms", "0"])
        routing = workdir / "routing.yaml"
        routing.write_text(
            f"providers:\n  - {{name: up, type: openai-compatible, base_url: '{mock}/v1'}}\n"
            f"models:\n  - {{name: {MODEL}, deployments: [{{provider: up}}]}}\n",
            encoding="utf-8",
        )
        gateway = [py, "-m", "gateway", "--service", "all", "--host", "127.0.0.1"]
        for embedder in EMBEDDERS:
            running.start(
                embedder,
                [*gateway, "--config", str(routing)],
                ADMIN_API_KEY=ADMIN_KEY,
                SMARTFLOW_ACCESS_LOG="false",
                SMARTFLOW_DATA_DIR=str(workdir / embedder),
                SMARTFLOW_MODEL_DIR=str(model_dir),
                SMARTFLOW_CACHE_EMBEDDER=embedder,
            )
        yield running.urls


def _body(question: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": question}]}


async def _wait_ready(session: aiohttp.ClientSession, url: str, path: str, workdir: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url + path) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not start; see the logs in {workdir}")
        await asyncio.sleep(0.1)


class Arm:
    """One kind of request on its own keep-alive connection."""

    def __init__(self, name: str, url: str, expect: str | None, questions: Iterator[str]) -> None:
        self.name = name
        self.url = url + "/v1/chat/completions"
        self.expect = expect  # the x-smartflow-cache value every answer must carry
        self.questions = questions
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        self.round_trip_ms: list[float] = []
        self.server_ms: list[float] = []

    async def once(self, record: bool = True) -> None:
        body = _body(next(self.questions))
        started = time.perf_counter()
        async with self.session.post(self.url, json=body) as response:
            await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            outcome = response.headers.get("x-smartflow-cache")
            overhead = response.headers.get("x-smartflow-overhead-ms")
        if response.status != 200 or (self.expect is not None and outcome != self.expect):
            raise RuntimeError(f"{self.name}: {response.status}, x-smartflow-cache {outcome}")
        if record:
            self.round_trip_ms.append(elapsed)
            if overhead is not None:
                self.server_ms.append(float(overhead))


def _repeat(text: str) -> Iterator[str]:
    while True:
        yield text


def _unique(tag: str) -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"Question {tag}-{n}: what does clause {n * 7919 % 10007} of the policy cover?"


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure(urls: dict[str, str], rounds: int, workdir: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as probe:
        await _wait_ready(probe, urls["direct"], "/health", workdir)
        for name in EMBEDDERS:
            await _wait_ready(probe, urls[name], "/ready", workdir)
            async with probe.post(
                urls[name] + "/v1/chat/completions",
                json=_body(CACHED),
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            ) as response:
                await response.read()
        await asyncio.sleep(0.5)  # the writes happen after the response
    arms = [
        Arm("direct", urls["direct"], None, _repeat(CACHED)),
        Arm("exact hit", urls["none"], "hit-exact", _repeat(CACHED)),
        Arm("semantic hit, onnx", urls["onnx"], "hit-semantic", _repeat(REWORDED)),
        Arm("semantic hit, static", urls["static"], "hit-semantic", _repeat(REWORDED)),
        Arm("miss, exact only", urls["none"], "miss", _unique("none")),
        Arm("miss, onnx", urls["onnx"], "miss", _unique("onnx")),
        Arm("miss, static", urls["static"], "miss", _unique("static")),
    ]
    try:
        for arm in arms:  # warm-up: connections, code paths, the ONNX session
            for _ in range(20):
                await arm.once(record=False)
        for n in range(rounds):
            order = arms if n % 2 == 0 else arms[::-1]
            for arm in order:
                await arm.once()
    finally:
        for arm in arms:
            await arm.session.close()
    return {
        arm.name: {
            "round_trip_p50_ms": statistics.median(arm.round_trip_ms),
            "round_trip_p90_ms": _q(arm.round_trip_ms, 0.9),
            "server_p50_ms": statistics.median(arm.server_ms) if arm.server_ms else None,
            "server_p90_ms": _q(arm.server_ms, 0.9) if arm.server_ms else None,
        }
        for arm in arms
    }


def report(figures: dict[str, Any]) -> None:
    direct = figures["direct"]["round_trip_p50_ms"]
    print(f"load avg {os.getloadavg()[0]:.2f}   baseline: direct call to a 0 ms mock")
    print(f"{'arm':<22}{'round trip p50':>16}{'p90':>9}{'vs direct':>11}{'server p50':>12}")
    for name, row in figures.items():
        server = row["server_p50_ms"]
        print(
            f"{name:<22}{row['round_trip_p50_ms']:>13.3f} ms{row['round_trip_p90_ms']:>9.3f}"
            f"{row['round_trip_p50_ms'] / direct:>10.2f}x"
            + (f"{server:>9.3f} ms" if server is not None else f"{'-':>12}")
        )
    base_miss = figures["miss, exact only"]["server_p50_ms"]
    for embedder in ("onnx", "static"):
        added = figures[f"miss, {embedder}"]["server_p50_ms"] - base_miss
        print(f"phase 4 adds to a miss with {embedder}: {added:.3f} ms (server time, p50)")
    exact = figures["exact hit"]
    print(
        f"exact hit: server {exact['server_p50_ms']:.3f} ms (target <= 0.3), round trip "
        f"{exact['round_trip_p50_ms']:.3f} ms vs direct {direct:.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    model_dir = args.model_dir or Path(os.environ.get("SMARTFLOW_MODEL_DIR", ""))
    if not (model_dir / "onnx").is_dir() or not (model_dir / "static").is_dir():
        print(
            "no embedding models: run `smartflow-gateway build-models --dir DIR` and pass "
            "--model-dir DIR (or set SMARTFLOW_MODEL_DIR)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        workdir = Path(tmp)
        with servers(workdir, model_dir) as urls:
            figures = asyncio.run(measure(urls, args.rounds, workdir))
    report(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
