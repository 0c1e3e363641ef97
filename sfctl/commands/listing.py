"""What a `list` command prints once it has the records: all of them as JSON (`-o json`), a
hint when there are none, else a table fitted to the terminal (see `ui.fitted_table`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sfctl import ui
from sfctl.commands.keys import Output


def show_listing(
    records: Sequence[Mapping[str, Any]],
    output: Output,
    *,
    key: str,
    empty: str,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    drop_order: Sequence[str],
    wrap: Sequence[str] = (),
    hint: str,
) -> None:
    """`{key: records}` as JSON, or `empty` (a line saying how to add one), or the table
    `title (N)` of `rows`, one a record."""
    if output is Output.json:
        ui.emit_json({key: records})
        return
    if not records:
        ui.info(empty)
        return
    ui.fitted_table(
        f"{title} ({len(records)})", columns, rows, drop_order=drop_order, wrap=wrap, hint=hint
    )
