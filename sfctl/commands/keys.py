"""`sfctl keys`: virtual keys through the management API (create, list, show, update, revoke,
rotate, budget). A secret is printed once, when it is created or rotated."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sfctl import key_cache, key_tools, ui
from sfctl.client import admin_client
from sfctl.errors import UsageError

app = typer.Typer(
    name="keys",
    help="Create, list, show, update, revoke and rotate virtual keys (sk-sf-...).",
    no_args_is_help=True,
)

SHOWN_ONCE = (
    "This is the only time the key is shown: store it now. It cannot be retrieved later, "
    "only rotated."
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
DURATION = re.compile(r"([0-9]{1,9})\s*([smhdw])")


class Output(StrEnum):
    table = "table"
    json = "json"


class Period(StrEnum):
    total = "total"
    daily = "daily"
    monthly = "monthly"


URL = typer.Option(
    None, "--url", help="Management API URL (default $SMARTFLOW_ADMIN_URL, else `sfctl up`'s)."
)
ADMIN_KEY = typer.Option(
    None, "--admin-key", help="Admin key (default $ADMIN_API_KEY, else `sfctl up`'s key file)."
)
DATA_DIR = typer.Option(None, "--data-dir", help="State directory of the local `sfctl up`.")
OUTPUT = typer.Option(Output.table, "--output", "-o", help="Print a table or JSON.")
TIMEOUT = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait for the API.")
KEY_ID = typer.Argument(..., help="The key's id (key_...), as `sfctl keys list` shows it.")

# options shared by create and update
BUDGET = typer.Option(None, "--budget", min=0.0, help="Spend cap in USD per period.")
PERIOD = typer.Option(None, "--period", help="Budget period (default monthly).")
RPM = typer.Option(None, "--rpm", min=1, help="Requests per minute.")
RPH = typer.Option(None, "--rph", min=1, help="Requests per hour.")
TPM = typer.Option(None, "--tpm", min=1, help="Tokens (prompt + completion) per minute.")
PARALLEL = typer.Option(None, "--parallel", min=1, help="Requests in flight at once.")
MODELS = typer.Option(None, "--models", help="Allowed models, comma-separated ('*': all).")
POLICY = typer.Option(None, "--policy", help="Policy name to apply to the key's requests.")
EXPIRES = typer.Option(
    None, "--expires", help="30d, 12h, 90m, 2w, a date (2026-12-31, midnight UTC) or 'never'."
)
OWNER = typer.Option(None, "--owner", help="Who the key belongs to.")
TEAM = typer.Option(None, "--team", help="The owner's team.")
METADATA = typer.Option(None, "--metadata", help="KEY=VALUE (repeatable; KEY= removes KEY).")
LOG_PROMPTS = typer.Option(None, "--log-prompts/--no-log-prompts", help="Keep prompts in audit.")


# --- option parsing (pure) -------------------------------------------------------------------


def parse_expiry(value: str, now: float) -> float | None:
    """Unix time from a duration ("30d") or a date/time (UTC unless it says otherwise); None
    for "never". A moment in the past is refused: the key would be dead on arrival."""
    text = value.strip()
    if text.lower() in ("never", "none"):
        return None
    match = DURATION.fullmatch(text.lower())
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise UsageError(f"--expires {value!r}: the duration must be more than zero")
        return now + amount * UNITS[match.group(2)]
    moment = _moment(text)
    if moment is None:
        raise UsageError(
            f"--expires {value!r}: use a duration (30d, 12h, 90m, 2w), a date (2026-12-31), "
            "a date and time (2026-12-31T18:00:00Z) or 'never'"
        )
    if moment <= now:
        raise UsageError(f"--expires {value!r} is in the past")
    return moment


def _moment(text: str) -> float | None:
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_models(value: str) -> list[str] | None:
    """ "a, b" -> ["a", "b"]; "*" -> None (every model)."""
    if value.strip() == "*":
        return None
    models = [name.strip() for name in value.split(",") if name.strip()]
    if not models:
        raise UsageError("--models: name at least one model, or '*' for all")
    return models


def parse_metadata(pairs: Sequence[str]) -> dict[str, str | None]:
    """["team=ml", "old="] -> {"team": "ml", "old": None} (None: remove)."""
    parsed: dict[str, str | None] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--metadata {pair!r}: use KEY=VALUE")
        parsed[name.strip()] = value if value else None
    return parsed


def _budget(amount: float | None, period: Period | None) -> dict[str, Any] | None:
    if amount is None:
        return None
    if not math.isfinite(amount):
        raise UsageError(f"--budget {amount}: must be a finite amount of USD")
    return {"max_usd": amount, "period": (period or Period.monthly).value}


def _limits(**limits: int | None) -> dict[str, int]:
    return {name: value for name, value in limits.items() if value is not None}


# --- output ----------------------------------------------------------------------------------


def when(timestamp: Any) -> str:
    if timestamp is None:
        return "never"
    try:
        return datetime.fromtimestamp(float(timestamp), UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp)


def _budget_text(budget: Mapping[str, Any] | None) -> str:
    if not budget:
        return "none"
    return f"${budget['max_usd']:,.2f} {budget['period']}"


def _limits_text(limits: Mapping[str, Any] | None) -> str:
    names = {"rpm": "rpm", "rph": "rph", "tpm": "tpm", "max_parallel": "parallel"}
    limits = limits or {}
    shown = [f"{label} {limits[name]}" for name, label in names.items() if limits.get(name)]
    return ", ".join(shown) or "none"


def _models_text(models: Sequence[str] | None) -> str:
    return "all" if models is None else ", ".join(models) or "(none)"


def _status_text(record: Mapping[str, Any]) -> str:
    expires = record.get("expires_at")
    if record.get("status") == "active" and expires is not None and expires <= time.time():
        return "expired"
    return str(record.get("status"))


def _record_fields(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    metadata = record.get("metadata") or {}
    return [
        ("id", record["id"]),
        ("name", record["name"]),
        ("key", f"{record['key_prefix']}…"),
        ("status", _status_text(record)),
        ("owner", record.get("owner") or "-"),
        ("team", record.get("team") or "-"),
        ("models", _models_text(record.get("models"))),
        *key_tools.tools_rows(record),
        ("policy", record.get("policy") or "-"),
        ("budget", _budget_text(record.get("budget"))),
        ("limits", _limits_text(record.get("limits"))),
        ("cache", key_cache.cache_text(record)),
        ("expires", when(record.get("expires_at"))),
        ("created", when(record.get("created_at"))),
        ("updated", when(record.get("updated_at"))),
        ("metadata", ", ".join(f"{k}={v}" for k, v in metadata.items()) or "-"),
        ("log prompts", "yes" if record.get("log_prompts") else "no"),
    ]


def _show(record: Mapping[str, Any], output: Output, title: str) -> None:
    if output is Output.json:
        ui.emit_json(record)
    else:
        ui.fields(title, _record_fields(record))


def _show_secret(record: Mapping[str, Any], output: Output, verb: str) -> None:
    """The one place a secret is printed; the warning goes to stderr so it never pollutes JSON."""
    if output is Output.json:
        ui.emit_json(record)
        ui.warn(SHOWN_ONCE)
        return
    ui.success(f"{verb} key {record['id']} ({ui.literal(record['name'])}). Its secret:")
    ui.plain(record["key"])
    ui.warn(SHOWN_ONCE)
    ui.fields(f"Key {record['id']}", _record_fields(record))


# --- commands --------------------------------------------------------------------------------


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="A name people will recognise."),
    budget: float | None = BUDGET,
    period: Period | None = PERIOD,
    rpm: int | None = RPM,
    rph: int | None = RPH,
    tpm: int | None = TPM,
    parallel: int | None = PARALLEL,
    models: str | None = MODELS,
    policy: str | None = POLICY,
    expires: str | None = EXPIRES,
    owner: str | None = OWNER,
    team: str | None = TEAM,
    metadata: list[str] | None = METADATA,
    log_prompts: bool | None = LOG_PROMPTS,
    cache: str | None = key_cache.CACHE,
    cache_namespace: str | None = key_cache.CACHE_NAMESPACE,
    cache_tool_calls: bool | None = key_cache.CACHE_TOOL_CALLS,
    cache_any_temperature: bool | None = key_cache.CACHE_ANY_TEMPERATURE,
    mcp_server: list[str] | None = key_tools.MCP_SERVER,
    mcp_tool: list[str] | None = key_tools.MCP_TOOL,
    a2a_agent: list[str] | None = key_tools.A2A_AGENT,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Create a key. Its secret is printed once; only its hash is stored."""
    if period is not None and budget is None:
        raise UsageError("--period needs --budget")
    body: dict[str, Any] = {"name": name}
    optional = {
        "owner": owner,
        "team": team,
        "policy": policy,
        "budget": _budget(budget, period),
        "models": parse_models(models) if models is not None else None,
        "expires_at": parse_expiry(expires, time.time()) if expires is not None else None,
        "log_prompts": log_prompts,
    }
    body.update({field: value for field, value in optional.items() if value is not None})
    limits = _limits(rpm=rpm, rph=rph, tpm=tpm, max_parallel=parallel)
    if limits:
        body["limits"] = limits
    if metadata:
        body["metadata"] = {k: v for k, v in parse_metadata(metadata).items() if v is not None}
    cache_fields = key_cache.cache_options(
        cache, cache_namespace, cache_tool_calls, cache_any_temperature
    )
    if cache_fields:
        body["cache"] = cache_fields
    tools_fields = key_tools.tools_options(mcp_server, mcp_tool, a2a_agent)
    if tools_fields:
        body["tools"] = tools_fields
    with admin_client(url, admin_key, data_dir, timeout) as client:
        _show_secret(client.create_key(body), output, "Created")


@app.command("list")
def list_keys(
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many keys."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="Show at most this many."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """List keys in the order they were created."""
    with admin_client(url, admin_key, data_dir, timeout) as client:
        page = client.list_keys(offset=offset, limit=limit)
    if output is Output.json:
        ui.emit_json(page)
        return
    keys = page.get("keys", [])
    rows = [
        (
            key["id"],
            key["name"],
            f"{key['key_prefix']}…",
            _status_text(key),
            key.get("owner") or "-",
            _budget_text(key.get("budget")),
            _limits_text(key.get("limits")),
            _models_text(key.get("models")),
            when(key.get("expires_at")),
        )
        for key in keys
    ]
    columns = ("id", "name", "key", "status", "owner", "budget", "limits", "models", "expires")
    ui.fitted_table(
        f"Virtual keys ({len(keys)} from {offset})",
        columns,
        rows,
        drop_order=("owner", "key", "expires", "models", "limits", "budget"),
        wrap=("name", "models", "limits", "budget"),
        hint="sfctl keys show ID, or -o json",
    )
    if len(keys) == limit:
        ui.info(f"There may be more: sfctl keys list --offset {offset + limit}")


@app.command()
def show(
    key_id: str = KEY_ID,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Show one key (never its secret)."""
    with admin_client(url, admin_key, data_dir, timeout) as client:
        _show(client.get_key(key_id), output, f"Key {key_id}")


@app.command()
def update(
    key_id: str = KEY_ID,
    name: str | None = typer.Option(None, "--name", help="A new name."),
    budget: float | None = BUDGET,
    period: Period | None = PERIOD,
    no_budget: bool = typer.Option(False, "--no-budget", help="Remove the budget."),
    rpm: int | None = RPM,
    rph: int | None = RPH,
    tpm: int | None = TPM,
    parallel: int | None = PARALLEL,
    models: str | None = MODELS,
    policy: str | None = POLICY,
    expires: str | None = EXPIRES,
    owner: str | None = OWNER,
    team: str | None = TEAM,
    metadata: list[str] | None = METADATA,
    log_prompts: bool | None = LOG_PROMPTS,
    cache: str | None = key_cache.CACHE,
    cache_namespace: str | None = key_cache.CACHE_NAMESPACE,
    cache_namespace_default: bool = key_cache.CACHE_NAMESPACE_DEFAULT,
    cache_tool_calls: bool | None = key_cache.CACHE_TOOL_CALLS,
    cache_any_temperature: bool | None = key_cache.CACHE_ANY_TEMPERATURE,
    mcp_server: list[str] | None = key_tools.MCP_SERVER,
    mcp_tool: list[str] | None = key_tools.MCP_TOOL,
    a2a_agent: list[str] | None = key_tools.A2A_AGENT,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Change a key: only the options given change; limits, metadata, cache and tools are
    merged."""
    if no_budget and (budget is not None or period is not None):
        raise UsageError("--no-budget cannot be combined with --budget or --period")
    changes: dict[str, Any] = {}
    optional = {"name": name, "owner": owner, "team": team, "policy": policy}
    changes.update({field: value for field, value in optional.items() if value is not None})
    if log_prompts is not None:
        changes["log_prompts"] = log_prompts
    if models is not None:
        changes["models"] = parse_models(models)
    if expires is not None:
        changes["expires_at"] = parse_expiry(expires, time.time())
    limits = _limits(rpm=rpm, rph=rph, tpm=tpm, max_parallel=parallel)
    parsed_metadata = parse_metadata(metadata) if metadata else {}
    budget_change = no_budget or budget is not None or period is not None
    cache_fields = key_cache.cache_options(
        cache, cache_namespace, cache_tool_calls, cache_any_temperature,
        namespace_default=cache_namespace_default,
    )  # fmt: skip
    tools_fields = key_tools.tools_options(mcp_server, mcp_tool, a2a_agent)
    to_merge = limits or parsed_metadata or cache_fields or tools_fields
    if not (changes or to_merge or budget_change):
        raise UsageError("nothing to change: pass at least one option (see --help)")
    with admin_client(url, admin_key, data_dir, timeout) as client:
        current = client.get_key(key_id) if to_merge or period else {}
        # the API replaces the cache, tools and limits objects: merge here so others are kept
        merges = {"cache": cache_fields, "tools": tools_fields, "limits": limits}
        for field, given in merges.items():
            if given:
                changes[field] = {**(current.get(field) or {}), **given}
        if parsed_metadata:
            merged = {**(current.get("metadata") or {}), **parsed_metadata}
            changes["metadata"] = {k: v for k, v in merged.items() if v is not None}
        if no_budget:
            changes["budget"] = None
        elif budget_change:
            changes["budget"] = _changed_budget(current.get("budget"), budget, period)
        _show(client.update_key(key_id, changes), output, f"Key {key_id} (updated)")


def _changed_budget(
    current: Mapping[str, Any] | None, amount: float | None, period: Period | None
) -> dict[str, Any]:
    if amount is None:
        if not current:
            raise UsageError("the key has no budget: give --budget with --period")
        amount = float(current["max_usd"])
    if period is None and current:
        period = Period(current["period"])
    changed = _budget(amount, period)
    assert changed is not None
    return changed


@app.command()
def revoke(
    key_id: str = KEY_ID,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Revoke a key: it stops working at once on every replica. Revoking twice is harmless."""
    with admin_client(url, admin_key, data_dir, timeout) as client:
        record = client.revoke_key(key_id)
    if output is Output.table:
        ui.success(f"Revoked key {record['id']} ({ui.literal(record['name'])}).")
    _show(record, output, f"Key {key_id}")


@app.command()
def rotate(
    key_id: str = KEY_ID,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Give a key a new secret (same id, limits and budget); the old secret stops working."""
    with admin_client(url, admin_key, data_dir, timeout) as client:
        _show_secret(client.rotate_key(key_id), output, "Rotated")


@app.command("budget")
def budget_status(
    key_id: str = KEY_ID,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Spend in the key's current budget window."""
    with admin_client(url, admin_key, data_dir, timeout) as client:
        status = client.key_budget(key_id)
    if output is Output.json:
        ui.emit_json(status)
        return
    remaining = status.get("remaining_usd")
    ui.fields(
        f"Budget of {key_id}",
        [
            ("budget", _budget_text(status.get("budget"))),
            ("window", status.get("window")),
            ("spent", f"${status.get('spent_usd', 0.0):,.4f}"),
            ("reserved", f"${status.get('reserved_usd', 0.0):,.4f}"),
            ("remaining", "unlimited" if remaining is None else f"${remaining:,.4f}"),
            ("resets", when(status.get("window_resets_at"))),
        ],
    )
