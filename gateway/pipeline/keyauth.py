"""The auth stage: who is calling, from `Authorization: Bearer` or `x-api-key`.

Virtual keys are looked up by the SHA-256 of the presented secret in a per-process cache, so the
hot path costs a hash and a dict lookup. A change (update, revoke, rotate) arrives as a KeyChange
and drops the entry at once; entries also expire after `ttl_s` as a safety net. When the
repository cannot be reached, last-known keys keep working (a datastore outage must not fail
requests) and unknown keys are refused.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.core.errors import AuthenticationFailed, PermissionDenied
from gateway.core.keys import VirtualKey
from gateway.pipeline.auth import MISSING_KEY, AdminKeyAuth, presented_key
from gateway.store.base import KeyChange, KeyRepository

log = logging.getLogger("smartflow.auth")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is from: a virtual key, or the administrator (only where allowed)."""

    key: VirtualKey | None

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key else None


ADMIN_CALLER = Caller(None)


@dataclass(slots=True)
class _Entry:
    key: VirtualKey | None  # None: known not to exist (negative entry)
    fetched: float


class KeyAuthenticator:
    def __init__(
        self,
        repository: KeyRepository,
        *,
        admin: AdminKeyAuth | None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        ttl_s: float = 30.0,
        negative_ttl_s: float = 1.0,
        max_entries: int = 100_000,
    ) -> None:
        self._repository = repository
        self._admin = admin  # accepted on the data plane only where the app says so
        self._clock = clock
        self._wall = wall
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, _Entry] = {}
        self._by_id: dict[str, str] = {}

    async def authenticate(self, request: web.Request, model: str | None) -> Caller:
        secret = presented_key(request)
        if secret is None:
            raise AuthenticationFailed(MISSING_KEY)
        digest = hashlib.sha256(secret.encode()).digest()
        if self._admin is not None and self._admin.matches_digest(digest):
            return ADMIN_CALLER
        key = await self._lookup(digest.hex())
        if key is None:
            raise AuthenticationFailed("invalid API key")
        refusal = key.refusal(self._wall())
        if refusal is not None:
            raise AuthenticationFailed(refusal)
        if model is not None and not key.allows_model(model):
            raise PermissionDenied(
                f"this API key may not use model {model!r}", code="model_not_allowed", param="model"
            )
        return Caller(key)

    async def _lookup(self, key_hash: str) -> VirtualKey | None:
        now = self._clock()
        entry = self._cache.get(key_hash)
        if entry is not None:
            ttl = self._ttl_s if entry.key is not None else self._negative_ttl_s
            if now - entry.fetched < ttl:
                return entry.key
        try:
            key = await self._repository.get_by_hash(key_hash)
        except Exception as exc:  # the repository is down: last-known keys keep working
            if entry is not None and entry.key is not None:
                log.warning("key store unreachable; using cached key", extra={"error": str(exc)})
                return entry.key
            log.warning("key store unreachable; refusing unknown key", extra={"error": str(exc)})
            return None
        self._remember(key_hash, key, now)
        return key

    def _remember(self, key_hash: str, key: VirtualKey | None, now: float) -> None:
        if len(self._cache) >= self._max_entries:
            self._cache.clear()  # rare; bounded memory beats an LRU's per-request bookkeeping
            self._by_id.clear()
        self._cache[key_hash] = _Entry(key, now)
        if key is not None:
            self._by_id[key.id] = key_hash

    def invalidate(self, change: KeyChange) -> None:
        """Drop a changed key (by its old hash and by id) from this process's cache."""
        self._cache.pop(change.key_hash, None)
        current = self._by_id.pop(change.key_id, None)
        if current is not None:
            self._cache.pop(current, None)
