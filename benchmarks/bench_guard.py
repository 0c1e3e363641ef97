"""What do the guardrails add to a request that passes? Compliance off against on, same run.

    python benchmarks/bench_guard.py [--rounds 300] [--latency-ms 20] [--json out.json]

Starts on 127.0.0.1 (free ports) `sfctl mock-upstream --latency-ms N` and five gateways
(SERVICE_TYPE=all, response cache and access log off) routing to it:

- off, off-2: SMARTFLOW_COMPLIANCE=false. Two identical arms: their difference is the noise floor
  of this run, the yardstick for "within noise".
- no policy: compliance on, no policy bound: the prompt and answer are scanned after the
  response, for the audit log only.
- deny policy: a policy that can only refuse (deny on secrets, SSNs, cards): the prompt is
  judged before the call, the answer is held until its scan passes.
- redact policy: a policy that can rewrite the prompt (redact emails): the same, and a rewrite
  when something is found (nothing is, here).

Every request carries a fresh ~2 kB prompt (support-ticket prose, no PII: the request passes),
one keep-alive connection per arm, sequential requests, the arms interleaved in every round (the
machine is shared: medians, differences within one run). Each arm reports the client's round
trip and the gateway's own time (x-smartflow-overhead-ms: server time minus the upstream's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from bench_cache import _q, _wait_ready, fleet

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
MODEL = "gpt-4o-mini"
PARAGRAPH = (
    "Customer reports that the monthly statement for the business account shows a duplicated "
    "line for the same supplier payment, and asks whether the second debit will be reversed "
    "automatically or needs a dispute form. They also want to know how long a reversal takes, "
    "whether fees apply, and how to stop it happening again next month. "
)
DENY = """
  - name: no-secrets
    rules:
      - name: block
        when: "findings.has('aws_access_key') || findings.has('us_ssn') || findings.has('payment_card')"
        action: {type: deny, message: "no credentials, SSNs or card numbers"}
"""
REDACT = """
  - name: mask-emails
    rules:
      - name: emails
        when: "findings.has('email')"
        action: {type: redact, types: [email]}
"""
ARMS = {
    "off": ("false", ""),
    "off-2": ("false", ""),
    "no policy": ("true", ""),
    "deny policy": ("true", DENY),
    "redact policy": ("true", REDACT),
}


@contextlib.contextmanager
def servers(workdir: Path, latency_ms: int) -> Iterator[dict[str, str]]:
    """arm -> base URL; every process stopped by its pid at the end."""
    py = sys.executable
    with fleet(workdir) as running:
        mock = running.start(
            "mock", [py, "-m", "sfctl", "mock-upstream", "--latency-ms", str(latency_ms)]
        )
        gateway = [py, "-m", "gateway", "--service", "all", "--host", "127.0.0.1"]
        for index, (name, (enabled, policies)) in enumerate(ARMS.items()):
            config = workdir / f"config-{index}.yaml"
            config.write_text(
                f"providers:\n  - {{name: up, type: openai-compatible, base_url: '{mock}/v1'}}\n"
                f"models:\n  - {{name: {MODEL}, deployments: [{{provider: up}}]}}\n"
                + (f"policies:{policies}" if policies else ""),
                encoding="utf-8",
            )
            running.start(
                name,
                [*gateway, "--config", str(config)],
                ADMIN_API_KEY=ADMIN_KEY,
                SMARTFLOW_ACCESS_LOG="false",
                SMARTFLOW_CACHE="false",
                SMARTFLOW_COMPLIANCE=enabled,
                SMARTFLOW_DATA_DIR=str(workdir / f"data-{index}"),
            )
        yield running.urls


class Arm:
    """One gateway on its own keep-alive connection."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url + "/v1/chat/completions"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        self.sent = 0
        self.round_trip_ms: list[float] = []
        self.server_ms: list[float] = []

    async def once(self, record: bool = True) -> None:
        self.sent += 1
        prompt = f"Ticket {self.name}-{self.sent}. " + PARAGRAPH * 5  # ~2 kB, unique
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
        started = time.perf_counter()
        async with self.session.post(self.url, json=body) as response:
            await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            overhead = response.headers.get("x-smartflow-overhead-ms")
        if response.status != 200:
            raise RuntimeError(f"{self.name}: HTTP {response.status}")
        if record:
            self.round_trip_ms.append(elapsed)
            if overhead is not None:
                self.server_ms.append(float(overhead))


async def measure(urls: dict[str, str], rounds: int, workdir: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as probe:
        await _wait_ready(probe, urls["mock"], "/health", workdir)
        for name in ARMS:
            await _wait_ready(probe, urls[name], "/ready", workdir)
    arms = [Arm(name, urls[name]) for name in ARMS]
    try:
        for arm in arms:
            for _ in range(30):
                await arm.once(record=False)
        for n in range(rounds):
            for arm in arms if n % 2 == 0 else arms[::-1]:
                await arm.once()
    finally:
        for arm in arms:
            await arm.session.close()
    return {
        arm.name: {
            "round_trip_p50_ms": statistics.median(arm.round_trip_ms),
            "round_trip_p90_ms": _q(arm.round_trip_ms, 0.9),
            "server_p50_ms": statistics.median(arm.server_ms),
            "server_p90_ms": _q(arm.server_ms, 0.9),
        }
        for arm in arms
    }


def report(figures: dict[str, Any], latency_ms: int) -> None:
    off = figures["off"]
    noise = abs(figures["off-2"]["round_trip_p50_ms"] - off["round_trip_p50_ms"])
    print(f"load avg {os.getloadavg()[0]:.2f}   upstream: mock with {latency_ms} ms latency")
    print(f"{'arm':<15}{'round trip p50':>16}{'p90':>9}{'vs off':>10}{'server p50':>13}")
    for name, row in figures.items():
        added = row["round_trip_p50_ms"] - off["round_trip_p50_ms"]
        print(
            f"{name:<15}{row['round_trip_p50_ms']:>13.3f} ms{row['round_trip_p90_ms']:>9.3f}"
            f"{added:>+8.3f} ms{row['server_p50_ms']:>10.3f} ms"
        )
    print(f"noise floor (off-2 vs off, round trip p50): {noise:.3f} ms")
    for name in ("no policy", "deny policy", "redact policy"):
        added = figures[name]["round_trip_p50_ms"] - off["round_trip_p50_ms"]
        verdict = "within noise" if abs(added) <= max(noise, 0.05) else "above noise"
        print(f"{name}: {added:+.3f} ms on the round trip p50 ({verdict})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        workdir = Path(tmp)
        with servers(workdir, args.latency_ms) as urls:
            figures = asyncio.run(measure(urls, args.rounds, workdir))
    report(figures, args.latency_ms)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
