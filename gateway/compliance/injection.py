"""Prompt-injection and jailbreak heuristics: cheap, explainable rules, no model.

Why heuristics: a classifier costs milliseconds per prompt and cannot say *why* it fired; these
rules take 0.1 to 0.3 ms on a 2 kB prompt (`benchmarks/bench_compliance.py`) and every finding
names the rule and the span, so an operator can audit a verdict and a policy can act on the kind
of attack (`jailbreak` vs `invisible_unicode`). What they look for:

- instruction overrides ("ignore all previous instructions", "your new instructions are ...");
- role play / DAN-style jailbreaks ("you are DAN", "developer mode", "no restrictions");
- system-prompt extraction ("repeat the text above", "print your system prompt");
- encoded payloads: base64, hex and rot13 text that *decodes* to one of the phrases above;
- invisible Unicode: the tags block (U+E0000..U+E007F, "ASCII smuggling"), zero-width
  characters splitting Latin words, bidi override controls ("Trojan Source");
- homoglyphs: Cyrillic or Greek look-alike letters inside a Latin word ("paypal" spelt with a
  Cyrillic a).

Text that merely *talks about* an attack ("what does 'ignore previous instructions' do?")
still matches the phrase, but when the phrase is quoted and the text reads like a discussion of
security the finding's confidence drops below `FLAG_CONFIDENCE`: it is reported, and a policy
can choose to act only on confident findings. A user correcting their own earlier request
("ignore my previous instructions") is not an override and does not match.

The phrase rules themselves (the regexes and the word gates that keep them cheap) live in
`injection_rules`; this module runs them, decodes payloads and reads the Unicode tricks.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator

from gateway.compliance.findings import Finding
from gateway.compliance.injection_rules import (
    PHRASES,
    PhraseRule,
    StartIndex,
    contains_phrase,
    lower_words,
    lowered,
)

FLAG_CONFIDENCE = 0.5
"""Findings at or above this confidence are the ones a policy should treat as an attack."""

INJECTION_TYPES = (
    "prompt_injection",
    "jailbreak",
    "prompt_extraction",
    "encoded_payload",
    "invisible_unicode",
    "homoglyph",
)

_DISCUSSED_CONFIDENCE = 0.35
_MIN_DECODED_LETTERS = 8


_DISCUSSION = re.compile(
    r"\b(?:attacks?|attackers?|examples?|injections?|detect\w*|phrases?|mean(?:s|ing)?|explain\w*|"
    r"classif\w+|filters?|defen[cs]e|defend\w*|prevent\w*|mitigat\w+|red[- ]team\w*|"
    r"jailbreaks?|payloads?|security|research\w*|paper|blocklist|guardrails?)\b",
    re.IGNORECASE,
)
_QUOTES_OPEN = "\"'`\u201c\u2018\u00ab"
_QUOTES_CLOSE = "\"'`\u201d\u2019\u00bb"

# Encoded blobs: a run of base64 (or base64url) characters in one whitespace-free token (hex
# digits are a subset: an even-length all-hex run is tried as hex), and spaced hex bytes.
_MIN_BLOB = 24
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX_ONLY = re.compile(r"[0-9A-Fa-f]+")
_BLOB_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_BLOB_MARKS = bytes(ord("a") if c in _BLOB_CHARS else ord(" ") for c in range(256))
_BLOB_RUN = b"a" * _MIN_BLOB
_SPACED_HEX = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]){11,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
)
_ESCAPED_HEX = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){8,}")
# Every rule's first trigger group, rot13-encoded, in one set: a text with none of these words
# opens no rule's rot13 gate (one set operation instead of a gate per rule).
_ROT13_FIRST_TRIGGERS = frozenset().union(*(rule.rot13_triggers[0] for rule in PHRASES))
_ROT13_HINT = re.compile(r"\brot-?13\b", re.IGNORECASE)

_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_ZERO_WIDTH_IN_WORD = re.compile(
    "(?<=[A-Za-z0-9])[\u200b\u200c\u200d\u2060\u180e\ufeff]+(?=[A-Za-z0-9])"
)
_ZERO_WIDTH_RUN = re.compile("[\u200b\u200c\u200d\u2060\u180e\ufeff]{3,}")
_BIDI_OVERRIDE = re.compile("[\u202d\u202e]")
_BIDI_OTHER = re.compile("[\u202a-\u202c\u2066-\u2069]")

# Cyrillic and Greek letters that render like Latin ones (the usual spoofing set).
_CONFUSABLE = frozenset(
    # Cyrillic lower case: a e o p c y x i j s d h q w palochka
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u04bb\u051b\u051d\u04cf"
    # Cyrillic upper case: A B E K M H O P C T X I J S
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0406\u0408\u0405"
    # Greek lower case: alpha epsilon iota kappa nu omicron rho tau upsilon chi
    "\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7"
    # Greek upper case: A B E H I K M N O P T Y X Z
    "\u0391\u0392\u0395\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7\u0396"
)
_WORD = re.compile(r"[^\W\d_]{3,}")
# Any character the invisible-Unicode or homoglyph rules look for: most non-ASCII text (curly
# quotes, accents, emoji) has none, and one search settles that.
_ANY_INVISIBLE = re.compile(
    "[\U000e0000-\U000e007f\u200b\u200c\u200d\u2060\u180e\ufeff\u202a-\u202e\u2066-\u2069]"
)
_ANY_CONFUSABLE = re.compile("[" + "".join(sorted(_CONFUSABLE)) + "]")
_ANY_UNUSUAL = re.compile(_ANY_INVISIBLE.pattern[:-1] + _ANY_CONFUSABLE.pattern[1:])
# The blocks those characters are in, as a few ranges: `re` tests a character against a few
# ranges faster than against a set of seventy, and most text has none (a curly quote, an em
# dash, an emoji fall outside them).
_NEAR_UNUSUAL = re.compile(
    "[\u0391-\u03c9\u0400-\u052f\u180e\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069"
    "\ufeff\U000e0000-\U000e007f]"
)


def scan_injection(text: str) -> list[Finding]:
    """All injection findings in `text`, ordered by position.

    One finding per rule match; the same span can carry findings of different rules (an
    encoded payload and the tags block, say). Confidence below `FLAG_CONFIDENCE` means
    "quoted in what reads like a discussion of the attack".
    """
    findings: list[Finding] = []
    low, raw = lowered(text)
    words = lower_words(low, raw)
    findings.extend(_phrase_findings(text, words, low, raw))
    findings.extend(_encoded_findings(text, words))
    if not text.isascii() and _NEAR_UNUSUAL.search(text) and _ANY_UNUSUAL.search(text):
        findings.extend(_invisible_findings(text))
        findings.extend(_homoglyph_findings(text))
    findings.sort(key=lambda f: (f.start, f.end, f.rule))
    return findings


def _phrase_matches(
    text: str,
    words: frozenset[str],
    *,
    rot13: bool = False,
    low: str | None = None,
    raw: bytes | None = None,
) -> Iterator[tuple[PhraseRule, re.Match[str]]]:
    """Every rule whose gate opens, at the start words `text` has (`words`: the plain text's)."""
    index: StartIndex | None = None
    for rule in PHRASES:
        if rule.may_match(words, rot13=rot13):
            index = index or StartIndex(text, words, rot13=rot13, low=low, raw=raw)
            for match in rule.matches(index):
                yield rule, match


def _phrase_findings(
    text: str, words: frozenset[str], low: str, raw: bytes | None = None
) -> Iterator[Finding]:
    discussed: bool | None = None  # looked up on the first quoted match only
    for rule, match in _phrase_matches(text, words, low=low, raw=raw):
        confidence = rule.confidence
        if _quoted(text, match.start(), match.end()):
            if discussed is None:
                discussed = _DISCUSSION.search(text) is not None
            if discussed:
                confidence = _DISCUSSED_CONFIDENCE
        yield Finding(rule.type, match.start(), match.end(), confidence, rule.name, "injection")


def _quoted(text: str, start: int, end: int) -> bool:
    """The match sits inside quotation marks (a mention, not a use)."""
    before = text[max(0, start - 12) : start]
    after = text[end : end + 40]
    return any(q in before for q in _QUOTES_OPEN) and any(q in after for q in _QUOTES_CLOSE)


def _encoded_findings(text: str, words: frozenset[str]) -> Iterator[Finding]:
    """Blobs that decode to an instruction phrase: the decoding is what makes them suspect."""
    yield from _blob_findings(text)
    # Hex-encoded text has a "20" byte between its words: no "20" byte, no spaced-hex phrase.
    if text.count(" 20 ") + text.count(":20:") >= 2:
        for match in _SPACED_HEX.finditer(text):
            if contains_phrase(_decode_hex(re.sub(r"[ :]", "", match.group())) or ""):
                yield _encoded(match.span(), "encoded.hex")
    if "\\x" in text:
        for match in _ESCAPED_HEX.finditer(text):
            if contains_phrase(_decode_hex(match.group().replace("\\x", "")) or ""):
                yield _encoded(match.span(), "encoded.hex_escaped")
    if words.isdisjoint(_ROT13_FIRST_TRIGGERS) or not any(
        rule.may_match(words, rot13=True) for rule in PHRASES
    ):
        return
    rot13 = codecs.encode(text, "rot13")
    for rule, match in _phrase_matches(rot13, words, rot13=True):
        # A phrase that is there in plain text too is the phrase rule's, not rot13's.
        if rule.pattern.search(text, match.start(), match.end()) is None:
            hinted = _ROT13_HINT.search(text) is not None
            yield _encoded(match.span(), "encoded.rot13", 0.95 if hinted else 0.85)


def _blob_findings(text: str) -> Iterator[Finding]:
    """Base64 and hex runs long enough to hold a phrase: the maximal runs of blob characters."""
    # Most prose has no run of _MIN_BLOB blob characters: as bytes, every blob character made
    # `a` and every other one a space, that is one substring search (the blob characters are
    # ASCII; `encode` turns any other character into `?`). Far cheaper than splitting the text.
    # A blob is a maximal run of blob characters (and its `=` padding), so each one starts
    # where the marks have such a run: `_BLOB` is matched there only (the same matches as
    # `finditer` over each whitespace-free token, whose runs they are).
    marked = text.encode("ascii", "replace").translate(_BLOB_MARKS)
    at = marked.find(_BLOB_RUN)
    while at != -1:  # leftmost past the previous blob: the start of a run
        match = _BLOB.match(text, at)
        assert match is not None  # `_MIN_BLOB` blob characters from here
        blob = match.group()
        span = match.span()
        if len(blob) % 2 == 0 and _HEX_ONLY.fullmatch(blob):
            if contains_phrase(_decode_hex(blob) or ""):
                yield _encoded(span, "encoded.hex")
        elif contains_phrase(_decode_base64(blob) or ""):
            yield _encoded(span, "encoded.base64")
        at = marked.find(_BLOB_RUN, match.end())


def _encoded(span: tuple[int, int], rule: str, confidence: float = 0.95) -> Finding:
    return Finding("encoded_payload", span[0], span[1], confidence, rule, "injection")


def _decode_base64(blob: str) -> str | None:
    raw = blob.rstrip("=")
    raw = raw + "=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(decoded)


def _decode_hex(blob: str) -> str | None:
    try:
        decoded = bytes.fromhex(blob)
    except ValueError:
        return None
    return _printable(decoded)


def _printable(data: bytes) -> str | None:
    """Decoded bytes that read as text (hashes and keys decode to binary noise)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(ch.isalpha() for ch in text)
    if letters < _MIN_DECODED_LETTERS or not all(ch.isprintable() or ch in "\n\t" for ch in text):
        return None
    return text


def _invisible_findings(text: str) -> Iterator[Finding]:
    if _ANY_INVISIBLE.search(text) is None:  # one pass instead of five, for most text
        return
    for match in _TAGS.finditer(text):
        hidden = "".join(chr(ord(ch) - 0xE0000) for ch in match.group())
        smuggled = contains_phrase(hidden)
        yield Finding(
            "invisible_unicode",
            match.start(),
            match.end(),
            1.0 if smuggled else 0.9,
            "invisible.tags_instruction" if smuggled else "invisible.tags",
            "injection",
        )
    in_word = [(m.start(), m.end()) for m in _ZERO_WIDTH_IN_WORD.finditer(text)]
    for start, end in in_word:
        yield Finding(
            "invisible_unicode", start, end, 0.8, "invisible.zero_width_in_word", "injection"
        )
    for match in _ZERO_WIDTH_RUN.finditer(text):
        if not any(s <= match.start() < e for s, e in in_word):
            yield Finding(
                "invisible_unicode",
                match.start(),
                match.end(),
                0.7,
                "invisible.zero_width_run",
                "injection",
            )
    for match in _BIDI_OVERRIDE.finditer(text):
        yield Finding(
            "invisible_unicode",
            match.start(),
            match.end(),
            0.9,
            "invisible.bidi_override",
            "injection",
        )
    for match in _BIDI_OTHER.finditer(text):
        yield Finding(
            "invisible_unicode",
            match.start(),
            match.end(),
            0.6,
            "invisible.bidi_control",
            "injection",
        )


def _homoglyph_findings(text: str) -> Iterator[Finding]:
    """Words mixing ASCII Latin letters with Cyrillic/Greek look-alikes."""
    if _ANY_CONFUSABLE.search(text) is None:  # no look-alike letter: no word to read
        return
    for match in _WORD.finditer(text):
        word = match.group()
        if word.isascii():
            continue
        latin = sum(ch.isascii() for ch in word)
        confusable = sum(ch in _CONFUSABLE for ch in word)
        foreign = len(word) - latin
        # every non-ASCII letter is a look-alike, and the word is mostly Latin
        if latin >= 2 and confusable and confusable == foreign:
            yield Finding(
                "homoglyph", match.start(), match.end(), 0.85, "homoglyph.mixed_script", "injection"
            )
