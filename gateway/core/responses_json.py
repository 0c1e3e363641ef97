"""Reading the JSON the Responses translators are given: a value of the expected kind, or an empty
one when the payload has anything else there (clients and upstreams send what they like)."""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int:
    """An integer count (booleans are not counts), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
