"""What does the gateway cost? Direct-to-mock vs a bare pass-through proxy vs the gateway.

    python benchmarks/bench_gateway.py [--duration 5] [--concurrency 16] [--json out.json] [--pin]

Starts on 127.0.0.1 (free ports) the mock upstream (0 ms latency), the bare pass-through proxy in
front of it (loadtest.passthrough: the cost of one Python proxy hop), the gateway routing to it as
an openai-compatible provider with the access log off (the main figures) and a second gateway with
the access log on. Then, from a lean aiohttp client in this process, measures a non-streamed chat
completion (max_tokens 16): latency at one connection, throughput at --concurrency connections, and
the streamed variant's time to last byte. Arms are interleaved in rounds, in rotating order, so
the noise of a shared machine hits them alike; the figures are medians over rounds.

Targets (informational; exit 1 only with --strict): the gateway adds <= 0.5 ms at p50 over direct,
and serves >= 70% of the pass-through proxy's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
MODEL = "gpt-4o-mini"
GATEWAY_ADDED_P50_TARGET_MS = 0.5
THROUGHPUT_RATIO_TARGET = 0.70
OVERHEAD_HEADER = "x-smartflow-overhead-ms"


def chat_body(*, stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a concise assistant for a support team."},
            {"role": "user", "content": "Summarise the refund policy for annual plans."},
        ],
        "max_tokens": 16,
        "temperature": 0.2,
        "user": "bench-user-42",
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


# --- the servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    ready_path: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Fleet:
    """Every process this benchmark started; stop() ends each one by its pid."""

    workdir: Path
    cpus: tuple[int, int] | None  # with --pin: (the proxies' cpu, the mock's and client's cpu)
    servers: list[Server] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        port: int,
        ready_path: str,
        env: dict[str, str],
        *,
        front: bool,
    ) -> Server:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        server = Server(name, f"http://127.0.0.1:{port}", ready_path, process, log)
        self.servers.append(server)
        if self.cpus is not None:
            os.sched_setaffinity(process.pid, {self.cpus[0] if front else self.cpus[1]})
        return server

    def stop(self) -> None:
        for server in self.servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in self.servers:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def start_fleet(fleet: Fleet) -> dict[str, Server]:
    py = sys.executable
    mock_port, pt_port, gw_port, gwlog_port = (free_port() for _ in range(4))
    mock_code = (
        "from mockllm.server import run, MockBehaviour; "
        f"run(MockBehaviour(), '127.0.0.1', {mock_port})"
    )
    mock = fleet.start(
        "mock", [py, "-c", mock_code], mock_port, "/health", child_env(), front=False
    )
    routing = fleet.workdir / "routing.yaml"
    routing.write_text(
        "providers:\n"
        f"  - {{name: up, type: openai-compatible, base_url: '{mock.url}/v1'}}\n"
        "models:\n"
        f"  - {{name: {MODEL}, deployments: [{{provider: up}}]}}\n",
        encoding="utf-8",
    )
    passthrough = fleet.start(
        "passthrough",
        [py, "-m", "loadtest.passthrough", "--upstream", mock.url, "--port", str(pt_port)],
        pt_port,
        "/health",
        child_env(),
        front=True,
    )

    def gateway(name: str, port: int, access_log: str) -> Server:
        # SERVICE_TYPE=all: the management API beside the proxy creates the virtual key used
        argv = [py, "-m", "gateway", "--service", "all", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--config", str(routing)]
        data = fleet.workdir / f"{name}-data"
        env = child_env(
            ADMIN_API_KEY=ADMIN_KEY, SMARTFLOW_ACCESS_LOG=access_log, SMARTFLOW_DATA_DIR=str(data)
        )
        return fleet.start(name, argv, port, "/ready", env, front=True)

    return {
        "direct": mock,
        "passthrough": passthrough,
        "gateway": gateway("gateway", gw_port, "false"),
        "gateway+log": gateway("gateway+log", gwlog_port, "true"),
    }


async def wait_ready(servers: Sequence[Server], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        for server in servers:
            while True:
                if server.process.poll() is not None:
                    tail = server.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{server.name} exited at start-up:\n{tail}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(server.url + server.ready_path) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.name} not ready after {timeout_s:.0f} s")
                await asyncio.sleep(0.05)


# --- the client ---------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    pid: int  # the process serving this arm: the proxy in front, or the mock for direct
    key: str = ADMIN_KEY  # the gateways are called with a virtual key, as applications do


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, all threads, from the kernel's scheduler statistics.

    CPU per request is far steadier than wall time on a shared machine: other tenants slow a
    request down but do not make the proxy execute more.
    """
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0]) / 1e9
    return total


def new_session(connections: int, key: str = ADMIN_KEY) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return aiohttp.ClientSession(connector=connector, headers=headers, auto_decompress=False)


async def create_virtual_key(url: str) -> str:
    """A key with no limits and no budget: the auth stage's cost, not a limiter's."""
    async with (
        new_session(1) as session,
        session.post(url + "/api/enterprise/vkeys", json={"name": "bench"}) as response,
    ):
        payload = await response.json()
        if response.status != 201:
            raise RuntimeError(f"cannot create a virtual key at {url}: {payload}")
        return str(payload["key"])


async def sequential(
    target: Target, count: int, *, stream: bool, overheads: list[float] | None = None
) -> tuple[list[float], int]:
    """`count` requests one after another on one kept-alive connection: (seconds each, errors).

    One request more goes first, untimed, so that no sample pays for opening the connection."""
    body, url = chat_body(stream=stream), target.url + "/v1/chat/completions"
    samples: list[float] = []
    errors = 0
    async with new_session(1, target.key) as session:
        async with session.post(url, data=body) as response:
            await response.read()
        for _ in range(count):
            start = time.perf_counter()
            async with session.post(url, data=body) as response:
                async for _chunk in response.content.iter_any():
                    pass
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    errors += 1
                elif overheads is not None and OVERHEAD_HEADER in response.headers:
                    overheads.append(float(response.headers[OVERHEAD_HEADER]))
            samples.append(elapsed)
    return samples, errors


async def throughput(
    target: Target, concurrency: int, duration_s: float
) -> tuple[float, int, float]:
    """Requests/s completed by `concurrency` looping workers over `duration_s`; errors; and the
    serving process's CPU microseconds per request."""
    cpu_start = cpu_seconds(target.pid)
    body, url = chat_body(stream=False), target.url + "/v1/chat/completions"
    done = errors = 0
    async with new_session(concurrency, target.key) as session:

        async def once() -> bool:
            async with session.post(url, data=body) as response:
                await response.read()
                return response.status == 200

        await asyncio.gather(*(once() for _ in range(concurrency)))  # open every connection
        deadline = time.perf_counter() + duration_s

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                if await once():
                    done += 1
                else:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    cpu_us = (cpu_seconds(target.pid) - cpu_start) * 1e6 / (done + errors + concurrency)
    return done / elapsed, errors, cpu_us


async def check_answers(targets: Sequence[Target]) -> None:
    """Every arm must return a real chat completion, or the figures mean nothing."""
    for target in targets:
        url = target.url + "/v1/chat/completions"
        async with (
            new_session(1, target.key) as session,
            session.post(url, data=chat_body(stream=False)) as response,
        ):
            payload = await response.json()
            if response.status != 200 or payload.get("object") != "chat.completion":
                raise RuntimeError(f"{target.name}: unexpected answer {response.status}")


# --- statistics and the run ---------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rotations(names: Sequence[str], rounds: int) -> Iterator[list[str]]:
    """ABCD, BCDA, CDAB, ...: no arm always runs first, or always right after the same one."""
    for r in range(rounds):
        shift = r % len(names)
        yield list(names[shift:]) + list(names[:shift])


@dataclass
class ArmResult:
    rounds_ms: list[dict[str, float]] = field(default_factory=list)
    samples_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def series(self, key: str) -> list[float]:
        return [r[key] for r in self.rounds_ms]

    def median(self, key: str) -> float:
        return statistics.median(self.series(key))


async def latency_rounds(
    targets: Sequence[Target], args: argparse.Namespace, *, stream: bool, overheads: list[float]
) -> dict[str, ArmResult]:
    results = {t.name: ArmResult() for t in targets}
    by_name = {t.name: t for t in targets}
    for order in rotations([t.name for t in targets], args.rounds):
        for name in order:
            keep = overheads if name == "gateway" and not stream else None
            target = by_name[name]
            cpu_start = cpu_seconds(target.pid)
            samples, errors = await sequential(target, args.block, stream=stream, overheads=keep)
            cpu_us = (cpu_seconds(target.pid) - cpu_start) * 1e6 / (args.block + 1)
            ms = [s * 1000.0 for s in samples]
            result = results[name]
            result.errors += errors
            result.samples_ms.extend(ms)
            figures = {f"p{q}": percentile(ms, q / 100) for q in (50, 90, 99)}
            result.rounds_ms.append({**figures, "cpu_us_per_request": cpu_us})
    return results


async def throughput_rounds(
    targets: Sequence[Target], args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per arm, per round: requests/s, and CPU microseconds per request of the serving process."""
    rps: dict[str, list[float]] = {t.name: [] for t in targets}
    cpu: dict[str, list[float]] = {t.name: [] for t in targets}
    by_name = {t.name: t for t in targets}
    for order in rotations([t.name for t in targets], args.throughput_rounds):
        for name in order:
            value, errors, cpu_us = await throughput(by_name[name], args.concurrency, args.duration)
            if errors:
                raise RuntimeError(f"{name}: {errors} failed requests under load")
            rps[name].append(value)
            cpu[name].append(cpu_us)
    return rps, cpu


async def measure(servers: dict[str, Server], args: argparse.Namespace) -> dict[str, Any]:
    await wait_ready(list(servers.values()))
    targets = [Target(name, s.url, s.process.pid) for name, s in servers.items()]
    for target in targets:
        if target.name.startswith("gateway"):
            target.key = await create_virtual_key(target.url)
    await check_answers(targets)
    for target in targets:  # warm-up: connections, caches, the allocator
        await sequential(target, args.warmup, stream=False)
        await sequential(target, args.warmup // 5, stream=True)
    overheads: list[float] = []
    progress("latency at 1 connection (non-streamed)")
    plain = await latency_rounds(targets, args, stream=False, overheads=overheads)
    progress("latency at 1 connection (streamed)")
    streamed = await latency_rounds(targets, args, stream=True, overheads=[])
    progress(f"throughput at {args.concurrency} connections")
    rps, cpu = await throughput_rounds(targets, args)
    return {"plain": plain, "streamed": streamed, "rps": rps, "cpu": cpu, "overheads": overheads}


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def host_info(cpus: tuple[int, int] | None) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "aiohttp": aiohttp.__version__,
        "uvloop": _uvloop_version(),
        "loadavg_start": list(os.getloadavg()),
        "pinning": f"gateway and pass-through on cpu {cpus[0]}, mock and client on cpu {cpus[1]}"
        if cpus
        else "none",
    }


def _uvloop_version() -> str | None:
    try:
        return importlib.metadata.version("uvloop")
    except importlib.metadata.PackageNotFoundError:
        return None


def paired(a: Sequence[float], b: Sequence[float], op: Callable[[float, float], float]) -> float:
    """Median over rounds of op(a[i], b[i]): arms measured in the same round share its noise."""
    return statistics.median(op(x, y) for x, y in zip(a, b, strict=True))


def _minus(x: float, y: float) -> float:
    return x - y


def _ratio(x: float, y: float) -> float:
    return x / y


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, ArmResult] = raw["plain"]
    streamed: dict[str, ArmResult] = raw["streamed"]
    rps: dict[str, list[float]] = raw["rps"]
    cpu: dict[str, list[float]] = raw["cpu"]
    arms = {
        name: {
            "p50_ms": result.median("p50"),
            "p90_ms": result.median("p90"),
            "p99_ms": result.median("p99"),
            "stream_ttlb_p50_ms": streamed[name].median("p50"),
            "stream_ttlb_p99_ms": streamed[name].median("p99"),
            "rps": statistics.median(rps[name]),
            "cpu_us_per_request_1conn": result.median("cpu_us_per_request"),
            "cpu_us_per_request_loaded": statistics.median(cpu[name]),
            "errors": result.errors + streamed[name].errors,
        }
        for name, result in plain.items()
    }
    p50 = {name: result.series("p50") for name, result in plain.items()}
    ttlb = {name: result.series("p50") for name, result in streamed.items()}
    added = paired(p50["gateway"], p50["direct"], _minus)
    ratio = paired(rps["gateway"], rps["passthrough"], _ratio)
    overheads: list[float] = raw["overheads"]
    return {
        "arms": arms,
        "derived": {
            "gateway_added_p50_ms": added,
            "passthrough_added_p50_ms": paired(p50["passthrough"], p50["direct"], _minus),
            "gateway_beyond_passthrough_p50_ms": paired(p50["gateway"], p50["passthrough"], _minus),
            "gateway_log_added_p50_ms": paired(p50["gateway+log"], p50["direct"], _minus),
            "gateway_stream_added_ttlb_p50_ms": paired(ttlb["gateway"], ttlb["direct"], _minus),
            "passthrough_stream_added_ttlb_p50_ms": paired(
                ttlb["passthrough"], ttlb["direct"], _minus
            ),
            "gateway_over_passthrough_rps": ratio,
            "gateway_log_over_passthrough_rps": paired(
                rps["gateway+log"], rps["passthrough"], _ratio
            ),
            # What the gateway's throughput would be relative to the pass-through proxy if the
            # proxy process alone were the bottleneck: robust to other tenants on the machine.
            "passthrough_cpu_over_gateway_cpu": paired(cpu["passthrough"], cpu["gateway"], _ratio),
            "gateway_extra_cpu_us_per_request": paired(cpu["gateway"], cpu["passthrough"], _minus),
            "gateway_log_extra_cpu_us_per_request": paired(
                cpu["gateway+log"], cpu["gateway"], _minus
            ),
            "gateway_self_reported_overhead_p50_ms": statistics.median(overheads)
            if overheads
            else None,
        },
        "verdicts": {
            "gateway_added_p50": added <= GATEWAY_ADDED_P50_TARGET_MS,
            "throughput_ratio": ratio >= THROUGHPUT_RATIO_TARGET,
            "no_errors": all(a["errors"] == 0 for a in arms.values()),
        },
    }


def print_report(host: dict[str, Any], summary: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"host: {host['nproc']} cpus, Python {host['python']}, aiohttp {host['aiohttp']}, "
        f"uvloop {host['uvloop']}; pinning: {host['pinning']}; "
        f"load avg {host['loadavg_start'][0]:.2f} -> {host['loadavg_end'][0]:.2f}"
    )
    print(
        f"latency: {args.rounds} rounds x {args.block} sequential requests per arm; "
        f"throughput: {args.throughput_rounds} rounds x {args.duration:g} s "
        f"at {args.concurrency} connections.\n"
        "Figures are medians over rounds; differences and ratios are medians of per-round ones.\n"
        "cpu/req: CPU time per request of the arm's front process (for direct: the mock), at one\n"
        "connection (1c) and under load."
    )
    print()
    head = f"{'arm':<13}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'stream p50':>12}{'rps':>8}"
    head += f"{'cpu/req 1c':>12}{'cpu/req':>9}{'errors':>8}"
    print(head)
    print("-" * len(head))
    for name, arm in summary["arms"].items():
        print(
            f"{name:<13}{arm['p50_ms']:>9.3f}{arm['p90_ms']:>9.3f}{arm['p99_ms']:>9.3f}"
            f"{arm['stream_ttlb_p50_ms']:>12.3f}{arm['rps']:>8.0f}"
            f"{arm['cpu_us_per_request_1conn']:>10.0f}us{arm['cpu_us_per_request_loaded']:>7.0f}us"
            f"{arm['errors']:>8}"
        )
    d, v = summary["derived"], summary["verdicts"]
    verdict = {True: "PASS", False: "FAIL"}
    lines = [
        ("gateway added latency p50", f"{d['gateway_added_p50_ms']:.3f} ms", "target <= "
         f"{GATEWAY_ADDED_P50_TARGET_MS} ms  {verdict[v['gateway_added_p50']]}"),
        ("pass-through added latency p50", f"{d['passthrough_added_p50_ms']:.3f} ms", "~0.2 ms"),
        ("gateway beyond pass-through p50", f"{d['gateway_beyond_passthrough_p50_ms']:.3f} ms", ""),
        ("gateway, access log on, added", f"{d['gateway_log_added_p50_ms']:.3f} ms", ""),
        ("gateway added, streamed TTLB", f"{d['gateway_stream_added_ttlb_p50_ms']:.3f} ms", "p50"),
        ("pass-through added, streamed", f"{d['passthrough_stream_added_ttlb_p50_ms']:.3f} ms", ""),
        ("gateway rps / pass-through rps", f"{d['gateway_over_passthrough_rps']:.1%}",
         f"target >= {THROUGHPUT_RATIO_TARGET:.0%}  {verdict[v['throughput_ratio']]}"),
        ("  same, access log on", f"{d['gateway_log_over_passthrough_rps']:.1%}", ""),
        ("pass-through CPU / gateway CPU", f"{d['passthrough_cpu_over_gateway_cpu']:.1%}",
         "per request under load: capacity ratio, less noise-prone"),
        ("gateway extra CPU per request", f"{d['gateway_extra_cpu_us_per_request']:.0f} us",
         "over the pass-through proxy"),
        ("access log CPU per request", f"{d['gateway_log_extra_cpu_us_per_request']:.0f} us", ""),
    ]  # fmt: skip
    overhead = d["gateway_self_reported_overhead_p50_ms"]
    if overhead is not None:
        lines.append(("gateway self-reported overhead", f"{overhead:.3f} ms", OVERHEAD_HEADER))
    lines.append(("errors", verdict[v["no_errors"]], ""))
    print()
    for label, value, note in lines:
        print(f"{label:<33}{value:>10}  {note}".rstrip())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds")
    parser.add_argument("--block", type=int, default=200, help="requests per arm per round")
    parser.add_argument("--throughput-rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=500, help="requests per arm first")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--pin", action="store_true", help="gateway on cpu 0, mock+client cpu 1")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        parser.error("--pin needs at least 2 usable cpus")
    if args.duration <= 0 or min(args.concurrency, args.rounds, args.throughput_rounds) < 1:
        parser.error("--duration, --concurrency and the round counts must be positive")
    if args.block < 2 or args.warmup < 0:
        parser.error("--block must be at least 2 and --warmup not negative")
    return args


def _raise_on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_loop(args: argparse.Namespace, servers: dict[str, Server]) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(measure(servers, args))
    return uvloop.run(measure(servers, args))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGINT, _raise_on_signal)  # also when started with SIGINT ignored
    cpus: tuple[int, int] | None = None
    if args.pin:
        first, second = sorted(os.sched_getaffinity(0))[:2]
        cpus = (first, second)
        os.sched_setaffinity(0, {second})
    host = host_info(cpus)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        fleet = Fleet(Path(workdir), cpus)
        try:
            raw = run_loop(args, start_fleet(fleet))
        except KeyboardInterrupt:
            print("interrupted; stopping servers", file=sys.stderr)
            return 130
        finally:
            fleet.stop()
    host["loadavg_end"] = list(os.getloadavg())
    summary = summarise(raw)
    print_report(host, summary, args)
    if args.json:
        document = {
            "host": host,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            **summary,
            "raw": {
                "latency_rounds_ms": {k: r.rounds_ms for k, r in raw["plain"].items()},
                "stream_ttlb_rounds_ms": {k: r.rounds_ms for k, r in raw["streamed"].items()},
                "latency_samples_ms": {
                    k: [round(s, 4) for s in r.samples_ms] for k, r in raw["plain"].items()
                },
                "rps_rounds": raw["rps"],
                "cpu_us_per_request_loaded_rounds": raw["cpu"],
                "gateway_overhead_header_ms": raw["overheads"],
            },
        }
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return 1 if args.strict and not all(summary["verdicts"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
