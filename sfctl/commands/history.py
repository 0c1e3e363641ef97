"""`sfctl history compose`: what was deployed to a deployment, when, by whom, and how it went,
newest first (the records `deploy`, `upgrade`, `rollback` and `teardown` append)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

from sfctl import ui
from sfctl.commands import kube_ops
from sfctl.deploy.history import History, Record, Result, read_history
from sfctl.deploy.state import DEFAULT_COMPOSE_DIR, compose_state_dir
from sfctl.errors import SfctlError

app = typer.Typer(
    help="What was deployed, when, by whom, and how it went.",
    no_args_is_help=True,
)
app.command("k8s")(kube_ops.history_k8s)


class Output(StrEnum):
    table = "table"
    json = "json"


COLUMNS = ("when (UTC)", "who", "action", "from -> to", "result", "took")
DIRECTORY = typer.Option(
    DEFAULT_COMPOSE_DIR,
    "--dir",
    help="The deployment's folder: where its Compose files are rendered.",
)
OUTPUT = typer.Option(Output.table, "--output", "-o", help="Print a table or JSON.")
LAST = typer.Option(None, "--last", "-n", min=1, help="Only the newest N records.")


@app.command("compose")
def compose(
    directory: Path = DIRECTORY,
    output: Output = OUTPUT,
    last: int | None = LAST,
) -> None:
    """The deploy history of a Compose deployment, newest first."""
    history = _read(directory)
    records = history.records[:last] if last else history.records
    if output is Output.json:
        ui.emit_json(
            {
                "dir": str(directory),
                "records": [record.to_json() for record in records],
                "skipped_lines": history.skipped,
            }
        )
        return
    if history.skipped:
        ui.warn(
            f"skipped {history.skipped} unreadable line(s) of {history.path} "
            "(a write cut short by a crash)"
        )
    if not records:
        ui.plain(f"no deploys recorded for {directory} yet")
        return
    ui.narrow_table(
        f"deploy history of {directory}",
        COLUMNS,
        [_row(record) for record in records],
        wrap=("who", "from -> to"),
    )
    for record in records:
        if record.reason:
            line = f"{_when(record.at)} {record.action} {record.result}: {record.reason}"
            ui.info(ui.literal(line))  # wrapped at the terminal's width


def _read(directory: Path) -> History:
    if not directory.is_dir():
        raise SfctlError(
            f"no deployment folder {directory}: pass --dir with the folder its Compose files "
            "are rendered into"
        )
    try:
        return read_history(compose_state_dir(directory))
    except OSError as exc:
        raise SfctlError(f"cannot read the history in {directory}: {exc.strerror}") from None


def _row(record: Record) -> tuple[str, ...]:
    change = f"{record.from_version or '-'} -> {record.to_version or '-'}"
    result = record.result.value if record.result is Result.OK else record.result.value.upper()
    return (
        _when(record.at),
        record.user,
        record.action.value,
        change,
        result,
        _took(record.duration_s),
    )


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"


def _took(seconds: float) -> str:
    """42s, 3m05s, 1h02m: short enough for a narrow column."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
