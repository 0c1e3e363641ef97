"""`sfctl bench`: the RPS comparison (gateway against direct) through the loadtest harness, and
`sfctl bench compare` to spot regressions between two JSON reports, `sfctl bench report` to
print a saved report again or turn it into HTML.

`--rps` takes several values after one flag (`--rps 5 10 20`), as in the seed's script; click
options take one value each, so the group rewrites `--rps 5 10 20` into repeated `--rps` flags
before click parses them. `sfctl bench ...` without a subcommand is `sfctl bench run ...`.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import typer
from typer.core import TyperGroup

from loadtest.arms import DIRECT_KEY_ENV, RefusedKey, plan_arms
from loadtest.html import render_html
from loadtest.outcome import (
    arm_outcomes,
    exit_code,
    failure_lines,
    not_run_lines,
    outcomes_json,
    report_outcomes,
)
from loadtest.report import (
    SCHEMA,
    ThresholdError,
    build_report,
    check_thresholds,
    compare,
    format_ms,
    parse_threshold,
    summary_rows,
    to_csv,
)
from loadtest.runner import (
    DESIGNS,
    BenchConfig,
    LevelRun,
    Progress,
    RunSettings,
    run_benchmark,
)
from loadtest.stats import level_stats
from loadtest.workload import WorkloadSpec
from sfctl import ui
from sfctl.errors import SfctlError, UsageError

__all__ = ["app", "expand_multi"]

DEFAULT_DIRECT = "https://api.openai.com"
DEFAULT_RPS = (5.0, 10.0, 20.0, 40.0)
MODES = ("mixed", "miss")
ARRIVALS = ("constant", "poisson")
_MULTI = ("--rps",)  # options that take several space-separated values


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def expand_multi(args: Sequence[str], options: Sequence[str] = _MULTI) -> list[str]:
    """`--rps 5 10 20` -> `--rps 5 --rps 10 --rps 20`: the values run to the next option
    (a token starting with '-' that is not a number, so that `--rps -5` reaches validation)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            out.extend(args[i - 1 :])
            break
        if arg not in options:
            out.append(arg)
            continue
        values = []
        while i < len(args) and not (args[i].startswith("-") and not _is_number(args[i])):
            values.append(args[i])
            i += 1
        if not values:
            out.append(arg)  # click reports the missing value
        for value in values:
            out += [arg, value]
    return out


class _BenchGroup(TyperGroup):
    """`run` is the default subcommand, and multi-value options are expanded for click."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's vendored click
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        args = [args[0], *expand_multi(args[1:])]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="bench",
    cls=_BenchGroup,
    help="Load-compare the gateway with the provider at fixed RPS levels; compare reports.",
)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


def _config(
    *,
    target: str | None,
    key: str | None,
    direct: str,
    direct_key: str | None,
    rps: Sequence[float],
    duration: float,
    mode: str,
    model: str,
    max_tokens: int,
    stream: bool,
    smartflow_only: bool,
    design: str,
    arrival: str,
    seed: int | None,
    settings: RunSettings,
) -> tuple[BenchConfig, dict[str, str]]:
    """The run and why arms did not run. Validated here rather than by click, so that bad usage
    is one line (exit 2); a virtual key for the direct arm is bad usage."""
    _check(bool(target), "--target (or $SF_BASE) is required: the gateway's base URL")
    _check(bool(key), "--key (or $SF_API_KEY) is required")
    _check(mode in MODES, f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    _check(arrival in ARRIVALS, f"--arrival must be one of {', '.join(ARRIVALS)}, not {arrival!r}")
    _check(design in DESIGNS, f"--design must be one of {', '.join(DESIGNS)}, not {design!r}")
    bad = [r for r in rps if not (math.isfinite(r) and r > 0)]
    if bad:
        raise UsageError(f"--rps values must be > 0, got {bad[0]:g}")
    _check(math.isfinite(duration) and duration > 0, "--duration must be > 0 seconds")
    _check(max_tokens >= 1, "--max-tokens must be >= 1")
    _check(
        math.isfinite(settings.request_timeout_s) and settings.request_timeout_s > 0,
        "--timeout must be > 0 seconds",
    )
    _check(math.isfinite(settings.grace_s) and settings.grace_s >= 0, "--grace must be >= 0")
    _check(settings.warmup >= 0, "--warmup must be >= 0")
    assert target is not None and key is not None
    try:
        plan = plan_arms(
            target=target,
            key=key,
            direct=direct,
            direct_key=direct_key,
            smartflow_only=smartflow_only,
        )
    except RefusedKey as exc:
        raise UsageError(str(exc)) from None
    config = BenchConfig(
        arms=plan.arms,
        rps=tuple(rps),
        duration_s=duration,
        workload=WorkloadSpec(mode, model, max_tokens, stream),  # type: ignore[arg-type]
        arrival=arrival,  # type: ignore[arg-type]
        design=design,  # type: ignore[arg-type]
        seed=seed if seed is not None else secrets.randbelow(2**31),
        settings=settings,
    )
    return config, plan.not_run


def _execute(config: BenchConfig, on_progress: Callable[[Progress], None]) -> list[list[LevelRun]]:
    """On uvloop when it is installed (a cheaper loop keeps the generator on schedule)."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(run_benchmark(config, on_progress))


def _show_progress(live: ui.LiveTasks) -> Callable[[Progress], None]:
    def show(p: Progress) -> None:
        rate = p.sent / p.elapsed_s if p.elapsed_s > 0 else 0.0
        live.update(
            f"{p.arm} @ {p.target_rps:g} rps",
            done=p.completed,
            total=p.scheduled,
            detail=f"{rate:.1f} rps sent · {p.in_flight} in flight · {p.errors} errors",
        )

    return show


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise SfctlError(f"cannot write {path}: {exc.strerror or exc}") from None


@app.command("run")
def run(
    target: str | None = typer.Option(
        None, "--target", envvar="SF_BASE", help="Gateway base URL ($SF_BASE)."
    ),
    key: str | None = typer.Option(
        None, "--key", envvar="SF_API_KEY", help="Gateway key ($SF_API_KEY)."
    ),
    direct: str = typer.Option(DEFAULT_DIRECT, "--direct", help="Provider base URL (direct arm)."),
    direct_key: str | None = typer.Option(
        None,
        "--direct-key",
        envvar=DIRECT_KEY_ENV,
        show_envvar=False,
        help=f"The provider's key for the direct arm (${DIRECT_KEY_ENV}); never --key. "
        "Without one the direct arm does not run.",
    ),
    rps: list[float] | None = typer.Option(
        None,
        "--rps",
        help="Target rates: several values after one flag (--rps 5 10 20 40) or the flag "
        "repeated. Default 5 10 20 40.",
    ),
    duration: float = typer.Option(30.0, "--duration", help="Seconds per level and arm."),
    mode: str = typer.Option(
        "mixed", "--mode", help="mixed (50% one repeated prompt) or miss (all unique)."
    ),
    model: str = typer.Option("gpt-4o-mini", "--model", help="Model to request."),
    max_tokens: int = typer.Option(10, "--max-tokens", help="max_tokens of each request."),
    stream: bool = typer.Option(False, "--stream", help="Stream (adds TTFT and inter-token)."),
    smartflow_only: bool = typer.Option(False, "--smartflow-only", help="No direct arm."),
    design: str = typer.Option(
        "abba",
        "--design",
        help="abba: per level, the arms take turns in A-B-B-A blocks (each arm on both halves "
        "of the level), so a drifting machine weighs on both alike; sequential: the whole level "
        "through the gateway, then directly (the seed's way).",
    ),
    arrival: str = typer.Option("constant", "--arrival", help="constant or poisson arrivals."),
    seed: int | None = typer.Option(None, "--seed", help="Default: a fresh one, in the report."),
    timeout: float = typer.Option(30.0, "--timeout", help="Per-request seconds."),
    grace: float = typer.Option(5.0, "--grace", help="Seconds after the last arrival."),
    warmup: int = typer.Option(10, "--warmup", help="Unmeasured requests per level and arm."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the JSON report."),
    csv: Path | None = typer.Option(None, "--csv", help="Write the CSV report."),
    html: Path | None = typer.Option(
        None, "--html", help="Write the self-contained HTML report (tables and plots)."
    ),
    threshold: list[str] | None = typer.Option(
        None,
        "--threshold",
        help="e.g. 'overhead_p50<5ms', 'p99<50ms', 'success>=99.9%' (repeatable); "
        "any failure exits 1.",
    ),
) -> None:
    """Run every RPS level open-loop on the gateway and directly (A-B-B-A); print the summary.

    Also: `sfctl bench compare A.json B.json`. Exit codes: 0 ok, 1 a threshold failed, 2 bad
    usage (a virtual key as the direct key too), 3 an arm ran and no request of a level succeeded.
    """
    config, not_run = _config(
        target=target,
        key=key,
        direct=direct,
        direct_key=direct_key,
        rps=rps or DEFAULT_RPS,
        duration=duration,
        mode=mode,
        model=model,
        max_tokens=max_tokens,
        stream=stream,
        smartflow_only=smartflow_only,
        design=design,
        arrival=arrival,
        seed=seed,
        settings=RunSettings(timeout, grace, warmup),
    )
    texts = threshold or []
    try:
        thresholds = [parse_threshold(t) for t in texts]
    except ThresholdError as exc:
        raise UsageError(str(exc)) from None
    for line in not_run_lines(arm_outcomes([], not_run)):
        ui.warn(line)
    with ui.live_tasks() as live:
        runs = _execute(config, _show_progress(live))
    levels = [level_stats(level, seed=config.seed) for level in runs]
    report = build_report(config, levels, not_run)
    failures = check_thresholds(report, thresholds)
    report["thresholds"] = {"checked": texts, "failures": failures}
    head, rows, notes = summary_rows(report)
    title = f"seed {config.seed} · mode {config.workload.mode} · {config.duration_s:g}s per level"
    ui.split_table(title, head, rows)
    for note in notes:
        ui.warn(note)
    if output is not None:
        _write(output, orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if csv is not None:
        _write(csv, to_csv(report).encode())
    if html is not None:
        _write(html, render_html(report).encode())
    outcomes = report_outcomes(report)
    for line in failure_lines(outcomes):
        ui.error(line)
    for failure in failures:
        ui.error(f"threshold failed: {failure}")
    code = exit_code(outcomes, failures)
    if code:
        raise typer.Exit(code)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError:
        raise UsageError(f"{path} is not JSON") from None
    if not (isinstance(data, dict) and data.get("schema") == SCHEMA):
        raise UsageError(f"{path} is not a `sfctl bench` report (schema {SCHEMA})")
    return data


@app.command("compare")
def compare_reports(
    before: Path = typer.Argument(..., help="The baseline JSON report."),
    after: Path = typer.Argument(..., help="The JSON report to check against it."),
    tolerance: float = typer.Option(
        0.10, "--tolerance", help="Allowed growth of p50/p99, a fraction."
    ),
    floor_ms: float = typer.Option(0.5, "--floor-ms", help="Ignore growth below this many ms."),
) -> None:
    """Flag levels and arms whose p50 or p99 grew beyond the tolerance; exit 1 if any did."""
    _check(math.isfinite(tolerance) and tolerance >= 0, "--tolerance must be >= 0")
    _check(math.isfinite(floor_ms) and floor_ms >= 0, "--floor-ms must be >= 0")
    old, new = _load(before), _load(after)
    try:
        found = compare(old, new, tolerance=tolerance, floor_ms=floor_ms)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"malformed report: {type(exc).__name__}: {exc}") from None
    if not found:
        ui.success(f"no regressions (tolerance {tolerance:.0%}, floor {floor_ms:g}ms)")
        return
    rows = [
        [
            f"{r.target_rps:g}",
            r.arm,
            r.metric,
            format_ms(r.before_ms),
            format_ms(r.after_ms),
            f"{(r.after_ms / r.before_ms - 1) * 100:+.0f}%" if r.before_ms else "new",
        ]
        for r in found
    ]
    title = f"{len(found)} regression(s) (tolerance {tolerance:.0%})"
    ui.table(title, ["RPS", "Arm", "Metric", "Before", "After", "Change"], rows, literal=True)
    raise typer.Exit(1)


@app.command("report")
def report_again(
    source: Path = typer.Argument(..., help="A JSON report written by `sfctl bench -o`."),
    html: Path | None = typer.Option(
        None, "--html", help="Write the self-contained HTML report (tables and plots)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Write the CSV report."),
    output: str = typer.Option("table", "--output", "-o", help="Print a table or JSON."),
) -> None:
    """Print a saved report's summary, and write it again as HTML or CSV."""
    _check(output in ("table", "json"), f"--output must be table or json, not {output!r}")
    data = _load(source)
    try:
        head, rows, notes = summary_rows(data)
        outcomes = report_outcomes(data)
        page = render_html(data) if html is not None else ""
        table = to_csv(data) if csv is not None else ""
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"malformed report: {type(exc).__name__}: {exc}") from None
    if output == "json":
        table_data = {"seed": data.get("seed"), "columns": head, "rows": rows, "invalid": notes}
        ui.emit_json({**table_data, "arms": outcomes_json(outcomes)})
    else:
        ui.split_table(f"{source.name} · seed {data.get('seed')}", head, rows)
        for note in [*notes, *not_run_lines(outcomes), *failure_lines(outcomes)]:
            ui.warn(note)
    if html is not None:
        _write(html, page.encode())
    if csv is not None:
        _write(csv, table.encode())
