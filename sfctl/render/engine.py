"""The jinja2 environment (the only place jinja2 is set up) and file writing for the targets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_PACKAGE = "sfctl.templates"
HEADER = "Rendered by sfctl from sfctl.yaml: change the spec and render again, not this file."


def _quote(value: object) -> str:
    """A double-quoted scalar, safe in YAML (JSON strings are YAML strings)."""
    return json.dumps(str(value))


def _yaml_bool(value: object) -> str:
    return "true" if value else "false"


def env_str(value: object) -> str:
    """An environment value as a string (`true`/`false` for booleans, 8 for 8.0)."""
    if isinstance(value, bool):
        return _yaml_bool(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@cache
def environment() -> jinja2.Environment:
    """StrictUndefined: a name missing from the context is an error, never an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, ""),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 (YAML and Caddyfiles, not HTML)
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = _quote
    env.filters["yaml_bool"] = _yaml_bool
    env.globals["HEADER"] = HEADER
    return env


def render_template(template: str, /, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def write_files(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write `files` (relative path -> text) under `out_dir`; return the paths written."""
    written: list[Path] = []
    for relative, text in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
