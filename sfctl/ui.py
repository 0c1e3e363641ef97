"""All terminal output goes through here: the only module that imports rich."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    _out.print(message)


def success(message: str) -> None:
    _out.print(f"[green]✓[/green] {message}")


def warn(message: str) -> None:
    _err.print(f"[yellow]![/yellow] {message}")


def error(message: str) -> None:
    """One line on stderr; no traceback, ever."""
    _err.print(f"[red]error:[/red] {message}", soft_wrap=True)


def emit_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(title=title)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
    _out.print(grid)


def panel_lines(lines: Sequence[str]) -> None:
    for line in lines:
        _out.print(line)
