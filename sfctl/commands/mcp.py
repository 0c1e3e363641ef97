"""`sfctl mcp`: register upstream MCP servers with the gateway, list them with their health,
remove them, and see a server's tools as it lists them now. Credentials are never passed here:
a registration names the gateway's environment variables that hold them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from sfctl import ui
from sfctl.commands.keys import ADMIN_KEY, DATA_DIR, OUTPUT, TIMEOUT, URL, Output
from sfctl.commands.listing import show_listing
from sfctl.errors import SfctlError, UsageError
from sfctl.registry_client import env_headers, oauth, registration, registry_client

app = typer.Typer(
    name="mcp",
    help="Upstream MCP servers behind the gateway: add, list, remove, and list a server's tools.",
    no_args_is_help=True,
)

NAME = typer.Argument(..., help="The server's name (a-z, 0-9, '-'); tools appear as NAME__tool.")
API_TIMEOUT = typer.Option(10.0, "--api-timeout", min=0.1, help="Seconds to wait for the API.")
HEADER = typer.Option(
    [], "--header", help="HEADER=ENV_VAR: send HEADER with the gateway's $ENV_VAR (repeat)."
)
TEAM = typer.Option([], "--team", help="Only keys of this team may use it (repeat).")
PRICE = "Price in USD counted against a key's budget"


def _target(stdio: bool, target: Sequence[str]) -> dict[str, Any]:
    if stdio:
        if not target:
            raise UsageError(
                "--stdio needs the command after --: sfctl mcp add NAME --stdio -- CMD"
            )
        return {"transport": "stdio", "command": list(target)}
    if len(target) != 1:
        raise UsageError(
            "give one URL (the server's Streamable HTTP endpoint), or --stdio -- COMMAND ARGS"
        )
    return {"url": target[0]}


@app.command()
def add(
    name: str = NAME,
    target: list[str] = typer.Argument(
        None, help="The server's URL; with --stdio, the command after --.", show_default=False
    ),
    header: list[str] = HEADER,
    oauth_token_url: str | None = typer.Option(None, help="OAuth client credentials: token URL."),
    oauth_client_id: str | None = typer.Option(None, help="OAuth client id."),
    oauth_secret_env: str | None = typer.Option(
        None, help="The gateway's environment variable holding the client secret."
    ),
    oauth_scope: str | None = typer.Option(None, help="OAuth scope to ask for."),
    oauth_audience: str | None = typer.Option(None, help="OAuth audience to ask for."),
    stdio: bool = typer.Option(
        False, "--stdio", help="The gateway starts the server (needs SMARTFLOW_MCP_STDIO=true)."
    ),
    team: list[str] = TEAM,
    cache_tool: list[str] = typer.Option(
        [], "--cache-tool", help="Cache this tool's results although not annotated (repeat)."
    ),
    ttl: float | None = typer.Option(None, "--ttl", min=0, help="Cached results live S seconds."),
    price_per_call: float | None = typer.Option(None, min=0, help=f"{PRICE}, per tool call."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.001, help="Seconds the gateway waits for the server."
    ),
    description: str | None = typer.Option(None, help="A note shown in listings."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    api_timeout: float = API_TIMEOUT,
) -> None:
    """Register an MCP server: NAME and its URL, or --stdio -- COMMAND ARGS."""
    body = registration(
        name,
        _target(stdio, target or []),
        headers=env_headers(header),
        oauth=oauth(
            oauth_token_url, oauth_client_id, oauth_secret_env, oauth_scope, oauth_audience
        ),
        teams=list(team),
        cache_tools=list(cache_tool),
        cache_ttl_s=ttl,
        price_per_call_usd=price_per_call,
        timeout_s=timeout,
        description=description,
    )
    with registry_client(url, admin_key, data_dir, api_timeout) as client:
        created = client.add_server(body)
    if output is Output.json:
        ui.emit_json(created)
        return
    ui.success(f"MCP server {ui.literal(name)} registered: {ui.literal(_where(created))}")
    ui.info(f"Its tools: sfctl mcp tools {ui.literal(name)}")


def _where(server: Mapping[str, Any]) -> str:
    if server.get("transport") == "stdio":
        return " ".join(str(part) for part in server.get("command") or ())
    return str(server.get("url") or "-")


def _health(server: Mapping[str, Any]) -> str:
    if server.get("healthy"):
        return "ok"
    return "down" if server.get("refreshed_at") is not None else "unchecked"


def _rows(servers: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            server.get("name"),
            _health(server),
            server.get("tools", 0),
            _where(server),
            ", ".join(server.get("teams") or ()) or "any",
            server.get("source", "store"),
            server.get("last_error") or "-",
        )
        for server in servers
    ]


@app.command("list")
def list_servers(
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Every registered MCP server: health, tool count, where it is, who may use it."""
    with registry_client(url, admin_key, data_dir, timeout) as client:
        servers = client.servers()
    show_listing(
        servers,
        output,
        key="servers",
        empty="No MCP servers yet: sfctl mcp add NAME URL",
        title="MCP servers",
        columns=("name", "health", "tools", "target", "teams", "source", "last error"),
        rows=_rows(servers),
        drop_order=("source", "teams", "last error", "target"),
        wrap=("target", "last error", "teams"),
        hint="sfctl mcp list -o json",
    )


@app.command()
def remove(
    name: str = NAME,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    timeout: float = TIMEOUT,
) -> None:
    """Unregister an MCP server: its tools disappear from every client's list."""
    with registry_client(url, admin_key, data_dir, timeout) as client:
        client.remove_server(name)
    ui.success(f"MCP server {ui.literal(name)} removed")


def _hints(tool: Mapping[str, Any]) -> str:
    annotations = tool.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return "-"
    hints = [
        word
        for key, word in (
            ("readOnlyHint", "read-only"),
            ("idempotentHint", "idempotent"),
            ("destructiveHint", "destructive"),
        )
        if annotations.get(key) is True
    ]
    return ", ".join(hints) or "-"


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else "-"


@app.command()
def tools(
    name: str = NAME,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """The server's tools as it lists them now (asked through the gateway)."""
    with registry_client(url, admin_key, data_dir, timeout) as client:
        answer = client.server_tools(name)
    if output is Output.json:
        ui.emit_json(answer)
        if answer.get("healthy") is False:
            raise typer.Exit(1)
        return
    if answer.get("healthy") is False:
        raise SfctlError(str(answer.get("error") or f"MCP server {name} did not answer"))
    listed = [tool for tool in answer.get("tools") or () if isinstance(tool, Mapping)]
    if not listed:
        ui.info(f"MCP server {ui.literal(name)} lists no tools")
        return
    rows = [
        (f"{name}__{tool.get('name')}", _hints(tool), _first_line(tool.get("description")))
        for tool in listed
    ]
    ui.fitted_table(
        f"Tools of {name} ({len(listed)})",
        ("tool", "hints", "description"),
        rows,
        drop_order=("description",),
        wrap=("description", "hints"),
        hint=f"sfctl mcp tools {name} -o json",
    )
