"""Deterministic words, token counts and schema-shaped values shared by both wire formats.

Everything here is a pure function of its arguments. A reply is seeded by a 64-byte BLAKE2b digest
of the prompt; the digest's bytes are used directly (no RNG object), which keeps the hot path at a
few microseconds. Digest layout: [0:2] reply tag, [2] natural length, [3:48] words, [48:64] ids.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MODELS",
    "IMAGE_TOKENS",
    "MAX_REPLY_TOKENS",
    "MIN_REPLY_TOKENS",
    "MockRequestError",
    "Reply",
    "StreamFrames",
    "content_tokens",
    "count_tokens",
    "digest",
    "id_hex",
    "json_pieces",
    "json_tokens",
    "positive_int",
    "reply",
    "require_bool",
    "require_model",
    "schema_value",
    "stop_list",
    "sub_digest",
    "tool_answer",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o3-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
)

MIN_REPLY_TOKENS = 8
MAX_REPLY_TOKENS = 48
IMAGE_TOKENS = 85  # what OpenAI bills for a low-detail image; used for any non-text media part
_TAG_PREFIX = ("Mock", " reply")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Parts of speech with power-of-two sizes, so `byte % len` picks without bias.
_DET = _words("the a every this that each one some")
_ADJ = _words(
    """quiet bright gentle distant careful steady simple open early late small large warm cool
    ancient modern golden silver green blue soft clear calm busy slow patient honest curious
    narrow wide heavy plain"""
)
_NOUN = _words(
    """harbor river morning garden window lantern meadow village evening book letter table
    bridge tower market station library kitchen orchard forest mountain valley island coast
    cloud shadow stone paper story question answer idea plan reason moment season journey
    signal pattern promise detail record picture message method result teacher student farmer
    baker painter sailor traveler neighbor friend stranger captain keeper writer reader builder
    compass lamp clock"""
)
_VERB = _words(
    """carries finds builds watches follows remembers answers gathers keeps holds opens closes
    reaches moves shows brings makes takes gives crosses paints reads writes visits passes
    lifts marks counts mends greets guides shares"""
)
_PREP = _words(
    """near beside across through along between around under over behind past toward into from
    with below"""
)
_ADV = _words(
    """quietly slowly softly gladly always often rarely soon already again together clearly
    gently simply carefully today"""
)
_PATTERNS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (_DET, _ADJ, _NOUN, _VERB, _DET, _NOUN, _ADV),
    (_DET, _NOUN, _VERB, _PREP, _DET, _ADJ, _NOUN),
    (_ADV, _DET, _NOUN, _VERB, _DET, _ADJ, _NOUN, _PREP, _DET, _NOUN),
    (_DET, _ADJ, _NOUN, _PREP, _DET, _NOUN, _VERB, _ADV),
)


class MockRequestError(ValueError):
    """A request body a real API would reject with 400; the message says what is wrong."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class Reply:
    """One generated reply: its token pieces and why it ended."""

    tokens: list[str]
    truncated: bool  # stopped by max_tokens
    stop_sequence: str | None  # the stop sequence that ended it, if any

    @property
    def text(self) -> str:
        return "".join(self.tokens)


@dataclass(frozen=True, slots=True)
class StreamFrames:
    """SSE frames; frames[first_token:first_token + token_count] each carry one token.

    The server uses the token span to pace a stream at a given tokens-per-second rate.
    """

    frames: list[bytes]
    first_token: int
    token_count: int


def digest(part: Any) -> bytes:
    """64-byte seed for a prompt: equal prompts (dict key order aside) give equal seeds."""
    try:
        raw = orjson.dumps(part, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits from a stdlib json parse
        raw = repr(part).encode()
    return hashlib.blake2b(raw, digest_size=64).digest()


def sub_digest(seed: bytes, index: int) -> bytes:
    """Seed for the index-th alternative reply (choice n, prompt k) of one request."""
    if index == 0:
        return seed
    return hashlib.blake2b(seed + index.to_bytes(4, "little"), digest_size=64).digest()


def id_hex(seed: bytes, salt: int = 0) -> str:
    """24 hex characters for an object id, optionally varied by salt (e.g. the created time)."""
    if salt:
        return (seed[48:56].hex()) + format(salt & 0xFFFFFFFF, "08x")
    return seed[48:60].hex()


def count_tokens(text: str) -> int:
    """Roughly what BPE tokenizers give: about 4 characters a token, at least one per word."""
    if not text:
        return 0
    return max((len(text) + 3) // 4, text.count(" ") + 1)


def reply(
    seed: bytes, limit: int | None, stop: Sequence[str] = (), *, words_only: bool = False
) -> Reply:
    """Word-per-token English-like text; length min(limit, 8..48 from the seed).

    words_only drops the "Mock reply <tag>:" lead-in and sentence punctuation (for JSON values).
    """
    natural = MIN_REPLY_TOKENS + seed[2] % (MAX_REPLY_TOKENS - MIN_REPLY_TOKENS + 1)
    count = natural if limit is None else min(limit, natural)
    truncated = count < natural
    tokens: list[str] = []
    if not words_only:
        tokens.extend(_TAG_PREFIX[:count])
        if count > 2:
            tokens.append(f" {seed[0]:02x}{seed[1]:02x}:")
    pattern: tuple[tuple[str, ...], ...] = ()
    pos = 0
    i = len(tokens)
    while i < count:
        if pos == len(pattern):
            pattern, pos = _PATTERNS[seed[(i * 5 + 1) % 48] & 3], 0
        kind = pattern[pos]
        word = kind[(seed[3 + i % 45] ^ (i // 45)) & (len(kind) - 1)]
        if pos == 0 and not words_only:
            word = word.capitalize()
        pos += 1
        end = pos == len(pattern) and not words_only
        tokens.append(("" if i == 0 else " ") + word + ("." if end else ""))
        i += 1
    if not truncated and not words_only and not tokens[-1].endswith("."):
        tokens[-1] = tokens[-1].rstrip(":") + "."
    if stop:
        return _apply_stop(tokens, truncated, stop)
    return Reply(tokens, truncated, None)


_RESULT_WORDS = 12
_RESULT_CHARS = 80


def tool_answer(
    seed: bytes, tool: str | None, result: str, limit: int | None, stop: Sequence[str] = ()
) -> Reply:
    """The text answer to a tool result: "Mock reply <tag>: the NAME tool returned <excerpt>."

    The excerpt is the result's first words (at most 12 words and 80 characters), so the answer
    stays short whatever the tool returned; one token per word, like `reply`.
    """
    words = result.split()
    excerpt = " ".join(words[:_RESULT_WORDS])
    if len(excerpt) > _RESULT_CHARS:
        excerpt = excerpt[: _RESULT_CHARS - 3].rstrip() + "..."
    elif len(words) > _RESULT_WORDS:
        excerpt += " ..."
    subject = f"the {tool} tool" if tool else "the tool"
    excerpt = excerpt or "nothing"
    end = "" if excerpt.endswith((".", "!", "?")) else "."
    sentence = f"Mock reply {seed[0]:02x}{seed[1]:02x}: {subject} returned {excerpt}{end}"
    tokens = [("" if i == 0 else " ") + w for i, w in enumerate(sentence.split(" "))]
    truncated = limit is not None and limit < len(tokens)
    if truncated:
        tokens = tokens[:limit]
    if stop:
        return _apply_stop(tokens, truncated, stop)
    return Reply(tokens, truncated, None)


def _apply_stop(tokens: list[str], truncated: bool, stop: Sequence[str]) -> Reply:
    text = "".join(tokens)
    best: tuple[int, str] | None = None
    for seq in stop:
        if seq:
            at = text.find(seq)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, seq)
    if best is None:
        return Reply(tokens, truncated, None)
    cut, seq = best
    kept: list[str] = []
    pos = 0
    for tok in tokens:
        if pos + len(tok) <= cut:
            kept.append(tok)
            pos += len(tok)
            continue
        if cut > pos:
            kept.append(tok[: cut - pos])
        break
    return Reply(kept, False, seq)


def json_pieces(value: dict[str, Any]) -> list[tuple[str, int]]:
    """A JSON object's text in ~4-character token pieces.

    Each piece carries how many top-level members are complete once it has been emitted, so a
    reply cut by max_tokens can report the object that was fully written.
    """
    pieces: list[tuple[str, int]] = [("{", 0)]
    for done, (key, val) in enumerate(value.items(), start=1):
        member = ("" if done == 1 else ", ") + orjson.dumps(key).decode() + ": "
        member += orjson.dumps(val).decode()
        for start in range(0, len(member), 4):
            complete = done if start + 4 >= len(member) else done - 1
            pieces.append((member[start : start + 4], complete))
    last_done = pieces[-1][1]
    pieces.append(("}", last_done))
    return pieces


def schema_value(schema: Any, seed: bytes, root: Any = None, depth: int = 0) -> Any:
    """A value that fits a JSON schema: required strings get a word, numbers a small integer,
    booleans true, enums their first value. Objects get their required properties (all of them
    when none is required). Local $refs (#/$defs/..., #/definitions/...) are followed.
    """
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > 8:
        return _word(seed, depth)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return schema_value(_resolve_ref(root, ref), seed, root, depth + 1)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema:
        return schema["const"]
    option = _first_option(schema)
    if option is not None:
        return schema_value(option, seed, root, depth + 1)
    return _typed_value(_schema_type(schema), schema, seed, root, depth)


def _first_option(schema: dict[str, Any]) -> Any:
    """The first non-null alternative of anyOf/oneOf/allOf, if the schema has them."""
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return next(
                (o for o in options if not (isinstance(o, dict) and o.get("type") == "null")),
                options[0],
            )
    return None


def _typed_value(
    kind: str | None, schema: dict[str, Any], seed: bytes, root: Any, depth: int
) -> Any:
    if kind == "object":
        return _object_value(schema, seed, root, depth)
    if kind == "array":
        count = max(1, _int(schema.get("minItems"), 1))
        return [schema_value(schema.get("items"), seed, root, depth + 1 + i) for i in range(count)]
    if kind in ("integer", "number"):
        return _small_int(schema, seed, depth)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _word(seed, depth)


def _object_value(schema: dict[str, Any], seed: bytes, root: Any, depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    required = schema.get("required")
    names: Iterable[str] = (
        [r for r in required if isinstance(r, str) and r in props]
        if isinstance(required, list) and required
        else list(props)
    )
    return {
        name: schema_value(props[name], seed, root, depth + 1 + i) for i, name in enumerate(names)
    }


def _schema_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _resolve_ref(root: Any, ref: str) -> Any:
    if not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def _small_int(schema: dict[str, Any], seed: bytes, depth: int) -> int:
    low = _int(schema.get("minimum"), 1)
    high = _int(schema.get("maximum"), low + 9)
    if high < low:
        return low
    return low + seed[(40 + depth) % 48] % (high - low + 1)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return math.ceil(value)


def _word(seed: bytes, depth: int) -> str:
    return _NOUN[seed[(20 + depth) % 48] & 63]


def content_tokens(content: Any) -> int:
    """Tokens of a message's content in either wire format (string, or a list of parts/blocks)."""
    if isinstance(content, str):
        return count_tokens(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        if isinstance(part, str):
            total += count_tokens(part)
            continue
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            total += count_tokens(text)
            continue
        kind = part.get("type")
        if kind == "tool_use":
            total += count_tokens(str(part.get("name", ""))) + json_tokens(part.get("input"))
        elif kind == "tool_result":
            total += content_tokens(part.get("content"))
        elif kind == "thinking":
            total += count_tokens(str(part.get("thinking", "")))
        else:  # images, audio, documents, files
            total += IMAGE_TOKENS
    return total


def json_tokens(value: Any) -> int:
    """Tokens of a JSON value as sent (tool definitions, tool inputs)."""
    if value is None:
        return 0
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        size = len(repr(value))
    return (size + 3) // 4


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise MockRequestError("you must provide a model parameter", param="model")
    return model


def positive_int(body: dict[str, Any], name: str, *, upper: int | None = None) -> int | None:
    """An optional integer field that must be >= 1 (and <= upper) when present."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MockRequestError(f"{name} must be an integer >= 1, got {value!r}", param=name)
    if upper is not None and value > upper:
        raise MockRequestError(f"{name} must be <= {upper}, got {value}", param=name)
    return value


def stop_list(value: Any, name: str, *, allow_str: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if allow_str and isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    kind = "a string or a list of strings" if allow_str else "a list of strings"
    raise MockRequestError(f"{name} must be {kind}", param=name)


def require_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MockRequestError(f"{name} must be a boolean, got {value!r}", param=name)
    return value
