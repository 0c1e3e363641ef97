"""The options `sfctl verify compose` and `sfctl status compose` share: which deployment, and
how to print what they find."""

from __future__ import annotations

from enum import StrEnum

import typer

from sfctl.deploy.state import DEFAULT_COMPOSE_DIR


class Output(StrEnum):
    table = "table"
    json = "json"


DIRECTORY = typer.Option(
    DEFAULT_COMPOSE_DIR, "--dir", help="The deployment's folder: where its Compose files are."
)
OUTPUT = typer.Option(Output.table, "--output", "-o", help="Print a table or JSON.")
