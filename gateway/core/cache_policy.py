"""When the response cache is looked up and when an answer is stored: pure rules, reason codes.

`request_decision` runs before the lookup; `response_decision` after the upstream answered (for a
stream: once it ended, with the assembled body). Each refusal names one `Reason`, for the stats'
`no_store_reasons` counters. When several apply, one is reported: `client_bypass` first, then a
content rule (it forbids both lookup and store) in the order below, then the client's headers.

Requests, from the client:
- `x-smartflow-cache: bypass` -> neither looked up nor stored (`client_bypass`); `refresh` (or
  `no-cache`) -> not looked up, the fresh answer stored; `no-store` -> looked up, not stored.
- `Cache-Control: no-cache` (or `max-age=0`, or `Pragma: no-cache`) -> not looked up, stored
  (HTTP's meaning: revalidate, so the fresh answer replaces the old one) (`client_no_cache`);
  `Cache-Control: no-store` -> looked up, not stored (HTTP's meaning: keep nothing of this
  exchange; a lookup stores nothing) (`client_no_store`). Both -> neither.
Requests, from their content (neither looked up nor stored):
- `n` (or legacy `best_of`) above 1 (`multiple_choices`): the client asks for several different
  samples; replaying one stored set would make every later caller's "samples" the same.
- audio or image output (`modalities`, `audio`) (`output_modality`): large binary answers whose
  replay (voice, ids, expiry) is not supported.
- a forced tool call (`tool_choice` `required` / a named function on OpenAI, `any` / `tool` on
  Anthropic) (`forced_tool_call`): the answer is certainly a tool call, which is not stored (below),
  so a lookup could only find an entry written under an opt-in; skipped unless the policy opts in.
- server-side tools that read the live world (Anthropic `web_search`, `web_fetch`,
  `code_execution`, `mcp_servers`; OpenAI `web_search_options`) (`live_tools`): the answer depends
  on when it was asked, not only on the request.
- temperature above `CachePolicy.max_temperature` (`temperature`), default 1.0.
  Why a bound at all, when temperature is part of the key (an entry is never served at another
  temperature, so caching is never *wrong*)? Because a request above the provider's default
  asks for more variety than the default; replaying a stored sample turns that request into a
  deterministic one. Why 1.0? It is both providers' default (an absent temperature is 1.0), so
  requests that do not set it, the vast majority, are cached; Anthropic's range stops at 1.0, so
  only OpenAI's 1.0-2.0 "more random than default" band is excluded. A key may opt in
  (`max_temperature=None`). `seed` needs no rule: it is part of the key.

Responses (not stored):
- `stream_error`: an error arrived mid-stream; `incomplete`: the stream was cancelled or ended
  without its final event (`finish_reason` / `stop_reason` missing, Anthropic `pause_turn`).
- `status`: anything but 200; `error`: a 200 whose body is an error object.
- `upstream_no_store`: the upstream sent `Cache-Control: no-store` or `private` (the cache is
  shared by every key of a namespace: a shared cache in HTTP's terms).
- `truncated`: Anthropic's `model_context_window_exceeded`: the conversation outgrew the model,
  an accident of this request, not an answer to it.
  An answer cut off at the client's own limit (`finish_reason: length`, `stop_reason:
  max_tokens`) IS stored: the limit is part of the key, so it is served only to the same request
  with the same limit, which the model would cut off the same way (a client that wants more
  raises the limit, a different key). Load tests with small `max_tokens` depend on this.
- `content_filter`: `finish_reason: content_filter` / Anthropic's `refusal` stop; `refusal`:
  an OpenAI `message.refusal`. A refusal can be a moderation hiccup: cached, it sticks.
- `tool_calls`: the answer asks the client to run tools. A tool call is a plan for side effects
  ("charge card 4242", "send the e-mail") made for one moment: replayed, the client would act
  again on a stale plan, with call ids that already exist in its history. A key may opt in
  (`cache_tool_calls`) for read-only tools.
- `empty`: no choices, or no text, tool call or audio in any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class Reason(StrEnum):
    CLIENT_BYPASS = "client_bypass"
    CLIENT_NO_CACHE = "client_no_cache"
    CLIENT_NO_STORE = "client_no_store"
    MULTIPLE_CHOICES = "multiple_choices"
    OUTPUT_MODALITY = "output_modality"
    FORCED_TOOL_CALL = "forced_tool_call"
    LIVE_TOOLS = "live_tools"
    TEMPERATURE = "temperature"
    STREAM_ERROR = "stream_error"
    INCOMPLETE = "incomplete"
    STATUS = "status"
    ERROR = "error"
    UPSTREAM_NO_STORE = "upstream_no_store"
    TRUNCATED = "truncated"
    CONTENT_FILTER = "content_filter"
    REFUSAL = "refusal"
    TOOL_CALLS = "tool_calls"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Per key (or team) settings of the rules."""

    max_temperature: float | None = 1.0  # None: any temperature is cached (an opt-in)
    cache_tool_calls: bool = False  # store and serve tool-call answers (read-only tools)


DEFAULT_POLICY: Final = CachePolicy()


@dataclass(frozen=True, slots=True)
class RequestDecision:
    lookup: bool
    store: bool
    reason: Reason | None  # why not (both or one of them); None when both are allowed


@dataclass(frozen=True, slots=True)
class ResponseDecision:
    store: bool
    reason: Reason | None


_LIVE_TOOL_PREFIXES: Final = ("web_search", "web_fetch", "code_execution")
_OPENAI_BAD_FINISH: Final = {
    "content_filter": Reason.CONTENT_FILTER,
    "tool_calls": Reason.TOOL_CALLS,
    "function_call": Reason.TOOL_CALLS,
}
_ANTHROPIC_BAD_STOP: Final = {
    "model_context_window_exceeded": Reason.TRUNCATED,
    "refusal": Reason.CONTENT_FILTER,
    "tool_use": Reason.TOOL_CALLS,
    "pause_turn": Reason.INCOMPLETE,
}


def _header(headers: Mapping[str, str], name: str) -> str:
    """Every value of one header, case-insensitively, joined by commas (works on multidicts)."""
    return ",".join(value for key, value in headers.items() if key.lower() == name)


def _directives(value: str) -> set[str]:
    """Cache-Control directives: `no-cache, max-age=0` -> {"no-cache", "max-age=0"}."""
    return {d.strip().lower().replace(" ", "") for d in value.split(",") if d.strip()}


def _client(headers: Mapping[str, str]) -> tuple[bool, bool, Reason | None]:
    """(lookup, store, reason) as the client's headers ask."""
    ours = _header(headers, "x-smartflow-cache").strip().lower()
    if ours == "bypass":
        return False, False, Reason.CLIENT_BYPASS
    control = _directives(_header(headers, "cache-control"))
    no_cache = ours in ("refresh", "no-cache") or bool(control & {"no-cache", "max-age=0"})
    no_cache = no_cache or "no-cache" in _directives(_header(headers, "pragma"))
    no_store = ours == "no-store" or "no-store" in control
    if no_cache:
        return False, not no_store, Reason.CLIENT_NO_CACHE
    if no_store:
        return True, False, Reason.CLIENT_NO_STORE
    return True, True, None


def _forced_tool(choice: Any) -> bool:
    if choice == "required":
        return True
    if not isinstance(choice, Mapping):
        return False
    kind = choice.get("type")
    if kind in ("function", "custom", "any", "tool"):  # a named tool (OpenAI), any/tool (Anthropic)
        return True
    allowed = choice.get("allowed_tools")
    return (
        kind == "allowed_tools"
        and isinstance(allowed, Mapping)
        and allowed.get("mode") == ("required")
    )


def _live_tools(body: Mapping[str, Any]) -> bool:
    if body.get("web_search_options") is not None or body.get("mcp_servers"):
        return True
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if isinstance(kind, str) and kind.startswith(_LIVE_TOOL_PREFIXES):
            return True
    return False


def _content_rule(body: Mapping[str, Any], policy: CachePolicy) -> Reason | None:
    """The first rule of the request's content that rules the cache out, if any."""
    for name in ("n", "best_of"):
        count = body.get(name)
        if isinstance(count, int | float) and not isinstance(count, bool) and count > 1:
            return Reason.MULTIPLE_CHOICES
    modalities = body.get("modalities")
    if body.get("audio") is not None or (
        isinstance(modalities, list) and {"audio", "image"} & set(map(str, modalities))
    ):
        return Reason.OUTPUT_MODALITY
    if not policy.cache_tool_calls and _forced_tool(body.get("tool_choice")):
        return Reason.FORCED_TOOL_CALL
    if _live_tools(body):
        return Reason.LIVE_TOOLS
    temperature = body.get("temperature")
    bound = policy.max_temperature
    if bound is not None and isinstance(temperature, int | float) and temperature > bound:
        return Reason.TEMPERATURE
    return None


def request_decision(
    body: Mapping[str, Any], headers: Mapping[str, str], *, policy: CachePolicy = DEFAULT_POLICY
) -> RequestDecision:
    """May this request be answered from the cache, and may its answer be stored?"""
    lookup, store, reason = _client(headers)
    if reason is Reason.CLIENT_BYPASS:
        return RequestDecision(False, False, reason)
    content = _content_rule(body, policy)
    if content is not None:
        return RequestDecision(False, False, content)
    return RequestDecision(lookup, store, reason)


def _openai_rule(body: Mapping[str, Any], policy: CachePolicy) -> Reason | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return Reason.EMPTY
    answered = False
    for choice in choices:
        if not isinstance(choice, Mapping):
            return Reason.EMPTY
        finish = choice.get("finish_reason")
        if finish is None:
            return Reason.INCOMPLETE
        message = choice.get("message")
        message = message if isinstance(message, Mapping) else {}
        if message.get("refusal"):
            return Reason.REFUSAL
        calls = bool(message.get("tool_calls") or message.get("function_call"))
        bad = _OPENAI_BAD_FINISH.get(finish) or (Reason.TOOL_CALLS if calls else None)
        if bad is Reason.TOOL_CALLS and policy.cache_tool_calls:
            bad = None
        if bad is not None:
            return bad
        text = message.get("content") if "message" in choice else choice.get("text")
        answered = answered or bool(text) or calls or bool(message.get("audio"))
    return None if answered else Reason.EMPTY


def _responses_rule(body: Mapping[str, Any], policy: CachePolicy) -> Reason | None:
    """An OpenAI Responses `Response`: completed, with text or (opted in) function calls."""
    if body.get("status") != "completed":
        return Reason.INCOMPLETE
    items = body.get("output")
    items = [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []
    parts = [
        part
        for item in items
        if item.get("type") == "message" and isinstance(item.get("content"), list)
        for part in item["content"]
        if isinstance(part, Mapping)
    ]
    if any(part.get("type") == "refusal" for part in parts):
        return Reason.REFUSAL
    calls = any(item.get("type") == "function_call" for item in items)
    if calls and not policy.cache_tool_calls:
        return Reason.TOOL_CALLS
    text = any(part.get("type") == "output_text" and part.get("text") for part in parts)
    return None if text or calls else Reason.EMPTY


def _anthropic_rule(body: Mapping[str, Any], policy: CachePolicy) -> Reason | None:
    stop = body.get("stop_reason")
    if stop is None:
        return Reason.INCOMPLETE
    blocks = body.get("content")
    blocks = [b for b in blocks if isinstance(b, Mapping)] if isinstance(blocks, list) else []
    calls = any(block.get("type") == "tool_use" for block in blocks)
    bad = _ANTHROPIC_BAD_STOP.get(stop) or (Reason.TOOL_CALLS if calls else None)
    if bad is Reason.TOOL_CALLS and policy.cache_tool_calls:
        bad = None
    if bad is not None:
        return bad
    text = any(block.get("type") == "text" and block.get("text") for block in blocks)
    return None if text or calls else Reason.EMPTY


def response_decision(
    status: int,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    *,
    policy: CachePolicy = DEFAULT_POLICY,
    stream_error: bool = False,
    completed: bool = True,
) -> ResponseDecision:
    """May this upstream answer be stored? `body` is the whole response (a stream assembled),
    OpenAI chat or legacy completion, Anthropic message or Responses `Response`; the shape tells
    them apart."""
    reason: Reason | None
    if stream_error:
        reason = Reason.STREAM_ERROR
    elif not completed:
        reason = Reason.INCOMPLETE
    elif status != 200:
        reason = Reason.STATUS
    elif not isinstance(body, Mapping) or not body:
        reason = Reason.EMPTY
    elif body.get("error") is not None or body.get("type") == "error":
        reason = Reason.ERROR
    elif _directives(_header(headers, "cache-control")) & {"no-store", "private"}:
        reason = Reason.UPSTREAM_NO_STORE
    elif "choices" in body:
        reason = _openai_rule(body, policy)
    elif body.get("object") == "response":
        reason = _responses_rule(body, policy)
    else:
        reason = _anthropic_rule(body, policy)
    return ResponseDecision(reason is None, reason)
