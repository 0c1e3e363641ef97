"""Throughput of the mock upstream against a bare aiohttp server, same harness, same pinning.

    python benchmarks/bench_mock_upstream.py [--duration 5] [--concurrency 32] [--rounds 5]

Each server runs in a subprocess pinned to one core (`taskset -c`, else sched_setaffinity in the
child); this process drives it over loopback with a lean aiohttp client (pinned to another core
when there is one). Phases: non-streamed chat, then streamed chat. The baseline answers the same
requests with a fixed small JSON body (and, for the streamed phase, the same SSE bytes the mock
would send, in one write), so the ratio shows what building the replies costs. Both servers run
side by side and are driven in alternating short rounds, so that other load on the machine falls
on both alike.

Server CPU per request (from /proc) is printed next to requests/second: when the client, not the
server, is the limit (likely on a 2-core box), CPU per request still compares the two servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

ROOT = Path(__file__).resolve().parent.parent
CHAT_PATH = "/v1/chat/completions"
PROMPTS = 64


def chat_bodies(stream: bool) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": f"Question {i}: what should I cook tonight?"},
                ],
                "stream": stream,
            }
        )
        for i in range(PROMPTS)
    ]


# --- servers (run in the pinned child) ---------------------------------------------------------


def serve_baseline(port_file: Path) -> None:
    """A bare aiohttp app: read the body, answer fixed bytes. Same loop and runner as the mock."""
    from mockllm.content import openai_chat_stream

    fixed_json = b'{"id":"fixed","object":"chat.completion","choices":[],"usage":null}'
    fixed_sse = b"".join(openai_chat_stream(orjson.loads(chat_bodies(stream=True)[0]), created=0))
    sse_headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if b'"stream":true' not in body:
            return web.Response(body=fixed_json, content_type="application/json")
        response = web.StreamResponse(headers=sse_headers)
        await response.prepare(request)
        await response.write(fixed_sse)
        await response.write_eof()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_post(CHAT_PATH, handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        announce(port_file, str(runner.addresses[0][1]))
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(main())


def serve_mock(port_file: Path) -> None:
    from mockllm.server import MockBehaviour, run

    run(
        MockBehaviour(),
        "127.0.0.1",
        0,
        on_ready=lambda url: announce(port_file, url.rsplit(":", 1)[1]),
    )


def announce(port_file: Path, port: str) -> None:
    """Tell the driver the bound port (write then rename, so it never reads half a number)."""
    partial = port_file.with_suffix(".tmp")
    partial.write_text(port)
    partial.rename(port_file)


def _loop_factory() -> Any:
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


# --- the driver ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu_s / max(1, self.requests)

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        cpu = self.server_cpu_s / self.seconds * 100
        return (
            f"{self.name:<18}{self.rps:>9,.0f}{p50:>9.2f}{p99:>9.2f}"
            f"{cpu:>9.0f}%{self.cpu_per_request * 1e6:>10.0f}{self.errors:>8}"
        )


HEADER = (
    f"{'phase':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'srv CPU':>10}{'us/req':>10}{'errors':>8}"
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    into: Result, url: str, bodies: list[bytes], pid: int, seconds: float, concurrency: int
) -> None:
    """One round: a short warm-up on fresh connections, then `seconds` of measured load."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    connector = TCPConnector(limit=concurrency)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=30)) as session:

        async def worker(offset: int, deadline: float, record: bool) -> None:
            i = offset
            while time.perf_counter() < deadline:
                body = bodies[i % len(bodies)]
                i += concurrency
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                if record:
                    into.latencies.append(time.perf_counter() - started)
                    into.requests += 1
                    into.errors += not ok

        warmup = time.perf_counter() + 0.2
        await asyncio.gather(*(worker(k, warmup, False) for k in range(concurrency)))
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker(k, started + seconds, True) for k in range(concurrency)))
        into.seconds += time.perf_counter() - started
        into.server_cpu_s += cpu_seconds(pid) - cpu_before


def start_server(kind: str, core: int, port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port-file"]
    cmd += [str(port_file), "--pin", str(core)]
    taskset = shutil.which("taskset")
    if taskset:
        cmd = [taskset, "-c", str(core), *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{kind} server did not start")
        time.sleep(0.05)
    port = int(port_file.read_text())
    port_file.unlink()
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def bench(args: argparse.Namespace) -> None:
    cores = sorted(os.sched_getaffinity(0))
    server_core = cores[0]
    client_cores = set(cores[1:]) or {server_core}
    os.sched_setaffinity(0, client_cores)
    print(
        f"server pinned to core {server_core}; client on cores {sorted(client_cores)}; "
        f"{args.concurrency} connections; {args.duration:.0f} s a phase per server "
        f"in {args.rounds} alternating rounds; "
        f"python {sys.version.split()[0]}"
    )
    port_file = Path(f"/tmp/bench_mock_upstream.{os.getpid()}.port")
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in ("baseline", "mock"):
            servers[kind] = start_server(kind, server_core, port_file)
        results = await run_phases(servers, args)
    finally:
        for proc, _ in servers.values():
            stop(proc)
    print(HEADER)
    for result in results.values():
        print(result.row())
    for phase in ("chat", "stream"):
        mock, base = results[f"mock {phase}"], results[f"baseline {phase}"]
        print(
            f"mock/baseline {phase:<7} req/s ratio {mock.rps / base.rps:.2f}; "
            f"server CPU per request ratio {mock.cpu_per_request / base.cpu_per_request:.2f} "
            f"(mock {mock.cpu_per_request * 1e6:.0f} us vs baseline "
            f"{base.cpu_per_request * 1e6:.0f} us; "
            f"one core would serve ~{1 / mock.cpu_per_request:,.0f} mock req/s)"
        )


async def run_phases(
    servers: dict[str, tuple[subprocess.Popen[bytes], int]], args: argparse.Namespace
) -> dict[str, Result]:
    """Alternate baseline and mock in short rounds, so that load from elsewhere on the machine
    drifts over both alike; each gets `duration` seconds a phase in all."""
    results: dict[str, Result] = {}
    for phase, stream in (("chat", False), ("stream", True)):
        bodies = chat_bodies(stream)
        for kind in servers:
            results[f"{kind} {phase}"] = Result(f"{kind} {phase}")
        for round_no in range(args.rounds):
            order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
            for kind in order:
                proc, port = servers[kind]
                url = f"http://127.0.0.1:{port}{CHAT_PATH}"
                seconds = args.duration / args.rounds
                await drive(
                    results[f"{kind} {phase}"], url, bodies, proc.pid, seconds, args.concurrency
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternations per phase")
    parser.add_argument("--serve", choices=["baseline", "mock"], help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pin", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if str(ROOT) not in sys.path:  # runnable from a checkout without installing it
        sys.path.insert(0, str(ROOT))
    if args.serve:
        if args.pin is not None:
            os.sched_setaffinity(0, {args.pin})
        (serve_mock if args.serve == "mock" else serve_baseline)(args.port_file)
        return
    loop_factory = _loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(bench(args))


if __name__ == "__main__":
    main()
