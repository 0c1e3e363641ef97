"""Anthropic Messages helpers with no I/O: a local estimate for `count_tokens` when the upstream
cannot count (an OpenAI-speaking provider, the mock), and the model list in Anthropic's shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway.core.pricing import CHARS_PER_TOKEN, MESSAGE_OVERHEAD_TOKENS

IMAGE_TOKENS = 1_600  # Anthropic's figure for a full-size image (about 1.15 megapixels)
TOOLS_OVERHEAD_TOKENS = 350  # the tool-use system prompt Anthropic adds when tools are present
# Strings that are identifiers or opaque tokens, not text the model reads.
_SKIPPED_KEYS = frozenset(
    {"type", "role", "id", "tool_use_id", "signature", "cache_control", "data"}
)


def _chars(value: Any) -> int:
    """Characters of text in a block tree: strings, tool inputs and schemas; ids, signatures,
    cache markers and encoded images skipped."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_chars(item) for item in value)
    if isinstance(value, dict):
        return sum(_block_chars(value))
    return 0


def _block_chars(block: Mapping[str, Any]) -> Iterable[int]:
    kind = block.get("type")
    if kind in ("image", "document") and isinstance(block.get("source"), dict):
        source = block["source"]
        if source.get("type") == "text":
            yield _chars(source.get("data"))
        else:
            yield IMAGE_TOKENS * CHARS_PER_TOKEN
        return
    for key, item in block.items():
        if key in _SKIPPED_KEYS:
            continue
        if key in ("input", "input_schema") and isinstance(item, dict):
            yield len(json.dumps(item, separators=(",", ":")))
        else:
            yield _chars(item)


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """About 4 characters a token over system, messages and tools, plus the per-message and
    tool-use overheads: what `count_tokens` answers when no Anthropic upstream can count."""
    count = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        count += len(messages) * MESSAGE_OVERHEAD_TOKENS
        count += _chars(messages) // CHARS_PER_TOKEN
    count += _chars(body.get("system")) // CHARS_PER_TOKEN
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        count += TOOLS_OVERHEAD_TOKENS + _chars(tools) // CHARS_PER_TOKEN
    return max(count, 1)


def model_entry(name: str, created_at: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": created_at}


def models_page(
    names: Sequence[str],
    created_at: str,
    *,
    limit: int = 20,
    after_id: str | None = None,
    before_id: str | None = None,
) -> dict[str, Any]:
    """GET /v1/models as Anthropic answers it: one page of `limit` models after `after_id` (or
    before `before_id`), with has_more, first_id and last_id for the next page."""
    start, end = 0, len(names)
    if after_id is not None and after_id in names:
        start = names.index(after_id) + 1
    elif before_id is not None and before_id in names:
        end = names.index(before_id)
    if before_id is not None and after_id is None:
        start = max(start, end - limit)
    page = list(names[start:end][:limit])
    more = (start + len(page) < len(names)) if before_id is None else start > 0
    return {
        "data": [model_entry(name, created_at) for name in page],
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }
