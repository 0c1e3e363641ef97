"""`python -m loadtest`: the RPS comparison, gateway against direct, at each level.

Honours the seed's variables: SF_BASE (the gateway, --target) and SF_API_KEY (--key, the gateway's
only). The direct arm's key is --direct-key or OPENAI_API_KEY, never the gateway's (loadtest.arms).
Exit codes: 0 ok, 1 a threshold failed, 2 bad usage, 3 an arm failed (loadtest.outcome).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import orjson

from loadtest.arms import DIRECT_KEY_ENV, RefusedKey, plan_arms
from loadtest.html import render_html
from loadtest.outcome import arm_outcomes, exit_code, failure_lines, not_run_lines, report_outcomes
from loadtest.report import (
    ThresholdError,
    build_report,
    check_thresholds,
    format_summary,
    parse_threshold,
    to_csv,
)
from loadtest.runner import DESIGNS, BenchConfig, LevelRun, RunSettings, run_benchmark
from loadtest.stats import level_stats
from loadtest.workload import WorkloadSpec

__all__ = ["main"]

DEFAULT_DIRECT = "https://api.openai.com"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit 2 (argparse prints the usage block too)."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _parser() -> _Parser:
    p = _Parser(prog="python -m loadtest", description=__doc__.split("\n\n")[0])
    env = os.environ
    p.add_argument("--target", default=env.get("SF_BASE"), help="gateway base URL ($SF_BASE)")
    p.add_argument("--key", default=env.get("SF_API_KEY"), help="gateway key ($SF_API_KEY)")
    p.add_argument("--direct", default=DEFAULT_DIRECT, help="provider base URL (direct arm)")
    p.add_argument(
        "--direct-key",
        default=env.get(DIRECT_KEY_ENV),
        help=f"the provider's key for the direct arm (${DIRECT_KEY_ENV}); never --key: "
        "without one the direct arm does not run",
    )
    p.add_argument("--rps", type=_positive, nargs="+", default=[5.0, 10.0, 20.0, 40.0])
    p.add_argument("--duration", type=_positive, default=30.0, help="seconds per level and arm")
    p.add_argument("--mode", choices=("mixed", "miss"), default="mixed")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--max-tokens", type=int, default=10)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--smartflow-only", action="store_true", help="no direct arm")
    p.add_argument(
        "--design",
        choices=DESIGNS,
        default="abba",
        help="abba: arms interleaved A-B-B-A within each level; sequential: gateway, then direct",
    )
    p.add_argument("--arrival", choices=("constant", "poisson"), default="constant")
    p.add_argument("--seed", type=int, help="default: a fresh one, recorded in the report")
    p.add_argument("--timeout", type=_positive, default=30.0, help="per-request seconds")
    p.add_argument("--grace", type=float, default=5.0, help="seconds after the last arrival")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured requests per level and arm")
    p.add_argument("-o", "--output", type=Path, help="write the JSON report here")
    p.add_argument("--csv", type=Path, help="write the CSV report here")
    p.add_argument("--html", type=Path, help="write the self-contained HTML report here")
    p.add_argument("--threshold", action="append", default=[], help="e.g. 'p99<50ms' (repeatable)")
    return p


def _config(args: argparse.Namespace, parser: _Parser) -> tuple[BenchConfig, dict[str, str]]:
    """The run and why arms did not run; bad usage (a virtual direct key too) exits 2."""
    if not args.target:
        parser.error("--target (or SF_BASE) is required")
    if not args.key:
        parser.error("--key (or SF_API_KEY) is required")
    if args.max_tokens < 1 or args.warmup < 0 or args.grace < 0:
        parser.error("--max-tokens must be >= 1, --warmup and --grace >= 0")
    try:
        plan = plan_arms(
            target=args.target,
            key=args.key,
            direct=args.direct,
            direct_key=args.direct_key,
            smartflow_only=args.smartflow_only,
        )
    except RefusedKey as exc:
        parser.error(str(exc))
    config = BenchConfig(
        arms=plan.arms,
        rps=tuple(args.rps),
        duration_s=args.duration,
        workload=WorkloadSpec(args.mode, args.model, args.max_tokens, args.stream),
        arrival=args.arrival,
        design=args.design,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        settings=RunSettings(args.timeout, args.grace, args.warmup),
    )
    return config, plan.not_run


def _run(config: BenchConfig) -> list[list[LevelRun]]:
    """On uvloop when it is installed (a cheaper loop keeps the generator on schedule)."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(run_benchmark(config))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    config, not_run = _config(args, parser)
    try:
        thresholds = [parse_threshold(t) for t in args.threshold]
    except ThresholdError as exc:
        parser.error(str(exc))
    for line in not_run_lines(arm_outcomes([], not_run)):
        print(line, file=sys.stderr)
    runs = _run(config)
    levels = [level_stats(level, seed=config.seed) for level in runs]
    report = build_report(config, levels, not_run)
    failures = check_thresholds(report, thresholds)
    report["thresholds"] = {"checked": args.threshold, "failures": failures}
    print(f"seed {config.seed} · mode {config.workload.mode} · {config.duration_s:g}s per level")
    print(format_summary(report))
    if args.output:
        args.output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if args.csv:
        args.csv.write_text(to_csv(report), encoding="utf-8")
    if args.html:
        args.html.write_text(render_html(report), encoding="utf-8")
    outcomes = report_outcomes(report)
    for line in [*failure_lines(outcomes), *(f"threshold failed: {f}" for f in failures)]:
        print(line, file=sys.stderr)
    return exit_code(outcomes, failures)


if __name__ == "__main__":
    sys.exit(main())
