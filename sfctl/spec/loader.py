"""Reading sfctl.yaml: YAML and validation errors become one `SfctlError` line that names the
field path and says how to fix it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sfctl.errors import SfctlError
from sfctl.spec.models import Spec


def load_spec(path: Path) -> Spec:
    """Parse and validate `path`; any problem is one `SfctlError` naming the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SfctlError(f"{path}: not found; create one with `sfctl init`") from None
    except OSError as exc:
        raise SfctlError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_spec(text, source=path.name)


def parse_spec(text: str, *, source: str = "sfctl.yaml") -> Spec:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SfctlError(f"{source}:{where}: {problem}; fix the YAML syntax") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SfctlError(f"{source}: expected a mapping of settings at the top level")
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        raise SfctlError(format_validation_error(exc, source)) from None


def format_validation_error(exc: ValidationError, source: str) -> str:
    """The first error as `source: a.b.c: what is wrong; the fix`, plus how many more."""
    errors = exc.errors(include_url=False)
    first = _describe(errors[0])
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {first}{suffix}"


def _describe(error: ErrorDetails) -> str:
    loc = [str(part) for part in error["loc"]]
    path = ".".join(loc) if loc else "(top level)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return f"{path}: unknown setting; {_suggest(loc)}"
    if kind == "missing":
        return f"{path}: required; add it"
    message = error["msg"].removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return f"{path}: {message}" if loc else message
    if kind == "string_type":
        return f"{path}: {value!r} is not text; quote it in the YAML"
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return f"{path}: {shown}: {message[:1].lower()}{message[1:]}"


def _suggest(loc: list[str]) -> str:
    """Name the allowed settings at that level, and the nearest one to a typo."""
    model = _model_at(loc[:-1])
    if model is None:
        return "remove it"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(loc[-1], allowed, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"expected one of: {', '.join(allowed)}"


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Spec
    for part in loc:
        if model is None:
            return None
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field is not None else None
    return model


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
