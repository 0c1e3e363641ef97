"""Cache keys: the canonical hash of everything that changes an answer.

Request bodies (OpenAI chat/completions and legacy completions, Anthropic messages) become one
canonical JSON document, hashed with sha256. The document is built by a deny-list: every field of
the body is part of the key except the ones known not to change the answer (`IGNORED_FIELDS`:
delivery, attribution and provider prompt-cache hints). A parameter this module has never heard
of is therefore in the key: a new field can split the cache (a miss), never merge two requests
that deserve different answers (a wrong hit).

Canonical means two spellings of one request get one key:
- JSON with sorted keys at every depth and no whitespace (orjson, a runtime dependency, which
  writes a float as its shortest round-trip digits, like `repr`: `0.7` and `0.70` parse to one
  float and print alike on every platform and Python version);
- numbers by value at the top level and one level down (`temperature: 1` = `1.0`, `logit_bias`,
  `thinking.budget_tokens`); deeper, in a tool's JSON schema, they are taken as sent (a miss at
  worst);
- `null` is the same as absent (top level, messages, content parts); `n: 1` is the default;
- message content: one text part is the plain string (`"hi"` = `[{"type": "text", "text":
  "hi"}]`), empty text parts are dropped, OpenAI's bare-string `image_url` is the object form;
- Anthropic `cache_control` markers (prompt caching) are dropped from system, messages, tools;
- `stop` / `stop_sequences` as a sorted set (a string is a list of one);
- `max_completion_tokens` and `max_tokens` are one parameter (when only one is given);
- tool call ids are renumbered in order of appearance (`t0`, `t1`, ...): providers mint them at
  random, so two identical conversations would otherwise never share a key; the call and its
  result still pair up.

The namespace, the wire (`openai` or `anthropic`: the stored response's shape differs) and a
format version are part of every key, so nothing is ever shared across tenants or formats.

`normalized_key` is phase 3: the same document with the text of system, user and assistant
messages passed through `normalize_text` (Unicode NFKC, case folded, whitespace collapsed,
sentence punctuation trimmed at both ends). Tool results and tool call arguments stay exact: they
are data, where case can matter. NFKC and case folding follow the running Python's Unicode
tables, so a normalized key may change for rare new characters across Python versions; exact keys
do not.

`split_conversation` serves phase 4 (semantic). It separates what must agree exactly (the
`scope_key`: namespace, model, every parameter, tools, the system prompt, the last turn's
attachments) from the conversation (`context_key`, `recent_key`, `context_turns`) and the
question (`last_turn_text`). The caller decides how strictly contexts must match; `needs_context`
says whether the last turn leans on earlier turns ("Yes, cancel it", "what about Rome?"): when it
does not, a context of irrelevant chatter may be ignored; when it does, at least the recent
exchange must agree.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

Wire = Literal["openai", "anthropic"]
KEY_VERSION: Final = 1

IGNORED_FIELDS: Final = frozenset(
    {
        "stream",  # a streamed request replays a stored answer as SSE
        "stream_options",
        "user",  # attribution, not content
        "safety_identifier",
        "metadata",
        "store",  # OpenAI's own storage of the completion
        "service_tier",  # latency and price, not the answer
        "prompt_cache_key",  # provider prompt-cache hints
        "prompt_cache_retention",
        "cache",  # cache controls some clients send in the body (LiteLLM's `cache: {...}`)
    }
)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_TEXT_ROLES: Final = frozenset({"system", "developer", "user", "assistant"})
_SYSTEM_ROLES: Final = frozenset({"system", "developer"})
_TRIM: Final = ".,!?;:\u2026\u00bf\u00a1\"'`\u00ab\u00bb\u201c\u201d\u2018\u2019\u201e "
_SPACE: Final = re.compile(r"\s+")
_INVISIBLE: Final = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_ANAPHORA: Final = _wordset(
    "it its itself that this these those they them their theirs he him his she her hers there "
    "such same above previous former latter else again instead ones"
)
_OPENERS: Final = _wordset(
    "yes yeah yep no nope ok okay sure please thanks and but or so also then"
)
_COPULA: Final = _wordset("is are was were be")
_IT_EXPLETIVE: Final = _wordset(  # "is it possible to ...": not a reference to a turn
    "possible necessary safe ok okay true better worth hard easy normal legal free bad good "
    "wise advisable required allowed important common likely raining snowing"
)
_CONTRACTIONS: Final = {"s": "is", "re": "are", "ll": "will", "ve": "have", "d": "would", "m": "am"}
_ONE_AFTER: Final = _wordset("the this that which other another same first last next new")
_TEXT_PART: Final = frozenset({"type", "text"})
_PLAIN_MESSAGE: Final = frozenset({"role", "content", "name"})
_SHORT_TURN: Final = 3  # words: "Why?", "Cancel it", "Same for Rome"


def canonical_json(value: Any) -> bytes:
    """Sorted keys at every depth, no whitespace, UTF-8: the same bytes for the same value.

    orjson (shortest round-trip floats, as `repr`); a value it refuses (a lone surrogate, a
    non-JSON type) is written by the standard library instead, ASCII-escaped.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(_deep(value), sort_keys=True, separators=(",", ":"), default=repr)
        return b"\x00" + text.encode("ascii")  # never equal to an orjson document


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _deep(value: Any) -> Any:
    """Dicts and lists at every depth, numbers by value (for `extra` and the fallback)."""
    if isinstance(value, Mapping):
        return {str(key): _deep(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(item) for item in value]
    return _num(value)


def _num(value: Any) -> Any:
    """A number by value: `1.0` is `1`; NaN and infinities (which JSON cannot carry) as text."""
    if type(value) is float:
        if value.is_integer():
            return int(value)
        if not math.isfinite(value):
            return repr(value)
    return value


def normalize_text(text: str) -> str:
    """NFKC, invisible characters removed, case folded, whitespace collapsed, ends trimmed."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return _SPACE.sub(" ", text).strip(_TRIM)


# ---------------------------------------------------------------- canonical bodies

TextFn = Callable[[str], str]


class _Ids:
    """Tool call ids renumbered in order of first appearance."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return self._seen.setdefault(value, f"t{len(self._seen)}")


def _same(text: str) -> str:
    return text


def _kept(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without nulls and prompt-caching markers."""
    return {k: v for k, v in mapping.items() if v is not None and k != "cache_control"}


def _part(part: Any, ids: _Ids, text: TextFn) -> Any:
    """One content part or block, canonical; None when it carries nothing (empty text)."""
    if isinstance(part, str):
        return {"type": "text", "text": text(part)} if part else None
    if not isinstance(part, Mapping):
        return part
    out = _kept(part)
    kind = out.get("type")
    if kind == "text" and isinstance(out.get("text"), str):
        if not out["text"]:
            return None
        out["text"] = text(out["text"])
    elif kind == "image_url" and isinstance(out.get("image_url"), str):
        out["image_url"] = {"url": out["image_url"]}
    elif kind == "tool_use" and "id" in out:
        out["id"] = ids(out["id"])
    elif kind == "tool_result":
        if "tool_use_id" in out:
            out["tool_use_id"] = ids(out["tool_use_id"])
        if "content" in out:  # data: kept exact even in the normalized key
            out["content"] = _content(out["content"], ids, _same)
    return out


def _content(content: Any, ids: _Ids, text: TextFn) -> Any:
    """Message content: one text as a string (either spelling), else a list of parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return text(content) if content else []
    if not isinstance(content, list):
        return content
    parts = [p for p in (_part(item, ids, text) for item in content) if p is not None]
    if len(parts) == 1 and isinstance(parts[0], dict) and parts[0].keys() == _TEXT_PART:
        return parts[0]["text"]
    return parts


def _tool_calls(calls: Any, ids: _Ids) -> Any:
    if not isinstance(calls, list):
        return calls
    out = []
    for call in calls:
        if not isinstance(call, Mapping):
            out.append(call)
            continue
        kept = _kept(call)
        if "id" in kept:
            kept["id"] = ids(kept["id"])
        out.append(kept)
    return out


def _message(message: Any, ids: _Ids, text: TextFn) -> Any:
    if not isinstance(message, Mapping):
        return message
    content = message.get("content")
    plain = message.keys() <= _PLAIN_MESSAGE and message.get("name", "") is not None
    if text is _same and type(content) is str and content and plain:
        return message  # the common case, already canonical
    out = _kept(message)
    chosen = text if message.get("role") in _TEXT_ROLES else _same
    out["content"] = _content(content, ids, chosen)
    if "tool_calls" in out:
        out["tool_calls"] = _tool_calls(out["tool_calls"], ids)
    if "tool_call_id" in out:
        out["tool_call_id"] = ids(out["tool_call_id"])
    return out


def _stops(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and all(isinstance(item, str) for item in items):
        return sorted(set(items))
    return value


def _tools(tools: Any) -> Any:
    if not isinstance(tools, list):
        return tools
    return [_kept(tool) if isinstance(tool, Mapping) else tool for tool in tools]


def _params(
    body: Mapping[str, Any], conversation: tuple[str, ...] = ("messages", "system")
) -> dict[str, Any]:
    """Every answer-changing field but the conversation, canonical.

    Numbers are compared by value at the top level and one level down (`temperature`,
    `logit_bias`, `thinking.budget_tokens`); deeper (a tool's JSON schema) they are taken as sent.
    """
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None or key in IGNORED_FIELDS or key in conversation:
            continue
        if isinstance(value, Mapping):
            out[key] = {k: _num(v) for k, v in value.items()}
        else:
            out[key] = _num(value)
    if out.get("n") == 1:
        del out["n"]
    if "max_completion_tokens" in out and "max_tokens" not in out:
        out["max_tokens"] = out.pop("max_completion_tokens")
    for name in ("stop", "stop_sequences"):
        if name in out:
            out[name] = _stops(out[name])
    if "tools" in out:
        out["tools"] = _tools(out["tools"])
    return out


def _document(
    body: Mapping[str, Any], wire: Wire, namespace: str, extra: Any, *, text: TextFn, norm: bool
) -> dict[str, Any]:
    ids = _Ids()
    document = _params(body)
    if body.get("system") is not None:
        document["system"] = _content(body["system"], ids, text)
    if norm and isinstance(body.get("prompt"), str):  # legacy completions: the prompt is text
        document["prompt"] = text(body["prompt"])
    messages = body.get("messages")
    if isinstance(messages, list):
        document["messages"] = [_message(message, ids, text) for message in messages]
    elif messages is not None:
        document["messages"] = messages
    return {
        "v": KEY_VERSION,
        "ns": namespace,
        "wire": wire,
        "norm": norm,
        "extra": _deep(extra),
        "body": document,
    }


def exact_key(body: Mapping[str, Any], *, wire: Wire, namespace: str, extra: Any = None) -> str:
    """Phase 1 and 2: sha256 hex of the canonical request; `extra` is anything else that changes
    the answer (a route, an `anthropic-beta` header), canonicalised the same way."""
    return _digest(_document(body, wire, namespace, extra, text=_same, norm=False))


def normalized_key(
    body: Mapping[str, Any], *, wire: Wire, namespace: str, extra: Any = None
) -> str:
    """Phase 3: as `exact_key`, with message texts normalized (`normalize_text`)."""
    return _digest(_document(body, wire, namespace, extra, text=normalize_text, norm=True))


@dataclass(frozen=True, slots=True)
class RequestKeys:
    exact: str
    normalized: str


def request_keys(
    body: Mapping[str, Any], *, wire: Wire, namespace: str, extra: Any = None
) -> RequestKeys:
    """Both exact keys of one request."""
    return RequestKeys(
        exact_key(body, wire=wire, namespace=namespace, extra=extra),
        normalized_key(body, wire=wire, namespace=namespace, extra=extra),
    )


# ---------------------------------------------------------------- conversation split


@dataclass(frozen=True, slots=True)
class ConversationSplit:
    """A request seen by the semantic phase.

    scope_key: namespace, wire, model, every parameter, tools, the system prompt (normalized) and
        the non-text parts of the last user turn (an image): equal for any semantic hit.
    context_key: scope_key plus every turn before the last user turn, normalized: the strict test.
    recent_key: scope_key plus the last exchange before the last user turn (from the previous
        user turn on): enough context for "Yes, cancel it" even after older, irrelevant chatter.
    context_turns: those earlier turns as normalized texts, oldest first (tool calls and results
        rendered in brackets), for comparing contexts by embedding.
    last_turn_text: the last user turn's text as sent (parts joined by newlines): what is embedded
        and what the guard reads (it needs the original case).
    needs_context: the last turn leans on earlier turns (a pronoun, a yes/no reply, a very short
        turn, an opener such as "and" or "what about"); False when there is no earlier turn.
    semantic_ok: the request ends with a user turn that has text and no tool results; when False
        (a tool result, an assistant prefill, no text) the semantic phase must not answer it.
    """

    scope_key: str
    context_key: str
    recent_key: str
    context_turns: tuple[str, ...]
    last_turn_text: str
    needs_context: bool
    semantic_ok: bool


def _as_parts(content: Any) -> list[dict[str, Any]]:
    """Canonical content as a list of parts (a string is one text part)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [part for part in content if isinstance(part, dict)] if isinstance(content, list) else []


@dataclass(frozen=True, slots=True)
class _Turn:
    canonical: dict[str, Any]  # texts normalized
    parts: list[dict[str, Any]]
    sent: Mapping[str, Any]

    @property
    def role(self) -> Any:
        return self.canonical.get("role")


def _turns(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[_Turn]]:
    """(system parts, the other messages), canonical with normalized texts."""
    ids = _Ids()
    system = _as_parts(_content(body.get("system"), ids, normalize_text))
    raw = body.get("messages")
    if raw is None and isinstance(body.get("prompt"), str):  # legacy completions: one user turn
        raw = [{"role": "user", "content": body["prompt"]}]
    turns: list[_Turn] = []
    for message in raw if isinstance(raw, list) else []:
        if not isinstance(message, Mapping):
            continue
        canonical = _message(message, ids, normalize_text)
        parts = _as_parts(canonical["content"])
        if canonical.get("role") in _SYSTEM_ROLES:
            system.extend(parts)
        else:
            turns.append(_Turn(canonical, parts, message))
    return system, turns


def _render(turn: _Turn) -> str:
    """A turn as one normalized text: tool calls and results in brackets, attachments by kind."""
    pieces = []
    if turn.role == "tool":  # an OpenAI tool result
        return normalize_text("[result " + " ".join(str(p.get("text")) for p in turn.parts) + "]")
    for part in turn.parts:
        kind = part.get("type")
        if kind == "text":
            pieces.append(str(part.get("text")))
        elif kind == "tool_result":
            inner = [str(p.get("text")) for p in _as_parts(part.get("content")) if "text" in p]
            pieces.append("[result " + " ".join(inner) + "]")
        else:
            pieces.append(f"[{kind}]")
    for call in turn.canonical.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        pieces.append(f"[call {name}]")
    return normalize_text(" ".join(pieces))


def _raw_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [p if isinstance(p, str) else p.get("text") for p in content if _is_text(p)]
    return "\n".join(t for t in texts if isinstance(t, str) and t)


def _is_text(part: Any) -> bool:
    return isinstance(part, str) or (isinstance(part, Mapping) and part.get("type") == "text")


def _words(text: str) -> list[str]:
    """Lower-case words with contractions expanded ("there's" -> "there is")."""
    words: list[str] = []
    for word in _WORD.findall(normalize_text(text).replace("\u2019", "'")):
        if word.endswith("n't"):
            words += [word[:-3], "not"]
        elif "'" in word:
            base, _, suffix = word.partition("'")
            words += [base, _CONTRACTIONS.get(suffix, suffix)]
        else:
            words.append(word)
    return words


def _expletive(words: list[str], i: int) -> bool:
    """ "is there a way", "there are", "is it possible", "it is safe": no reference to a turn."""
    if words[i] == "there":
        return any(w in _COPULA for w in words[max(i - 1, 0) : i + 2] if w != "there")
    if words[i] == "it":
        after = [w for w in words[i + 1 : i + 3] if w not in _COPULA][:1]
        return bool(after) and after[0] in _IT_EXPLETIVE
    return False


def _needs_context(text: str) -> bool:
    words = _words(text)
    if len(words) <= _SHORT_TURN or words[0] in _OPENERS:
        return True
    if words[0] in ("what", "how") and words[1] == "about":
        return True
    for i, word in enumerate(words):
        if word == "one" and i and words[i - 1] in _ONE_AFTER:
            return True
        if word not in _ANAPHORA or _expletive(words, i):
            continue
        return True
    return False


def split_conversation(
    body: Mapping[str, Any], *, wire: Wire, namespace: str, extra: Any = None
) -> ConversationSplit:
    """The request cut into scope, context and last user turn for the semantic phase."""
    system, turns = _turns(body)
    last = max((i for i, turn in enumerate(turns) if turn.role == "user"), default=-1)
    parts = turns[last].parts if last >= 0 else []
    last_text = _raw_text(turns[last].sent) if last >= 0 else ""
    has_results = any(part.get("type") == "tool_result" for part in parts)
    scope = _digest(
        {
            "v": KEY_VERSION,
            "ns": namespace,
            "wire": wire,
            "extra": _deep(extra),
            "params": _params(body, conversation=("messages", "system", "prompt")),
            "system": system,
            "attachments": [part for part in parts if part.get("type") != "text"],
        }
    )
    earlier = turns[: max(last, 0)]
    context = [turn.canonical for turn in earlier]
    previous_user = max((i for i, turn in enumerate(earlier) if turn.role == "user"), default=0)
    recent = context[previous_user:]
    return ConversationSplit(
        scope_key=scope,
        context_key=_digest({"scope": scope, "turns": context}),
        recent_key=_digest({"scope": scope, "turns": recent}),
        context_turns=tuple(_render(turn) for turn in earlier),
        last_turn_text=last_text,
        needs_context=bool(context) and _needs_context(last_text),
        semantic_ok=last == len(turns) - 1 and not has_results and bool(last_text.strip()),
    )
