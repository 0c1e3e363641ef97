"""What does the gateway cost, and what rate does it sustain? On the loadtest harness.

    python benchmarks/bench_gateway.py [--rps 100] [--duration 10] [--json out.json]
    python benchmarks/bench_gateway.py --find-sustainable [--step-duration 10] [--json out.json]

Starts on 127.0.0.1 (free ports) `sfctl mock-upstream` (0 ms latency), the bare pass-through
proxy in front of it (loadtest.passthrough: the cost of one Python proxy hop), the gateway
(SERVICE_TYPE=all, called with a virtual key) routing to the mock with the access log off, and a
second gateway with it on. The load is the harness's: open loop, unique prompts (no cache can
hit), latency from the intended send time.

Costs (default): one level at --rps on every arm, the arms interleaved A-B-C-D-D-C-B-A
(loadtest's abba design), non-streamed then streamed. Each figure is a difference or ratio
against a baseline measured in the same run; CPU per request of each serving process gives the
capacity ratio. Targets (exit 1 only with --strict): the gateway adds <= 0.5 ms at p50 over
direct, and its capacity is >= 70% of the pass-through proxy's.

--find-sustainable: the highest rate at which an arm keeps success >= 99.9% and p99 < 50 ms with
a valid level (the generator kept up): doubling from --start, then bisection to --resolution;
a failing rate is tried --tries times (noise only makes a step worse).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.runner import Arm, BenchConfig, LevelRun, RunSettings, run_benchmark
from loadtest.stats import ArmStats, arm_stats, bootstrap_diff
from loadtest.workload import WorkloadSpec

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
MODEL = "gpt-4o-mini"
ADDED_P50_TARGET_MS = 0.5
CAPACITY_RATIO_TARGET = 0.70
SUCCESS_FLOOR = 0.999
P99_LIMIT_MS = 50.0
OVERLOADED = 0.99  # success below this in a search step: requests time out, no retry


# --- the servers --------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    ready: str  # the path that answers 200 once it serves
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fleet(workdir: Path) -> Iterator[dict[str, Server]]:
    """The servers, by arm name (the mock is `direct`); each one stopped by its pid at the end."""
    py, servers = sys.executable, []
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }

    def start(name: str, argv: list[str], ready: str, **extra: str) -> Server:
        port = _free_port()
        with (workdir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen([*argv, "--port", str(port)], cwd=REPO, env={**env, **extra},
                                       stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        servers.append(Server(name, f"http://127.0.0.1:{port}", ready, process))
        return servers[-1]

    try:
        mock = start("direct", [py, "-m", "sfctl", "mock-upstream", "--latency-ms", "0"], "/health")
        routing = workdir / "routing.yaml"
        routing.write_text(
            f"providers:\n  - {{name: up, type: openai-compatible, base_url: '{mock.url}/v1'}}\n"
            f"models:\n  - {{name: {MODEL}, deployments: [{{provider: up}}]}}\n",
            encoding="utf-8",
        )
        start("passthrough", [py, "-m", "loadtest.passthrough", "--upstream", mock.url], "/health")
        for name, log in (("gateway", "false"), ("gateway+log", "true")):
            argv = [py, "-m", "gateway", "--service", "all", "--host", "127.0.0.1"]
            start(name, [*argv, "--config", str(routing)], "/ready", ADMIN_API_KEY=ADMIN_KEY,
                  SMARTFLOW_ACCESS_LOG=log, SMARTFLOW_DATA_DIR=str(workdir / name))  # fmt: skip
        yield {s.name: s for s in servers}
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


async def prepare(servers: dict[str, Server], workdir: Path) -> dict[str, Arm]:
    """Wait until every server is ready, give each gateway a virtual key (no limits, no budget:
    auth's cost, not a limiter's), and check that every arm answers a real chat completion."""
    arms = {}
    async with aiohttp.ClientSession() as session:
        for server in servers.values():
            deadline = time.monotonic() + 30
            while not await _ok(session, server.url + server.ready):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    log = (workdir / f"{server.name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{server.name} did not start:\n{log}")
                await asyncio.sleep(0.05)
            key = "sk-bench"
            if server.name.startswith("gateway"):
                auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
                url = server.url + "/api/enterprise/vkeys"
                async with session.post(url, json={"name": "bench"}, headers=auth) as resp:
                    key = str((await resp.json())["key"])
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            headers = {"Authorization": f"Bearer {key}"}
            url = server.url + "/v1/chat/completions"
            async with session.post(url, json=body, headers=headers) as resp:
                answer = await resp.json()
            if resp.status != 200 or answer.get("object") != "chat.completion":
                raise RuntimeError(f"{server.name}: unexpected answer {resp.status}: {answer}")
            arms[server.name] = Arm(server.name, server.url, key)
    return arms


async def _ok(session: aiohttp.ClientSession, url: str) -> bool:
    with contextlib.suppress(aiohttp.ClientError):
        async with session.get(url) as resp:
            return resp.status == 200
    return False


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used, all threads (/proc schedstat). Steadier than wall time on a
    shared machine: other tenants slow a request down but do not make the proxy execute more."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0]) / 1e9
    return total


async def cpu_rates(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """CPU seconds per second of each process over the next `seconds`."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.sleep(seconds)
    return {name: (cpu_seconds(pid) - before[name]) / seconds for name, pid in pids.items()}


async def settle(pids: dict[str, int], busy: float = 0.05, timeout_s: float = 60.0) -> None:
    """Wait until the servers are idle again (an overloaded step leaves a backlog behind)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if max((await cpu_rates(pids, 0.5)).values()) < busy:
            return


# --- costs: one level, every arm ----------------------------------------------------------------


def _config(args: argparse.Namespace, arms: Iterable[Arm], rps: float, duration: float,
            *, stream: bool) -> BenchConfig:  # fmt: skip
    return BenchConfig(
        arms=tuple(arms),
        rps=(rps,),
        duration_s=duration,
        workload=WorkloadSpec("miss", MODEL, 16, stream),
        seed=args.seed,
        settings=RunSettings(request_timeout_s=10.0, grace_s=2.0, warmup=args.warmup),
        design="abba",
    )


def _ms(run: LevelRun) -> list[float]:
    return [s.latency * 1000.0 for s in run.samples if s.ok and s.latency is not None]


async def costs(
    args: argparse.Namespace, arms: dict[str, Arm], pids: dict[str, int]
) -> dict[str, Any]:
    """Latency, streamed time to last byte and CPU per request of every arm, in one run."""
    names = list(arms)
    idle = await cpu_rates(pids, 2.0)  # background work (timers, flushers), not the requests'
    cpu0, t0 = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.perf_counter()
    [plain] = await run_benchmark(
        _config(args, arms.values(), args.rps, args.duration, stream=False)
    )
    wall = time.perf_counter() - t0
    cpu = {name: cpu_seconds(pid) - cpu0[name] - idle[name] * wall for name, pid in pids.items()}
    [streamed] = await run_benchmark(
        _config(args, arms.values(), args.rps, args.duration, stream=True)
    )
    served = {run.arm: len(run.samples) + len(run.blocks) * args.warmup for run in plain}
    # the mock serves every arm (directly or behind a proxy): its CPU is shared out over all
    cpu_us = {name: cpu[name] * 1e6 / (sum(served.values()) if name == "direct" else served[name])
              for name in names}  # fmt: skip
    stats = {run.arm: arm_stats(run) for run in plain}
    stream_stats = {run.arm: arm_stats(run) for run in streamed}
    lat = {run.arm: _ms(run) for run in plain}
    ttlb = {run.arm: _ms(run) for run in streamed}

    def added(table: dict[str, list[float]], arm: str, base: str) -> dict[str, Any]:
        point, ci = bootstrap_diff(table[arm], table[base], 0.5, seed=args.seed)
        return {"p50_ms": point, "ci95": ci}

    return {
        "arms": {name: _arm_row(stats[name], stream_stats[name], cpu_us[name]) for name in names},
        "gateway_added": added(lat, "gateway", "direct"),
        "passthrough_added": added(lat, "passthrough", "direct"),
        "gateway_beyond_passthrough": added(lat, "gateway", "passthrough"),
        "gateway_log_added": added(lat, "gateway+log", "direct"),
        "gateway_stream_added": added(ttlb, "gateway", "direct"),
        "passthrough_stream_added": added(ttlb, "passthrough", "direct"),
        "capacity_ratio": cpu_us["passthrough"] / cpu_us["gateway"],
        "capacity_ratio_log": cpu_us["passthrough"] / cpu_us["gateway+log"],
        "access_log_cpu_us": cpu_us["gateway+log"] - cpu_us["gateway"],
        "self_reported_overhead_ms": stats["gateway"].server_overhead_ms,
        "invalid": [f"{s.arm}: {s.invalid_reason}" for s in (*stats.values(), *stream_stats.values()) if s.invalid],
        "errors": any(s.success_rate < 1 for s in (*stats.values(), *stream_stats.values())),
    }  # fmt: skip


def _arm_row(plain: ArmStats, streamed: ArmStats, cpu_us: float) -> dict[str, Any]:
    lat, ttlb = plain.latency, streamed.latency
    return {
        "p50_ms": lat and lat.p50, "p90_ms": lat and lat.p90, "p99_ms": lat and lat.p99,
        "stream_ttlb_p50_ms": ttlb and ttlb.p50, "cpu_us_per_request": cpu_us,
        "success": min(plain.success_rate, streamed.success_rate),
        "send_lag_p99_ms": max(plain.send_lag_p99_ms, streamed.send_lag_p99_ms),
    }  # fmt: skip


def print_costs(result: dict[str, Any], args: argparse.Namespace) -> bool:
    """The table and the derived figures; True when every target holds."""
    print(f"{args.rps:g} rps open loop, {args.duration:g} s per arm (abba), unique prompts; "
          "latency from the intended send time\n")  # fmt: skip
    print(
        f"{'arm':<13}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'stream p50':>12}{'cpu/req':>10}{'success':>10}"
    )
    for name, a in result["arms"].items():
        print(f"{name:<13}{a['p50_ms']:>9.3f}{a['p90_ms']:>9.3f}{a['p99_ms']:>9.3f}"
              f"{a['stream_ttlb_p50_ms']:>12.3f}{a['cpu_us_per_request']:>8.0f}us{a['success']:>10.2%}")  # fmt: skip
    added, ratio = result["gateway_added"]["p50_ms"], result["capacity_ratio"]
    verdicts = [added <= ADDED_P50_TARGET_MS, ratio >= CAPACITY_RATIO_TARGET, not result["errors"]]
    word = {True: "PASS", False: "FAIL"}
    print()
    for label, key, note in (
        ("gateway added latency p50", "gateway_added", f"target <= {ADDED_P50_TARGET_MS} ms {word[verdicts[0]]}"),
        ("pass-through hop p50", "passthrough_added", "one Python proxy hop"),
        ("gateway beyond pass-through p50", "gateway_beyond_passthrough", ""),
        ("gateway, access log on, added", "gateway_log_added", ""),
        ("gateway added, streamed TTLB", "gateway_stream_added", ""),
        ("pass-through added, streamed", "passthrough_stream_added", ""),
    ):  # fmt: skip
        d = result[key]
        lo, hi = d["ci95"]
        print(f"{label:<33}{d['p50_ms']:>8.3f} ms  [{lo:.3f}, {hi:.3f}]  {note}".rstrip())
    print(
        f"{'gateway / pass-through capacity':<33}{ratio:>9.1%}  CPU per request; target >= "
        f"{CAPACITY_RATIO_TARGET:.0%} {word[verdicts[1]]}"
    )
    print(f"{'  same, access log on':<33}{result['capacity_ratio_log']:>9.1%}")
    print(f"{'access log CPU per request':<33}{result['access_log_cpu_us']:>8.0f} us")
    over = result["self_reported_overhead_ms"]
    if over is not None:
        print(f"{'gateway self-reported overhead':<33}{over:>8.3f} ms  x-smartflow-overhead-ms p50")
    print(f"{'errors':<33}{word[verdicts[2]]:>9}")
    for note in result["invalid"]:
        print(f"! invalid level (the generator fell behind): {note}")
    return all(verdicts)


# --- the sustainable rate -----------------------------------------------------------------------


async def step(
    args: argparse.Namespace, arm: Arm, rps: float, pids: dict[str, int]
) -> dict[str, Any]:
    """One level on one arm; whether it is sustainable and why not."""
    await settle(pids)
    [[run]] = await run_benchmark(_config(args, [arm], rps, args.step_duration, stream=False))
    s = arm_stats(run)
    p99 = s.latency.p99 if s.latency else float("inf")
    why = [f"success {s.success_rate:.3%}"] if s.success_rate < SUCCESS_FLOOR else []
    why += [f"p99 {p99:.1f} ms"] if p99 >= P99_LIMIT_MS else []
    why += [f"invalid: {s.invalid_reason}"] if s.invalid else []
    row: dict[str, Any] = {"rps": rps, "ok": not why, "why": "; ".join(why), "achieved_rps": s.achieved_rps,
           "success": s.success_rate, "p50_ms": s.latency and s.latency.p50, "p99_ms": p99,
           "service_p99_ms": s.service and s.service.p99, "send_lag_p99_ms": s.send_lag_p99_ms,
           "errors": s.errors}  # fmt: skip
    print(f"  {arm.name:<12}{rps:>7.0f} rps  achieved {s.achieved_rps:7.1f}  success "
          f"{s.success_rate:8.3%}  p50 {row['p50_ms'] or 0:7.2f}  p99 {p99:8.2f} ms  lag p99 "
          f"{s.send_lag_p99_ms:6.2f} ms  {'ok' if not why else 'FAIL: ' + row['why']}", flush=True)  # fmt: skip
    return row


async def sustainable(args: argparse.Namespace, arm: Arm, pids: dict[str, int]) -> dict[str, Any]:
    """Doubling until a rate fails, then bisection between the last pass and the first fail.

    A failing rate is tried again (up to --tries in all) and passes if any try does: noise from
    other tenants only ever makes a step worse, so one pass shows what the system sustains.
    A rate at which requests time out by the percent is overloaded beyond doubt: no retry."""
    steps: list[dict[str, Any]] = []

    async def holds(rps: float) -> bool:
        for _ in range(args.tries):
            steps.append(await step(args, arm, rps, pids))
            if steps[-1]["ok"] or steps[-1]["success"] < OVERLOADED:
                break
        return bool(steps[-1]["ok"])

    lo, hi, rps = 0.0, None, args.start
    while hi is None and rps <= args.max_rps:
        lo, hi, rps = (rps, None, rps * 2) if await holds(rps) else (lo, rps, rps)
    while hi is not None and hi - lo > max(args.resolution * lo, 5.0):
        mid = round((lo + hi) / 2)
        lo, hi = (mid, hi) if await holds(mid) else (lo, mid)
    failed = [s for s in steps if not s["ok"] and s["rps"] >= (hi or 0)]
    return {"arm": arm.name, "sustainable_rps": lo, "first_failing_rps": hi, "steps": steps,
            "generator_bound": bool(failed) and all(s["why"].startswith("invalid") for s in failed)}  # fmt: skip


async def find_sustainable(
    args: argparse.Namespace, arms: dict[str, Arm], pids: dict[str, int]
) -> dict[str, Any]:
    found = {}
    for name in args.arms:
        print(f"{name}: success >= {SUCCESS_FLOOR:.1%}, p99 < {P99_LIMIT_MS:g} ms, valid level; "
              f"{args.step_duration:g} s per step", flush=True)  # fmt: skip
        found[name] = await sustainable(args, arms[name], pids)
    print()
    for name, f in found.items():
        bound = " (generator-bound: the client fell behind first)" if f["generator_bound"] else ""
        print(
            f"{name:<13} sustainable {f['sustainable_rps']:.0f} rps (fails at {f['first_failing_rps']}){bound}"
        )
    if {"gateway", "passthrough"} <= found.keys() and found["passthrough"]["sustainable_rps"]:
        ratio = found["gateway"]["sustainable_rps"] / found["passthrough"]["sustainable_rps"]
        print(f"gateway / pass-through sustainable rate: {ratio:.1%}")
    return found


# --- the run ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rps", type=float, default=100.0, help="costs: the level's rate")
    p.add_argument("--duration", type=float, default=10.0, help="costs: seconds per arm and mode")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured requests per block")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--find-sustainable", action="store_true", help="search the sustainable rate")
    p.add_argument("--arms", nargs="+", default=["gateway", "passthrough"],
                   choices=["gateway", "gateway+log", "passthrough", "direct"], help="searched arms")  # fmt: skip
    p.add_argument("--step-duration", type=float, default=10.0, help="search: seconds per step")
    p.add_argument("--start", type=float, default=100.0, help="search: the first rate")
    p.add_argument("--max-rps", type=float, default=20_000.0, help="search: stop doubling here")
    p.add_argument("--resolution", type=float, default=0.05, help="search: relative precision")
    p.add_argument("--tries", type=int, default=3, help="search: tries of a failing rate")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    if (
        min(args.rps, args.duration, args.step_duration, args.start, args.resolution) <= 0
        or args.warmup < 0
    ):
        p.error("rates, durations, the resolution must be > 0, --warmup >= 0, --tries >= 1")
    return args


async def measure(
    args: argparse.Namespace, servers: dict[str, Server], workdir: Path
) -> dict[str, Any]:
    arms = await prepare(servers, workdir)
    pids = {name: s.process.pid for name, s in servers.items()}
    if args.find_sustainable:
        return {"sustainable": await find_sustainable(args, arms, pids)}
    return {"costs": await costs(args, arms, pids)}


def _run(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """On uvloop when it is installed, as `sfctl bench` runs (a cheaper loop keeps the generator
    on schedule)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the servers on SIGTERM too
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, fleet(Path(tmp)) as servers:
        try:
            result = _run(measure(args, servers, Path(tmp)))
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
    load.append(os.getloadavg()[0])
    print(f"\nhost: {os.cpu_count()} cpus, Python {sys.version.split()[0]}, aiohttp "
          f"{aiohttp.__version__}; load avg {load[0]:.2f} -> {load[1]:.2f}")  # fmt: skip
    passed = print_costs(result["costs"], args) if "costs" in result else True
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        doc = {"host": {"nproc": os.cpu_count(), "loadavg": load}, "settings": settings, **result}
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
