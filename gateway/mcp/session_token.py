"""Handshake-era `Mcp-Session-Id`s that any replica can check without shared state.

A session id is an HMAC-signed token naming the negotiated protocol version, bound to the key
that opened it and to the endpoint (one server, or the aggregate): presented with another key or
at another endpoint it is unknown (404, as the SDK answers for a session that is not its own).
The signing key is derived from ADMIN_API_KEY, which every replica of one deployment shares.
DELETE ends a session on the replica that receives it (a bounded set of ended ids); the gateway
keeps no other per-session state, so an ended id presented elsewhere still works until that
replica restarts or sees the DELETE itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable

PREFIX = "sfs1"
MAC_BYTES = 16
MAX_ENDED = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_secret(admin_api_key: str | None) -> bytes:
    """The signing key: from the admin key (shared by every replica), else per process."""
    if admin_api_key is None:
        return os.urandom(32)
    return hashlib.sha256(b"smartflow-mcp-session\x00" + admin_api_key.encode()).digest()


class SessionTokens:
    def __init__(
        self,
        secret: bytes,
        *,
        clock: Callable[[], float] = time.time,
        max_ended: int = MAX_ENDED,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._max_ended = max_ended
        self._ended: OrderedDict[str, None] = OrderedDict()

    def _mac(self, payload: str, scope: str, key_id: str | None) -> str:
        message = f"{payload}\x00{scope}\x00{key_id or '-'}".encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest()[:MAC_BYTES])

    def mint(self, *, scope: str, key_id: str | None, version: str) -> str:
        payload = _b64(f"{version}|{int(self._clock())}|{os.urandom(6).hex()}".encode())
        return f"{PREFIX}.{payload}.{self._mac(payload, scope, key_id)}"

    def verify(self, token: str, *, scope: str, key_id: str | None) -> str | None:
        """The session's protocol version, or None when the token is not one of ours for this
        key and endpoint, or was ended."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX or token in self._ended:
            return None
        payload, mac = parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(payload, scope, key_id)):
            return None
        try:
            version, _, _ = _unb64(payload).decode().split("|")
        except (ValueError, UnicodeDecodeError):
            return None
        return version

    def end(self, token: str) -> None:
        self._ended[token] = None
        while len(self._ended) > self._max_ended:
            self._ended.popitem(last=False)
