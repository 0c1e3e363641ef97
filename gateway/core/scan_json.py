"""Redacting spans inside JSON text (tool-call arguments, tool input) so that it stays valid JSON.

A scanner reads tool arguments as their JSON text, so a finding's span may cover quotes, keys or
structure as well as the value it matched. Replacing the span verbatim would break the JSON the
client or the upstream parses. Instead each span is cut down to the parts of it that lie inside
string contents or number tokens:

- inside a string, the covered characters are replaced (a cut that lands inside an escape such as
  `\\n` or `\\u00e9` widens to the whole escape; the replacement is JSON-escaped);
- a number touched by a span is replaced whole by a JSON string (`4111111111111111` becomes
  `"[REDACTED:payment_card]"` or `"****************"`): the type changes, the digits go;
- an object key changes only for a span wholly inside it (a finding in the key itself), never
  for a span that merely runs over it, so keys do not collapse into duplicates;
- quotes, colons, brackets, `true`/`false`/`null` are never changed.

So the result is always valid JSON when the input was. Text that is not valid JSON returns None
and the caller redacts it as plain text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal

import orjson

Replacement = Literal["placeholder", "mask"]
LocalSpan = tuple[int, int, str]  # start, end, finding type; offsets into one piece of text

_TOKENS: Final = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?|-?\d[\d.eE+-]*')
_ESCAPE: Final = re.compile(r"\\u[0-9a-fA-F]{4}|\\.")


def replacement_text(original: str, finding_type: str, mode: Replacement) -> str:
    """`[REDACTED:<type>]`, or as many `*` as the original has characters (same length, so
    offsets after it do not move and the shape of the text stays recognisable)."""
    if mode == "mask":
        return "*" * len(original)
    return f"[REDACTED:{finding_type}]"


def redact_plain(text: str, spans: Sequence[LocalSpan], mode: Replacement) -> str:
    """Replace sorted, non-overlapping spans of plain text."""
    out: list[str] = []
    last = 0
    for start, end, kind in spans:
        out.append(text[last:start])
        out.append(replacement_text(text[start:end], kind, mode))
        last = end
    out.append(text[last:])
    return "".join(out)


def redact_json_text(text: str, spans: Sequence[LocalSpan], mode: Replacement) -> str | None:
    """`text` with the spans replaced inside its string values and numbers; None when `text` is
    not valid JSON (or, defensively, when the result would not be)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    edits: list[tuple[int, int, str]] = []
    for match in _TOKENS.finditer(text):
        is_string = match.group(1) is not None
        lo, hi = (match.start(1), match.end(1)) if is_string else (match.start(), match.end())
        if match.group(2) is not None:  # an object key: only a finding wholly inside it
            cuts = [(a, b, kind) for a, b, kind in spans if lo <= a < b <= hi]
        else:
            cuts = [
                (max(start, lo), min(end, hi), kind)
                for start, end, kind in spans
                if max(start, lo) < min(end, hi)
            ]
        if not cuts:
            continue
        if not is_string:  # a number: the whole token becomes a string
            value = replacement_text(text[lo:hi], cuts[0][2], mode)
            edits.append((lo, hi, orjson.dumps(value).decode()))
            continue
        widened = [(*_widen_to_escapes(text, lo, hi, a, b), kind) for a, b, kind in cuts]
        for a, b, kind in merge_spans(widened):
            value = replacement_text(text[a:b], kind, mode)
            edits.append((a, b, orjson.dumps(value).decode()[1:-1]))
    result = _apply(text, edits)
    try:
        orjson.loads(result)
    except orjson.JSONDecodeError:  # pragma: no cover - the cuts above keep the JSON valid
        return None
    return result


def _widen_to_escapes(text: str, lo: int, hi: int, cut_lo: int, cut_hi: int) -> tuple[int, int]:
    """Move cut points that fall inside an escape sequence out to its ends."""
    for escape in _ESCAPE.finditer(text, lo, hi):
        if escape.start() >= cut_hi:
            break
        if escape.start() < cut_lo < escape.end():
            cut_lo = escape.start()
        if escape.start() < cut_hi < escape.end():
            cut_hi = escape.end()
    return cut_lo, cut_hi


def merge_spans(spans: Sequence[LocalSpan]) -> list[LocalSpan]:
    """Sorted spans with overlapping ones merged; a merged span keeps the type of the span that
    starts first (the longest, on a tie). Touching spans stay apart."""
    merged: list[LocalSpan] = []
    for start, end, kind in sorted(spans, key=lambda span: (span[0], -span[1])):
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            first = merged[-1]
            merged[-1] = (first[0], max(first[1], end), first[2])
        else:
            merged.append((start, end, kind))
    return merged


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply sorted, non-overlapping edits."""
    out: list[str] = []
    last = 0
    for start, end, value in edits:
        out.append(text[last:start])
        out.append(value)
        last = end
    out.append(text[last:])
    return "".join(out)
