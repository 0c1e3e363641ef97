"""Stored OpenAI Responses API conversations: what `previous_response_id` refers to.

The gateway, not the upstream, keeps the conversation (upstreams get `store: false` and the
expanded input), so a conversation survives a provider switch and is readable by every replica
(PostgreSQL in shared mode, the SQLite file when embedded). Each stored response belongs to the
virtual key that created it (`owner`); a response of another owner is "not found" everywhere, so
ids leak nothing across keys. The store does not interpret the documents: it keeps the JSON the
pipeline hands it and gives the same JSON back.

Conversations are walked through `previous_id` links in one recursive query. Two choices hold in
both backends:
- the walk follows at most `MAX_CHAIN` responses (newest first), which bounds the work a cycle
  (possible only through a replace) or a pathologically deep chain can cause; a chain is also cut
  at the first response seen twice;
- a link to a response that is gone (deleted, purged, or another owner's) ends the chain there:
  the conversation is what remains from the gap to the requested response. The alternative,
  refusing the whole conversation, would make one purge break every later turn of a long chat.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gateway.settings import Settings

MAX_CHAIN = 10_000  # responses one conversation walk returns at most (the depth cap)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    owner: str  # the virtual key's id; "" for the admin key
    created_at: float  # unix seconds
    previous_id: str | None
    input_items: list[dict[str, Any]]  # this request's own input items, each with an "id"
    response: dict[str, Any]  # the Response object as the client got it


class ResponseStore(Protocol):
    async def put(self, stored: StoredResponse) -> None:
        """Insert, or replace the owner's response of the same id."""
        ...

    async def get(self, owner: str, response_id: str) -> StoredResponse | None: ...

    async def conversation(self, owner: str, response_id: str) -> list[StoredResponse] | None:
        """The chain via previous_id, oldest first, ending with `response_id`; None when that
        response is unknown to `owner`. Cut at a missing link and at `MAX_CHAIN` responses."""
        ...

    async def delete(self, owner: str, response_id: str) -> bool:
        """True when the owner had such a response."""
        ...

    async def purge(self, before: float) -> int:
        """Delete every owner's responses created before `before`; returns how many."""
        ...

    async def ping(self) -> None:
        """Raises when the store cannot be reached."""
        ...

    async def close(self) -> None: ...


def usable_key(text: str) -> bool:
    """Whether `text` can be an id or owner in both backends: PostgreSQL text cannot hold NUL
    and neither driver encodes lone surrogates. A lookup by an unusable key finds nothing (it
    cannot have been stored) instead of failing in the driver."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_storable(stored: StoredResponse) -> None:
    """ValueError for a response neither backend could store faithfully (the same refusal in
    both, so behaviour does not depend on the deployment mode)."""
    keys = (stored.id, stored.owner, stored.previous_id or "")
    if not all(usable_key(key) for key in keys):
        raise ValueError("response id, owner and previous id must be NUL-free UTF-8")
    if not stored.id:
        raise ValueError("response id must not be empty")
    if not math.isfinite(stored.created_at):
        raise ValueError("created_at must be a finite number")


def cut_cycle(chain_newest_first: Iterable[StoredResponse]) -> list[StoredResponse]:
    """The walk oldest first, stopping before the first response seen twice (a cycle)."""
    seen: set[str] = set()
    kept: list[StoredResponse] = []
    for stored in chain_newest_first:
        if stored.id in seen:
            break
        seen.add(stored.id)
        kept.append(stored)
    kept.reverse()
    return kept


@contextlib.asynccontextmanager
async def open_response_store(settings: Settings) -> AsyncIterator[ResponseStore]:
    """PostgreSQL when DATABASE_URL is set (shared by replicas), else SQLite in the data dir."""
    store: ResponseStore
    if settings.database_url:
        from gateway.store.responses_postgres import PostgresResponseStore

        store = await PostgresResponseStore.connect(settings.database_url)
    else:
        from gateway.store.responses_sqlite import SqliteResponseStore

        store = await SqliteResponseStore.open(settings.data_dir)
    try:
        yield store
    finally:
        await store.close()
