"""The items of a stored Responses conversation: what is kept per response, what a later
`previous_response_id` turn reads back, and the `input_items` listing.

Each response keeps its own input items, normalised to the shape OpenAI lists them in (an `id`,
a `type`, message content as parts, a `status`), and its output items inside the Response object.
A conversation is the chain of those, oldest first: for every response, its input then its
output. Pure: the store reads and writes, this shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.core.errors import InvalidRequest
from gateway.core.responses_json import as_dict, as_list

_INPUT_PART: Final = {
    "text": "input_text",
    "input_text": "input_text",
    "output_text": "output_text",
}
# Items a store-less upstream (store=false) would try to look up by `id`: sent without it.
_SHORT_IDS: Final = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "tool_search_call": "tsc",
    "tool_search_output": "tso",
}
_ID_FREE: Final = frozenset(_SHORT_IDS)
MAX_LIST_LIMIT: Final = 100
DEFAULT_LIST_LIMIT: Final = 20


def _parts(content: Any, role: str) -> list[dict[str, Any]]:
    """Message content as a list of parts: a string becomes one text part of the role's kind."""
    kind = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        part: dict[str, Any] = {"type": kind, "text": content}
        if kind == "output_text":
            part["annotations"] = []
        return [part]
    out: list[dict[str, Any]] = []
    for raw in as_list(content):
        part = dict(as_dict(raw))
        mapped = _INPUT_PART.get(str(part.get("type")))
        if mapped is not None:
            part["type"] = "output_text" if role == "assistant" else mapped
            if part["type"] == "output_text":
                part.setdefault("annotations", [])
        out.append(part)
    return out


def normalise_input_items(items: Sequence[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The request's input items as they are stored and listed: each with an `id` (kept when
    the client gave one, else `<kind>_<prefix>_in<i>`), a `type` and a `status`."""
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        item = dict(raw)
        kind = str(item.get("type") or "message")
        item["type"] = kind
        if kind == "message":
            role = str(item.get("role") or "user")
            item["role"] = role
            item["content"] = _parts(item.get("content"), role)
        short = _SHORT_IDS.get(kind, "item")
        if not isinstance(item.get("id"), str) or not item["id"]:
            item["id"] = f"{short}_{prefix}_in{index}"
        if kind in _ID_FREE:
            item.setdefault("status", "completed")
        out.append(item)
    return out


def conversation_items(
    chain: Sequence[tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """(input items, Response) pairs, oldest first -> the items a next turn continues from."""
    out: list[dict[str, Any]] = []
    for inputs, response in chain:
        out.extend(dict(item) for item in inputs)
        out.extend(dict(as_dict(item)) for item in as_list(response.get("output")))
    return out


def for_storeless_upstream(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """History for an upstream told `store: false` (OpenAI, Azure): ids the upstream never
    stored are dropped, and reasoning it cannot read back (no `encrypted_content`) is left out."""
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "reasoning" and not item.get("encrypted_content"):
            continue
        if kind in _ID_FREE:
            out.append({k: v for k, v in item.items() if k not in ("id", "status")})
        else:
            out.append(dict(item))
    return out


def list_page(items: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of `GET /v1/responses/{id}/input_items` (`order` asc|desc, default desc;
    `limit` 1-100, default 20; `after` an item id)."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'", param="order")
    raw_limit = query.get("limit", str(DEFAULT_LIST_LIMIT))
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequest(
            f"'limit' must be an integer from 1 to {MAX_LIST_LIMIT}", param="limit"
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequest(f"no input item has id {after!r}", param="after")
        ordered = ordered[ids.index(after) + 1 :]
    page = [dict(item) for item in ordered[:limit]]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(ordered) > limit,
    }
