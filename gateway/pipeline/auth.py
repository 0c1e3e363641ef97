"""Authentication of data-plane callers.

Until virtual keys exist, only ADMIN_API_KEY is accepted, so nothing runs open. The key is kept
only as a SHA-256 digest and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from gateway.core.errors import AuthenticationFailed


def presented_key(request: web.Request) -> str | None:
    """The key from `Authorization: Bearer` (OpenAI clients) or `x-api-key` (Anthropic clients)."""
    header = request.headers.get("Authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key") or request.headers.get("api-key")
    return key.strip() if key else None


MISSING_KEY = "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"


class AdminKeyAuth:
    def __init__(self, admin_api_key: str) -> None:
        self._digest = hashlib.sha256(admin_api_key.encode()).digest()

    def matches_digest(self, digest: bytes) -> bool:
        """Whether a presented key's SHA-256 is the admin key's (constant time)."""
        return hmac.compare_digest(digest, self._digest)

    def check(self, request: web.Request) -> None:
        key = presented_key(request)
        if key is None:
            raise AuthenticationFailed(MISSING_KEY)
        if not self.matches_digest(hashlib.sha256(key.encode()).digest()):
            raise AuthenticationFailed("invalid API key")
