"""One cached answer and how it travels (Redis, SQLite): a compact, versioned byte format.

An entry holds the whole response exactly as the client received it (the client's wire format:
the wire is part of every key), what it cost, and, when the request could be answered
semantically, what phase 4 compares: the conversation's keys, the question's text and vectors.
Vectors are float32 bytes here so this module needs no numpy; the index turns them into arrays.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, get_args

import orjson

from gateway.core.cache_key import Wire

FORMAT: Final = 1

CachedRoute = Literal["chat", "completions", "messages", "responses"]


class EntryFormatError(ValueError):
    """Bytes that are not an entry of this format (another version, corruption)."""


@dataclass(frozen=True, slots=True)
class SemanticRecord:
    """What phase 4 needs to judge this entry as a candidate for another request."""

    scope_key: str
    context_key: str
    recent_key: str
    needs_context: bool
    question: str  # the last user turn's text as sent
    context: str  # the earlier turns, normalized and joined by newlines ("" when none)
    question_vector: bytes  # float32, L2-normalised, the embedder's dimension
    context_vector: bytes | None  # same, of `context`; None when there is no context
    embedder: str  # the embedder's name: vectors from another model are never compared


@dataclass(frozen=True, slots=True)
class CacheEntry:
    key: str  # the exact key (phases 1 and 2)
    normalized_key: str  # phase 3
    namespace: str
    model: str  # as the client asked for it
    wire: Wire
    route: CachedRoute
    response: bytes  # the whole JSON body the client got (a stream: assembled)
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float  # what the original answer cost: each hit saves as much
    created_at: float  # unix time
    expires_at: float
    semantic: SemanticRecord | None = None

    def size(self) -> int:
        """Approximate bytes held in memory: what capacity and the stats count."""
        total = len(self.response) + len(self.key) + len(self.normalized_key) + 256
        if self.semantic is not None:
            total += len(self.semantic.question) + len(self.semantic.context)
            total += len(self.semantic.question_vector) + len(self.semantic.context_vector or b"")
        return total

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def with_expiry(self, expires_at: float) -> CacheEntry:
        return replace(self, expires_at=expires_at)


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise EntryFormatError("vector is not base64 text")
    return base64.b64decode(text)


def encode(entry: CacheEntry) -> bytes:
    """The entry as bytes: one orjson document (the response kept as text, vectors base64)."""
    semantic = entry.semantic
    document: dict[str, Any] = {
        "f": FORMAT,
        "k": entry.key,
        "nk": entry.normalized_key,
        "ns": entry.namespace,
        "m": entry.model,
        "w": entry.wire,
        "r": entry.route,
        "body": entry.response.decode("utf-8"),
        "pt": entry.prompt_tokens,
        "ct": entry.completion_tokens,
        "usd": entry.cost_usd,
        "at": entry.created_at,
        "exp": entry.expires_at,
    }
    if semantic is not None:
        document["s"] = {
            "sk": semantic.scope_key,
            "ck": semantic.context_key,
            "rk": semantic.recent_key,
            "nc": semantic.needs_context,
            "q": semantic.question,
            "c": semantic.context,
            "qv": _b64(semantic.question_vector),
            "cv": _b64(semantic.context_vector),
            "e": semantic.embedder,
        }
    return orjson.dumps(document)


def decode(raw: bytes | str) -> CacheEntry:
    """Raises EntryFormatError for anything that is not an entry of this format."""
    try:
        document = orjson.loads(raw)
        if not isinstance(document, dict) or document.get("f") != FORMAT:
            raise EntryFormatError("not a cache entry of format 1")
        s = document.get("s")
        semantic = None
        if s is not None:
            question_vector = _unb64(s["qv"])
            if question_vector is None:
                raise EntryFormatError("semantic record without a question vector")
            semantic = SemanticRecord(
                scope_key=str(s["sk"]),
                context_key=str(s["ck"]),
                recent_key=str(s["rk"]),
                needs_context=bool(s["nc"]),
                question=str(s["q"]),
                context=str(s["c"]),
                question_vector=question_vector,
                context_vector=_unb64(s.get("cv")),
                embedder=str(s["e"]),
            )
        wire = document["w"]
        route = document["r"]
        if wire not in ("openai", "anthropic") or route not in get_args(CachedRoute):
            raise EntryFormatError(f"unknown wire or route: {wire!r} {route!r}")
        return CacheEntry(
            key=str(document["k"]),
            normalized_key=str(document["nk"]),
            namespace=str(document["ns"]),
            model=str(document["m"]),
            wire=wire,
            route=route,
            response=str(document["body"]).encode("utf-8"),
            prompt_tokens=int(document["pt"]),
            completion_tokens=int(document["ct"]),
            cost_usd=float(document["usd"]),
            created_at=float(document["at"]),
            expires_at=float(document["exp"]),
            semantic=semantic,
        )
    except EntryFormatError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise EntryFormatError(f"corrupt cache entry: {exc}") from None
