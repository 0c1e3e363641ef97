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


class AdminKeyAuth:
    def __init__(self, admin_api_key: str) -> None:
        self._digest = hashlib.sha256(admin_api_key.encode()).digest()

    def check(self, request: web.Request) -> None:
        key = presented_key(request)
        if key is None:
            raise AuthenticationFailed(
                "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
            )
        candidate = hashlib.sha256(key.encode()).digest()
        if not hmac.compare_digest(candidate, self._digest):
            raise AuthenticationFailed("invalid API key")
