"""All terminal output goes through here: the only module that imports rich."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    _out.print(message)


def success(message: str) -> None:
    _out.print(f"[green]✓[/green] {message}")


def warn(message: str) -> None:
    _err.print(f"[yellow]![/yellow] {escape(message)}")


def error(message: str) -> None:
    """One line on stderr; no traceback, ever (the message is text, never read as markup)."""
    _err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def emit_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    literal: bool = False,
    wide: bool = False,
) -> None:
    """`literal`: cells are data (names users chose), shown as-is, never read as rich markup.
    `wide`: never wrap or cut cells (figures), even past the terminal's width."""
    grid = Table(title=escape(title) if literal else title)
    for column in columns:
        grid.add_column(column, no_wrap=wide)
    for row in rows:
        grid.add_row(*(escape(str(cell)) if literal else str(cell) for cell in row))
    console = _out
    if wide:
        needed = Measurement.get(_out, _out.options.update(width=10_000), grid).maximum
        if needed > _out.width:  # a console of its own: print() caps width at the console's
            console = Console(
                file=_out.file,
                width=needed,
                highlight=False,
                force_terminal=_out.is_terminal,
                color_system=_out.color_system or None,  # type: ignore[arg-type]
            )
    console.print(grid)


def fields(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """One record as a two-column table of field and value."""
    table(title, ("field", "value"), pairs, literal=True)


def titled_table(
    title: str, style: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Data cells shown as-is under a title in `style` (a rich colour): one section of a
    report, such as `sfctl doctor`'s findings of one severity."""
    grid = Table(title=f"[{style}]{escape(title)}[/{style}]", title_justify="left")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(escape(str(cell)) for cell in row))
    _out.print(grid)


def literal(text: str) -> str:
    """`text` (a user-chosen name, say) made safe to embed in a message with markup."""
    return escape(text)


def plain(text: str) -> None:
    """Exactly `text` on stdout: no markup, no wrapping (secrets people copy and paste)."""
    _out.print(text, markup=False, highlight=False, soft_wrap=True)


def panel_lines(lines: Sequence[str]) -> None:
    for line in lines:
        _out.print(line)


class LiveTasks:
    """Rows of a live display, one per key, each a bar with a one-line detail beside it."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def update(self, key: str, *, done: float, total: float, detail: str) -> None:
        """Safe from any thread (rich locks); a new key adds a row below the others."""
        task = self._tasks.get(key)
        if task is None:
            task = self._progress.add_task(escape(key), total=total, detail="")
            self._tasks[key] = task
        self._progress.update(task, completed=done, total=total, detail=escape(detail))


@contextmanager
def live_tasks() -> Iterator[LiveTasks]:
    """A live display on stderr (stdout stays for results), refreshed a few times a second;
    the last state stays on screen when the block ends."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=_err,
        refresh_per_second=4,
    )
    with progress:
        yield LiveTasks(progress)
