"""`sfctl cache`: the response cache (MetaCache) through the management API: its figures
(`stats`), dropping entries (`purge`), and filling it from a file of prompts (`warm`, through
the proxy, with a virtual key)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from sfctl import ui
from sfctl.cache_warm import (
    BadLine,
    WarmRequest,
    WarmResult,
    read_requests,
    resolve_proxy,
    summary,
    warm,
)
from sfctl.client import AdminClient, admin_client
from sfctl.commands.keys import ADMIN_KEY, DATA_DIR, OUTPUT, TIMEOUT, URL, Output
from sfctl.errors import SfctlError, UsageError
from sfctl.spec import cli_environment

app = typer.Typer(
    name="cache",
    help="Response cache: statistics, purge, and pre-warming from a file of prompts.",
    no_args_is_help=True,
)

PHASE_NAMES = {
    "exact_local": "exact (this replica)",
    "exact_shared": "exact (shared store)",
    "normalized": "normalized text",
    "semantic": "semantic",
}
#: a warm run longer than this shows only the lines that need attention (-o json: all)
ALL_LINES_UP_TO = 200
KEY_ENV = ("SMARTFLOW_API_KEY", "SF_API_KEY")


# --- output ----------------------------------------------------------------------------------


def size(n: Any) -> str:
    """Bytes for people: 512 B, 1.5 kB, 12.3 MB (powers of 1000, as `du --si`)."""
    value = float(n or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def percent(rate: Any) -> str:
    return "-" if rate is None else f"{float(rate) * 100:.1f}%"


def usd(amount: Any) -> str:
    return f"${float(amount or 0):,.4f}"


def _count(n: Any) -> str:
    return f"{int(n or 0):,}"


def shadow_text(shadow: Mapping[str, Any] | None) -> str:
    """Shadow mode's sample of semantic hits re-asked upstream: "2/40 (≤ 12.1%)" is 2
    disagreements in 40, and the false-hit rate's 95% upper bound."""
    if not shadow or not shadow.get("sampled"):
        return "-"
    upper = shadow.get("false_hit_upper_95")
    bound = f" (≤ {percent(upper)})" if upper is not None else ""
    return f"{shadow.get('disagreed', 0)}/{shadow['sampled']}{bound}"


def summary_fields(stats: Mapping[str, Any]) -> list[tuple[str, Any]]:
    not_stored = stats.get("not_stored") or {}
    threshold, embedder = stats.get("threshold"), stats.get("embedder")
    return [
        ("mode", f"{stats.get('mode', '-')}, {stats.get('replicas', 0)} replica(s)"),
        ("embedder", embedder or "none (exact and normalized only)"),
        ("threshold", "-" if threshold is None or not embedder else f"{float(threshold):.3f}"),
        ("lookups", _count(stats.get("lookups"))),
        ("hits", f"{_count(stats.get('hits'))} ({percent(stats.get('hit_rate', 0))})"),
        ("misses", _count(stats.get("misses"))),
        ("bypassed", _count(stats.get("bypassed"))),
        ("stored", _count(stats.get("stored"))),
        ("not stored", ", ".join(f"{k} {v}" for k, v in not_stored.items()) or "0"),
        ("evicted", _count(stats.get("evicted"))),
        ("tokens saved", _count(stats.get("tokens_saved"))),
        ("USD saved", usd(stats.get("usd_saved"))),
        ("entries", f"{_count(stats.get('entries'))} ({size(stats.get('bytes'))})"),
    ]


def phase_rows(phases: Mapping[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            PHASE_NAMES.get(name, name),
            _count(figures.get("lookups")),
            _count(figures.get("hits")),
            percent(figures.get("hit_rate", 0)),
            f"{float(figures.get('mean_ms', 0)):.3f}",
        )
        for name, figures in phases.items()
    ]


NAMESPACE_COLUMNS = (
    "namespace", "entries", "memory", "hits", "misses", "hit rate", "tokens saved",
    "USD saved", "false hits",
)  # fmt: skip


def namespace_rows(namespaces: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            str(row.get("namespace")),
            _count(row.get("entries")),
            size(row.get("bytes")),
            _count(row.get("hits")),
            _count(row.get("misses")),
            percent(row.get("hit_rate", 0)),
            _count(row.get("tokens_saved")),
            usd(row.get("usd_saved")),
            shadow_text(row.get("shadow")),
        )
        for row in namespaces
    ]


def _show_stats(stats: Mapping[str, Any]) -> None:
    ui.fields("Response cache", summary_fields(stats))
    ui.narrow_table(
        "Lookups per phase",
        ("phase", "lookups", "hits", "hit rate", "mean ms"),
        phase_rows(stats.get("phases") or {}),
    )
    namespaces = stats.get("namespaces") or []
    if not namespaces:
        ui.info("No namespace has cached anything yet.")
        return
    ui.fitted_table(
        f"Namespaces ({len(namespaces)})",
        NAMESPACE_COLUMNS,
        namespace_rows(namespaces),
        drop_order=("tokens saved", "misses", "USD saved", "memory"),
        hint="sfctl cache stats -o json",
    )


# --- commands --------------------------------------------------------------------------------


@app.command()
def stats(
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Hits per phase, savings, entries per namespace, shadow mode's false hits.

    Summed over every proxy replica."""
    with admin_client(url, admin_key, data_dir, timeout) as client:
        figures = client.cache_stats()
    if output is Output.json:
        ui.emit_json(figures)
    else:
        _show_stats(figures)


@app.command()
def purge(
    namespace: str | None = typer.Option(
        None, "--namespace", help="Only this namespace (as `sfctl cache stats` names it)."
    ),
    model: str | None = typer.Option(None, "--model", help="Only answers of this model."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Purge everything without asking."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Drop cached answers on every replica: by namespace, by model, or (asked first) all."""
    for option, value in (("--namespace", namespace), ("--model", model)):
        if value is not None and not value.strip():
            raise UsageError(f"{option} must not be empty (leave it out to purge every one)")
    with admin_client(url, admin_key, data_dir, timeout) as client:
        if namespace is None and model is None and not yes:
            _confirm_all(client)
        result = client.purge_cache(namespace, model)
    if output is Output.json:
        ui.emit_json(result)
        return
    scope = []
    if namespace:
        scope.append(f"namespace {namespace}")
    if model:
        scope.append(f"model {model}")
    where = " and ".join(scope) if scope else "every namespace and model"
    ui.success(f"Purged {_count(result.get('purged'))} cached answer(s) ({ui.literal(where)}).")


def _confirm_all(client: AdminClient) -> None:
    """Purging everything is asked first, on stderr (stdout stays for the result); with no
    answer to read (stdin at its end), --yes is required."""
    entries = client.cache_stats().get("entries")
    what = f"all {_count(entries)} cached answers" if entries is not None else "every cached answer"
    question = f"Purge {what} (every namespace, every model) at {client.base_url}?"
    typer.echo(f"{question} [y/N]: ", err=True, nl=False)  # click's confirm writes to stdout
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # a piped answer is not echoed: end the question's line
        typer.echo("", err=True)
    if not answer:
        raise UsageError("purging everything needs confirmation: answer y, or pass --yes")
    if answer.strip().lower() not in ("y", "yes"):
        raise SfctlError("not confirmed: nothing was purged")


@app.command("warm")
def warm_command(
    file: Path = typer.Argument(
        ...,
        help='One request a line: a prompt, {"prompt": "..."} or a chat body with "messages".',
        show_default=False,
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        envvar=list(KEY_ENV),
        help="A virtual key (sk-sf-...) to send the requests with.",
    ),
    model: str = typer.Option(
        "gpt-4o-mini", "--model", help="Model of lines that do not name one."
    ),
    url: str | None = typer.Option(
        None, "--url", envvar="SF_BASE", help="The gateway's proxy URL (default: `sfctl up`'s)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Requests at once."),
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Seconds per request."),
) -> None:
    """Send each request in FILE through the proxy, to have its answer cached.

    Each is sent once, not streamed; the report says which were already cached and which are
    now stored. Exit 1 when a line was bad or a request failed."""
    if not key:
        raise UsageError(
            "--key (or $SMARTFLOW_API_KEY) is required: a virtual key, see `sfctl keys create`"
        )
    if not model.strip():
        raise UsageError("--model must not be empty")
    requests, bad = read_requests(file, model)
    directory = data_dir.expanduser() if data_dir is not None else cli_environment().data_dir
    proxy = resolve_proxy(url, directory)
    for line in bad:
        ui.warn(f"line {line.line}: {line.reason}; skipped")
    results = _run(requests, proxy, key, concurrency, timeout, file.name)
    counts = summary(results, bad)
    if output is Output.json:
        ui.emit_json(
            {
                "file": str(file),
                "url": proxy,
                "summary": counts,
                "results": [r.as_dict() for r in results],
                "bad_lines": [{"line": b.line, "error": b.reason} for b in bad],
            }
        )
    else:
        _show_warm(file, results, bad, counts)
    if results and counts["not_cacheable"] == len(results):
        ui.warn(
            "the gateway cached none of them (x-smartflow-cache: bypass): is its response cache "
            "enabled? See `sfctl cache stats`"
        )
    problems = [
        f"{n} {what}"
        for n, what in (
            (counts["failed"], "request(s) failed"),
            (counts["bad_lines"], "bad line(s)"),
        )
        if n
    ]
    if problems:
        ui.error(f"{' and '.join(problems)} in {file}")
        raise typer.Exit(1)


def _run(
    requests: Sequence[WarmRequest],
    proxy: str,
    key: str,
    concurrency: int,
    timeout: float,
    name: str,
) -> list[WarmResult]:
    if not requests:
        return []
    with ui.live_tasks() as live:
        done: list[WarmResult] = []

        def progress(result: WarmResult) -> None:
            done.append(result)
            tally = summary(done, ())
            live.update(
                f"warming from {name}",
                done=len(done),
                total=len(requests),
                detail=f"{tally['already_cached']} cached · {tally['newly_stored']} stored · "
                f"{tally['failed']} failed",
            )

        live.update(f"warming from {name}", done=0, total=len(requests), detail="")
        return asyncio.run(
            warm(
                requests,
                url=proxy,
                key=key,
                concurrency=concurrency,
                request_timeout_s=timeout,
                on_result=progress,
            )
        )


RESULT_TEXT = {
    "cached": "already cached",
    "stored": "newly stored",
    "not cached": "not cacheable",
    "failed": "failed",
}


WARM_COLUMNS = ("line", "result", "request or error")


def _result_text(result: WarmResult) -> str:
    """Which kind of hit is worth saying (exact or semantic); the other outcomes say it all."""
    cache = f" ({result.cache})" if result.outcome == "cached" and result.cache else ""
    return RESULT_TEXT[result.outcome] + cache


def _preview(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show_warm(
    file: Path, results: Sequence[WarmResult], bad: Sequence[BadLine], counts: Mapping[str, int]
) -> None:
    rows: list[tuple[int, str, str]] = [
        (r.line, _result_text(r), r.error or _preview(r.label)) for r in results
    ]
    rows += [(b.line, "bad line", b.reason) for b in bad]
    shown = sorted(rows)
    title = f"Requests from {file.name}"
    if len(rows) > ALL_LINES_UP_TO:
        shown = [row for row in shown if not row[1].startswith(("already", "newly"))]
        title += f" (the {len(shown)} that need attention; -o json lists all)"
    if shown:
        ui.narrow_table(title, WARM_COLUMNS, shown, wrap=("request or error",))
    ui.fields(
        f"Warmed from {file.name}",
        [
            ("sent", counts["sent"]),
            ("already cached", counts["already_cached"]),
            ("newly stored", counts["newly_stored"]),
            ("not cacheable", counts["not_cacheable"]),
            ("failed", counts["failed"]),
            ("bad lines (skipped)", counts["bad_lines"]),
        ],
    )
