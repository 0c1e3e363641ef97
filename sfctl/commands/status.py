"""`sfctl status compose`: each service's containers (two while an upgrade runs), their health,
the build their gateway says it runs, image, uptime and restarts, in one 80-column table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from sfctl import ui
from sfctl.commands.inspect_options import DIRECTORY, OUTPUT, Output
from sfctl.deploy.compose_inspect import inspect_deployment
from sfctl.deploy.compose_status import (
    COLUMNS,
    LEGEND,
    any_dirty,
    container_status,
    project_json,
    table_rows,
)

app = typer.Typer(help="What runs: containers, health, versions, images.", no_args_is_help=True)


@app.command("compose")
def compose(directory: Path = DIRECTORY, output: Output = OUTPUT) -> None:
    """Show each service's containers: health, version, image, uptime, restarts."""
    deployment = inspect_deployment(directory)
    now = datetime.now(UTC)
    statuses = [container_status(item, now) for item in deployment.containers]
    if output is Output.json:
        shape = project_json(deployment.project, statuses)
        ui.emit_json({"dir": str(directory), "image_store": deployment.image_store, **shape})
        return
    ui.narrow_table(
        f"{deployment.project} ({directory})",
        COLUMNS,
        table_rows(deployment.project, statuses),
        wrap=("container", "version"),
    )
    if any_dirty(statuses):
        ui.info(LEGEND)
    for status in statuses:
        if status.build_problem and status.state == "running":
            ui.warn(f"{status.container}: cannot read its build: {status.build_problem}")
