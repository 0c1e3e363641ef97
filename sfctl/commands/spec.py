"""`sfctl spec`: the deployment spec's JSON schema (for editors) and a check of a spec file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from sfctl import ui
from sfctl.spec import Spec, load_spec

app = typer.Typer(
    name="spec",
    help="The deployment spec (sfctl.yaml): its JSON schema, and a check of a file.",
    no_args_is_help=True,
)

SPEC_FILE = typer.Option(Path("sfctl.yaml"), "--file", "-f", help="The deployment spec.")


def spec_schema() -> dict[str, Any]:
    """Spec's JSON schema with the draft and a title, as editors (yaml-language-server) want."""
    schema = Spec.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "sfctl.yaml",
    }


@app.command("schema")
def schema() -> None:
    """Print the JSON schema of sfctl.yaml (add `# yaml-language-server: $schema=FILE`)."""
    ui.plain(json.dumps(spec_schema(), indent=2))


@app.command("check")
def check(spec_file: Path = SPEC_FILE) -> None:
    """Validate sfctl.yaml: one line naming the field and the fix, exit 1 when it is wrong."""
    spec = load_spec(spec_file)
    ui.success(f"{ui.literal(str(spec_file))}: valid ({ui.literal(spec.domain)})")
