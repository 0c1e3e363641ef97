"""One POST /v1/responses turn: the request checked, the conversation it continues read from
the store, and what is kept of it once answered."""

from __future__ import annotations

import copy
import time
from typing import Any

from gateway.core.errors import InvalidRequest
from gateway.core.responses_items import (
    conversation_items,
    for_storeless_upstream,
    normalise_input_items,
)
from gateway.core.responses_request import input_items
from gateway.core.responses_response import ResponseIds, item_prefix_of
from gateway.core.responses_translate import responses_request_to_chat
from gateway.pipeline.context import RequestContext, without_stream
from gateway.pipeline.keyauth import Caller
from gateway.pipeline.state import GatewayState
from gateway.store.responses_base import StoredResponse

# Responses API features that need OpenAI's own servers: refused, naming the parameter.
_UNSUPPORTED = ("background", "conversation")


def owner_of(caller: Caller) -> str:
    return caller.key_id or ""


def validate(body: dict[str, Any]) -> None:
    value = body.get("input")
    if value is None:
        raise InvalidRequest("'input' is required (a string or an array of items)", param="input")
    if not isinstance(value, (str, list)):
        raise InvalidRequest("'input' must be a string or an array of items", param="input")
    for name in ("instructions", "previous_response_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidRequest(f"'{name}' must be a string", param=name)
    if "store" in body and not isinstance(body["store"], bool):
        raise InvalidRequest("'store' must be a boolean", param="store")
    for name in _UNSUPPORTED:
        if body.get(name):
            raise InvalidRequest(f"'{name}' is not supported by this gateway", param=name)


class ResponsesTurn:
    """One POST /v1/responses: the request, the conversation it continues, and what is kept."""

    def __init__(
        self, ctx: RequestContext, state: GatewayState, caller: Caller, body: dict[str, Any]
    ) -> None:
        self.body = body
        self.owner = owner_of(caller)
        self.store = state.responses if body.get("store") is not False else None
        self.previous: list[dict[str, Any]] = []
        self._chat: dict[str, Any] | None = None
        self.response_id = "resp_" + ctx.request_id[4:]
        self.created_at = int(time.time())
        self.inputs = normalise_input_items(input_items(body), item_prefix_of(self.response_id))

    async def load_previous(self, state: GatewayState) -> None:
        previous_id = self.body.get("previous_response_id")
        if not previous_id:
            return
        chain = (
            await state.responses.conversation(self.owner, previous_id)
            if state.responses is not None
            else None
        )
        if not chain:
            raise InvalidRequest(
                f"Previous response with id {previous_id!r} not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        self.previous = conversation_items([(s.input_items, s.response) for s in chain])

    def for_shadow(self, fresh: RequestContext) -> ResponsesTurn:
        """This turn re-asked in the background to check a semantic hit: whole, kept nowhere."""
        twin = copy.copy(self)
        twin.body = without_stream(self.body)
        twin.store = None
        twin._chat = None
        twin.response_id = "resp_" + fresh.request_id[4:]
        return twin

    def chat_request(self) -> dict[str, Any]:
        """The request as Chat Completions, conversation included: translated once, shared by
        the cache key and an OpenAI-compatible upstream (callers copy before changing it)."""
        if self._chat is None:
            self._chat = responses_request_to_chat(self.body, previous=self.previous)
        return self._chat

    def ids(self) -> ResponseIds:
        return ResponseIds(response_id=self.response_id, created_at=self.created_at)

    def finalise(self, response: dict[str, Any]) -> None:
        """What the gateway decides, whatever the upstream said."""
        response["store"] = self.store is not None
        response["previous_response_id"] = self.body.get("previous_response_id")

    async def keep(self, response: dict[str, Any] | None) -> None:
        if self.store is None or response is None or not isinstance(response.get("id"), str):
            return
        await self.store.put(
            StoredResponse(
                id=response["id"],
                owner=self.owner,
                created_at=float(self.created_at),
                previous_id=self.body.get("previous_response_id"),
                input_items=self.inputs,
                response=response,
            )
        )

    def native_body(self, upstream_model: str) -> dict[str, Any]:
        out = {k: v for k, v in self.body.items() if k != "previous_response_id"}
        out["model"] = upstream_model
        out["store"] = False
        if self.previous:
            out["input"] = [*for_storeless_upstream(self.previous), *input_items(self.body)]
        return out
