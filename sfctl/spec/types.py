"""Scalar types of the deployment spec, each with an error that says how to fix the value, and
the same pattern in the JSON schema so editors flag a bad value as it is typed."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema


class _Matches:
    """Validator: the whole value matches `pattern`, else "<value> <problem>"."""

    def __init__(self, pattern: str, problem: str) -> None:
        self.regex = re.compile(pattern)
        self.problem = problem

    def __call__(self, value: str) -> str:
        if not self.regex.fullmatch(value):
            raise ValueError(f"{value!r} {self.problem}")
        return value


def _pattern_type(pattern: str, problem: str) -> Any:
    """A str type checked by `pattern` (Python and JSON-schema regex alike: keep it plain)."""
    schema = {"type": "string", "pattern": f"^(?:{pattern})$"}
    return Annotated[str, AfterValidator(_Matches(pattern, problem)), WithJsonSchema(schema)]


def _date_as_text(value: object) -> object:
    """YAML reads an unquoted 2024-06-01 as a date; an API version is text."""
    return value.isoformat() if isinstance(value, date) else value


if TYPE_CHECKING:  # to the type checker they are plain strings
    ComposeSize: TypeAlias = str
    MemoryQuantity: TypeAlias = str
    CpuQuantity: TypeAlias = str
    EnvName: TypeAlias = str
    Hostname: TypeAlias = str
    Email: TypeAlias = str
    DnsLabel: TypeAlias = str
    Cidr: TypeAlias = str
else:
    ComposeSize = _pattern_type(
        r"[0-9]+(\.[0-9]+)?[bkmgBKMG]", "is not a size; use e.g. 1g or 512m"
    )
    MemoryQuantity = _pattern_type(
        r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?",
        "is not a Kubernetes memory quantity; use e.g. 256Mi or 1Gi",
    )
    CpuQuantity = _pattern_type(
        r"[0-9]+m|[0-9]+(\.[0-9]+)?", "is not a Kubernetes CPU quantity; use e.g. 200m or 0.5"
    )
    EnvName = _pattern_type(
        r"[A-Z_][A-Z0-9_]*",
        "is not a variable name: name the variable (e.g. OPENAI_API_KEY) and put its value "
        "in .env, never the secret itself",
    )
    Hostname = _pattern_type(
        r"localhost|(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}",
        "is not a DNS name; use e.g. smartflow.example.com (or localhost)",
    )
    Email = _pattern_type(
        r"[^@\s]+@[^@\s]+\.[^@\s]+", "is not an email address; use e.g. ops@example.com"
    )
    DnsLabel = _pattern_type(
        r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        "is not a DNS label; use lowercase letters, digits and '-'",
    )
    Cidr = _pattern_type(
        r"[0-9a-fA-F:.]+(/[0-9]{1,3})?", "is not an IP range; use e.g. 10.0.0.0/8 or 203.0.113.7/32"
    )
ApiVersion = Annotated[str, BeforeValidator(_date_as_text)]
