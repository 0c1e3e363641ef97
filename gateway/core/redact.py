"""Redaction of prompt text kept in the audit log (only when a key opts in).

Masks what must never sit in a log in clear: e-mail addresses, payment card numbers, US social
security numbers, IBANs and API keys or bearer tokens. Compliance scanning proper is its own
stage; this is the floor under any prompt that is stored.
"""

from __future__ import annotations

import re
from typing import Any

MAX_CHARS = 4096

_PATTERNS = (
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "[EMAIL]"),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}\b"), "[API_KEY]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"), "Bearer [TOKEN]"),
    (re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b"), "[IBAN]"),
    (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), "[CARD]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def prompt_text(body: dict[str, Any]) -> str:
    """The human-readable prompt of a request in either wire format, redacted and bounded."""
    parts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(f"system: {system}")
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            parts.append(f"{message.get('role', '?')}: {_text(message.get('content'))}")
    for field in ("prompt", "input"):
        if field in body:
            parts.append(_text(body[field]))
    return redact("\n".join(parts))[:MAX_CHARS]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            _text(part.get("text")) if isinstance(part, dict) else _text(part) for part in content
        )
    return ""
