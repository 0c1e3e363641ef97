"""The response cache on /v1/responses.

Looked up with the request as the chat translation reads it (the whole conversation, stored
turns included, as messages), so exact, normalised and semantic matching work as on
/v1/chat/completions; the Responses-only fields are added to the key as they are (a field the
key does not know splits the cache, never merges it). Entries are kept apart from chat ones (the
route is in the key) and hold the `Response` the client got. A hit is told again as a new
response (`gateway.core.responses_replay`) and stored for `previous_response_id` like any other.
Requests the translation cannot carry (hosted tools, which need OpenAI's servers) are not cached.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from aiohttp import web

from gateway.cache.metacache import Hit
from gateway.core.errors import InvalidRequest
from gateway.core.responses_events import encode_response_event
from gateway.core.responses_replay import replay_events
from gateway.pipeline import cache_stage
from gateway.pipeline.context import RequestContext
from gateway.pipeline.respond import json_response, sse_response
from gateway.pipeline.responses_relay import TERMINAL_EVENTS
from gateway.pipeline.responses_turn import ResponsesTurn
from gateway.pipeline.state import GatewayState

# Read by the chat translation already, or not changing the answer.
_OUTSIDE_KEY: Final = frozenset(
    {"input", "instructions", "previous_response_id", "stream", "store", "metadata"}
)
RESPONSES_OPTIONS: Final = "responses_options"  # where the other fields sit in the keyed body


def cache_view(turn: ResponsesTurn) -> dict[str, Any] | None:
    """The request as the cache keys it, or None when the translation cannot carry it."""
    try:
        chat = turn.chat_request()
    except InvalidRequest:
        return None
    view = {k: v for k, v in chat.items() if k not in ("stream", "stream_options")}
    extra = {k: v for k, v in turn.body.items() if k not in _OUTSIDE_KEY and v is not None}
    if extra:
        view[RESPONSES_OPTIONS] = extra
    return view


async def look_up(
    request: web.Request, ctx: RequestContext, state: GatewayState, turn: ResponsesTurn
) -> Hit | None:
    if state.cache is None:
        return None
    view = cache_view(turn)
    if view is None:
        return None
    return await cache_stage.look_up(request, ctx, state, view, "responses")


async def answer_hit(
    request: web.Request,
    ctx: RequestContext,
    state: GatewayState,
    turn: ResponsesTurn,
    hit: Hit,
    *,
    refetch: cache_stage.Refetch | None,
) -> web.StreamResponse:
    """The stored answer as a new response: kept for `previous_response_id`, then sent.
    `refetch` re-asks upstream when shadow mode samples a semantic hit."""
    cache_stage.note_hit(ctx, state, hit, refetch)
    events = replay_events(orjson.loads(hit.entry.response), turn.body, **turn.ids())
    final = events[-1].get("response")
    for event in events:
        if event.get("type") in TERMINAL_EVENTS and isinstance(event.get("response"), dict):
            turn.finalise(event["response"])
    await turn.keep(final if isinstance(final, dict) else None)
    if not ctx.stream:
        return json_response(ctx, 200, orjson.dumps(final))
    out = sse_response(ctx, 200)
    await out.prepare(request)
    await out.write(b"".join(encode_response_event(event) for event in events))
    await out.write_eof()
    ctx.relayed_frames = len(events)
    return out
