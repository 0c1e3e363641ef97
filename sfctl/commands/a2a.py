"""`sfctl a2a`: register upstream A2A agents with the gateway (served at /a2a/NAME with its
card rewritten to the gateway's URL and auth), list them and remove them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from sfctl import ui
from sfctl.commands.keys import ADMIN_KEY, DATA_DIR, OUTPUT, TIMEOUT, URL, Output
from sfctl.commands.listing import show_listing
from sfctl.registry_client import env_headers, registration, registry_client

app = typer.Typer(
    name="a2a",
    help="Upstream A2A agents behind the gateway: add, list, remove.",
    no_args_is_help=True,
)

NAME = typer.Argument(..., help="The agent's name (a-z, 0-9, '-'); served at /a2a/NAME.")


@app.command()
def add(
    name: str = NAME,
    agent_url: str = typer.Argument(
        ..., metavar="URL", help="The agent's base URL (its card is under it)."
    ),
    header: list[str] = typer.Option(
        [], "--header", help="HEADER=ENV_VAR: send HEADER with the gateway's $ENV_VAR (repeat)."
    ),
    team: list[str] = typer.Option([], "--team", help="Only keys of this team (repeat)."),
    price_per_task: float | None = typer.Option(
        None, min=0, help="Price in USD counted against a key's budget, per request."
    ),
    card_path: str | None = typer.Option(
        None, help="Where the agent serves its card (default /.well-known/agent-card.json)."
    ),
    description: str | None = typer.Option(None, help="A note shown in listings."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Register an A2A agent: NAME and its base URL."""
    body = registration(
        name,
        {"url": agent_url},
        headers=env_headers(header),
        teams=list(team),
        price_per_task_usd=price_per_task,
        card_path=card_path,
        description=description,
    )
    with registry_client(url, admin_key, data_dir, timeout) as client:
        created = client.add_agent(body)
    if output is Output.json:
        ui.emit_json(created)
        return
    ui.success(f"A2A agent {ui.literal(name)} registered: {ui.literal(str(created.get('url')))}")
    ui.info(f"Clients reach it at /a2a/{ui.literal(name)} on the gateway")


def _rows(agents: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            agent.get("name"),
            agent.get("url"),
            ", ".join(agent.get("teams") or ()) or "any",
            f"{float(agent.get('price_per_task_usd') or 0):g}",
            agent.get("source", "store"),
        )
        for agent in agents
    ]


@app.command("list")
def list_agents(
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Every registered A2A agent."""
    with registry_client(url, admin_key, data_dir, timeout) as client:
        agents = client.agents()
    show_listing(
        agents,
        output,
        key="agents",
        empty="No A2A agents yet: sfctl a2a add NAME URL",
        title="A2A agents",
        columns=("name", "url", "teams", "USD/task", "source"),
        rows=_rows(agents),
        drop_order=("source", "teams"),
        wrap=("url", "teams"),
        hint="sfctl a2a list -o json",
    )


@app.command()
def remove(
    name: str = NAME,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    timeout: float = TIMEOUT,
) -> None:
    """Unregister an A2A agent."""
    with registry_client(url, admin_key, data_dir, timeout) as client:
        client.remove_agent(name)
    ui.success(f"A2A agent {ui.literal(name)} removed")
