"""All terminal output goes through here: the only module that imports rich."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

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


def width() -> int:
    """The width output is laid out for: the terminal's, or $COLUMNS (80 when neither)."""
    return _out.width


def styled_lines(lines: Sequence[Sequence[tuple[str, str]]]) -> None:
    """Lines the caller laid out for `width()` (`sfctl doctor`'s report): each a sequence of
    (text, rich style) parts. Text is shown as-is (never read as markup) and not re-wrapped."""
    for line in lines:
        _out.print(Text.assemble(*line), soft_wrap=True)


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


def split_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, keep: int = 1
) -> None:
    """Figures shown as they are, no cell wrapped or cut (see `table(wide=True)`); a table wider
    than the terminal is printed as several, each as wide as fits and each repeating the first
    `keep` columns (the rows' key), so that an 80-column terminal stays readable."""
    groups = _column_groups(columns, rows, keep, _out.width)
    for n, group in enumerate(groups, 1):
        part = title if n == 1 else f"continued ({n}/{len(groups)})"
        cells = [[row[i] for i in group] for row in rows]
        table(part, [columns[i] for i in group], cells, literal=True, wide=True)


#: what a rich table column takes beyond its text: 2 of padding and 1 of border
_COLUMN_FRAME = 3


def _widest(header: str, cells: Sequence[str]) -> int:
    """A column's natural width: its widest cell or its header."""
    return max([cell_len(header), *(cell_len(cell) for cell in cells)])


def _column_groups(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], keep: int, width: int
) -> list[list[int]]:
    """Column indexes of each table: the first `keep`, then as many more as fit in `width` (a
    column takes its widest cell, 2 of padding and 1 of border); at least one more in each."""

    def cost(i: int) -> int:
        return _widest(columns[i], [str(row[i]) for row in rows]) + _COLUMN_FRAME

    base = 1 + sum(cost(i) for i in range(keep))
    groups: list[list[int]] = []
    used = 0
    for i in range(keep, len(columns)):
        if not groups or (used + cost(i) > width and len(groups[-1]) > keep):
            groups.append(list(range(keep)))
            used = base
        groups[-1].append(i)
        used += cost(i)
    return groups or [list(range(len(columns)))]


class Marked(Protocol):
    """A table cell that may be flagged (`sfctl.deploy.verify.Cell` is one)."""

    @property
    def text(self) -> str: ...

    @property
    def bad(self) -> bool: ...


def marked_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Marked]], notes: Sequence[str]
) -> None:
    """Checks, one row per object: a bad cell is bold red and marked ✗ (seen without colour
    too), and `notes` under the table say in full what each mark means. Cells fold rather than
    being cut, so nothing is lost at 80 columns."""
    grid = Table(title=escape(title))
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(
            *(f"[bold red]✗ {escape(c.text)}[/bold red]" if c.bad else escape(c.text) for c in row)
        )
    _out.print(grid)
    for note in notes:
        _out.print(f"[red]✗[/red] {escape(note)}", soft_wrap=False)


def narrow_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    wrap: Sequence[str] = (),
) -> None:
    """Data cells as they are; only the columns named in `wrap` may wrap, the others (times,
    short words) stay on one line, so a table fits 80 columns by wrapping where it reads well."""
    grid = Table(title=escape(title))
    for column in columns:
        grid.add_column(column, no_wrap=column not in wrap, overflow="fold")
    for row in rows:
        grid.add_row(*(escape(str(cell)) for cell in row))
    _out.print(grid)


def _wrapped_widths(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    shown: Sequence[int],
    narrowest: Mapping[int, int],
    wrap: Sequence[str],
) -> dict[int, int]:
    """Explicit widths for the wrapping columns: what is left of the terminal after the others,
    shared out from the narrowest each may be up to its natural width (rich's own collapse can
    leave a table wider than the terminal, and then crops it)."""
    wrapping = [i for i in shown if columns[i] in wrap]
    widths = {i: narrowest[i] for i in wrapping}
    fixed = sum(narrowest[i] for i in shown if i not in widths)
    spare = _out.width - 1 - len(shown) * _COLUMN_FRAME - fixed - sum(widths.values())
    natural = {i: _widest(columns[i], [str(row[i]) for row in rows]) for i in wrapping}
    while spare > 0:
        growing = [i for i in wrapping if widths[i] < natural[i]]
        if not growing:
            break
        for i in growing:
            if spare == 0:
                break
            widths[i] += 1
            spare -= 1
    return widths


def fitted_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    drop_order: Sequence[str],
    wrap: Sequence[str] = (),
    hint: str,
) -> None:
    """Data cells never cut (an id is copied from here): only the columns named in `wrap` may
    wrap, at spaces, never narrower than their longest word (or 12). Columns in `drop_order` are
    left out, first ones first, until the table fits the terminal, and one line under it names
    them and says where to see them (`hint`)."""
    narrowest: dict[int, int] = {}
    for i, column in enumerate(columns):
        cells = [str(row[i]) for row in rows]
        widest = _widest(column, cells)
        word = _widest(column, [w for cell in cells for w in cell.split()])
        narrowest[i] = min(widest, max(word, 12)) if column in wrap else widest
    shown = list(range(len(columns)))
    hidden: list[str] = []
    for name in drop_order:  # one more border closes the table
        if 1 + sum(narrowest[i] + _COLUMN_FRAME for i in shown) <= _out.width:
            break
        shown.remove(columns.index(name))
        hidden.append(name)
    grid = Table(title=escape(title))
    widths = _wrapped_widths(columns, rows, shown, narrowest, wrap)
    for i in shown:
        if columns[i] in wrap:
            grid.add_column(columns[i], overflow="fold", width=widths[i])
        else:
            grid.add_column(columns[i], no_wrap=True, min_width=narrowest[i])
    for row in rows:
        grid.add_row(*(escape(str(row[i])) for i in shown))
    _out.print(grid)
    if hidden:
        _out.print(f"[dim]Not shown at this width: {escape(', '.join(hidden))}[/dim]")
        _out.print(f"[dim]({escape(hint)})[/dim]")
