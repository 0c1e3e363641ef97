"""Shadow mode, the pure part: does a fresh upstream answer agree with the one the cache served,
and what false-hit rate do the samples so far support?

A sample of semantic hits is re-asked upstream in the background (the I/O lives in
`gateway.cache.shadow`). Two samples of a model rarely match word for word, so "agree" cannot be
equality; nor is an embedder available here (core is pure). The test is built from what tells a
wrong answer from a reworded right one:
- tool calls: the same tools with the same arguments (as parsed JSON) in the same order;
- the same language, and no answer several times longer than the other (a refusal or a
  one-liner against an essay is a different answer);
- short answers (a sentence or two, where a yes/no or one number is the whole answer): the
  `cache_guard` checks that do not hang on phrasing agree (numbers, counts, dates, identifiers,
  negation, polarity); names, scope and word roles are left out, since an answer may say
  "your order" or "the order" alike;
- longer answers: the content words overlap (Dice coefficient over word sets, stop words out),
  and when both give numbers, they share at least one.

Then `ShadowStats` counts agreements per namespace and reports the disagreement rate with its
Wilson 95% upper bound: with 3 disagreements in 200 samples the rate is 1.5% but the data only
rule out rates above 4.3%, which is what an operator should compare against a target.

The test errs towards "disagree" (a reworded "No, it isn't open" / "It is closed" counts as a
disagreement on negation): the estimate is an upper-leaning one, never a flattering one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gateway.core.cache_guard import analyze, compare
from gateway.core.cache_key import Wire, normalize_text

SHORT_ANSWER_WORDS: Final = 30  # up to this many words an answer is checked fact by fact
MIN_OVERLAP: Final = 0.3  # Dice coefficient of content words for longer answers
MAX_LENGTH_RATIO: Final = 4.0
_Z: Final = 1.959963984540054  # the 97.5th percentile of the standard normal: two-sided 95%
_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_FACT_CHECKS: Final = frozenset(  # the guard's checks that do not hang on phrasing
    {"numbers", "counts", "dates", "identifiers", "negation", "polarity", "language"}
)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_STOPWORDS: Final = _wordset(
    "a an the and or but if then so of to in on at by for with from into over under about as is "
    "are was were be been being am do does did have has had having i you he she it we they me him "
    "her us them my your his its our their this that these those there here what which who whom "
    "whose when where why how can could will would shall should may might must not no yes just "
    "also very more most some any all each every other such only own same than too s t don it's "
    "i'm you're can't won't"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a response says: its text and its tool calls (name, arguments as parsed JSON)."""

    text: str
    tool_calls: tuple[tuple[str, Any], ...]


def _arguments(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw  # broken JSON is compared as text


def _openai_answer(body: Mapping[str, Any]) -> Answer | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    choice = choices[0]
    if "message" not in choice:  # legacy completions
        text = choice.get("text")
        return Answer(text if isinstance(text, str) else "", ())
    message = choice.get("message")
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text") or "" for p in content if isinstance(p, Mapping))
    texts = [t for t in (content, message.get("refusal")) if isinstance(t, str) and t]
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, Mapping)]
    if isinstance(message.get("function_call"), Mapping):
        calls.append({"function": message["function_call"]})
    tools = []
    for call in calls:
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        tools.append((str(function.get("name") or ""), _arguments(function.get("arguments"))))
    return Answer("\n".join(texts), tuple(tools))


def _anthropic_answer(body: Mapping[str, Any]) -> Answer | None:
    blocks = body.get("content")
    if not isinstance(blocks, list):
        return None
    texts, tools = [], []
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            tools.append((str(block.get("name") or ""), block.get("input")))
    return Answer("".join(texts), tuple(tools))


def _responses_answer(body: Mapping[str, Any]) -> Answer:
    """An OpenAI Responses `Response`: its messages' text and refusals, and its calls."""
    texts: list[str] = []
    tools: list[tuple[str, Any]] = []
    for item in body.get("output") or ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if isinstance(part, Mapping):
                    text = part.get("text") if part.get("type") == "output_text" else None
                    text = part.get("refusal") if part.get("type") == "refusal" else text
                    if isinstance(text, str) and text:
                        texts.append(text)
        elif kind == "function_call":
            tools.append((str(item.get("name") or ""), _arguments(item.get("arguments"))))
        elif kind == "custom_tool_call":
            tools.append((str(item.get("name") or ""), item.get("input")))
    return Answer("\n".join(texts), tuple(tools))


def answer_of(body: Mapping[str, Any], wire: Wire | None = None) -> Answer | None:
    """The answer in a response body (OpenAI chat or legacy completion, Anthropic message, a
    Responses `Response`; the shape tells them apart when `wire` is None), or None when it holds
    none: an error, no choices, nothing said. A shadow re-ask that gives None says nothing about
    the cache and should not be counted."""
    if body.get("error") is not None or body.get("type") == "error":
        return None
    openai = wire == "openai" if wire is not None else "choices" in body
    if body.get("object") == "response":
        answer: Answer | None = _responses_answer(body)
    else:
        answer = _openai_answer(body) if openai else _anthropic_answer(body)
    if answer is None or (not answer.text.strip() and not answer.tool_calls):
        return None
    return answer


def _content_words(words: list[str]) -> set[str]:
    return {w for w in words if w not in _STOPWORDS}


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


def _texts_agree(served: str, fresh: str) -> tuple[bool, str]:
    if normalize_text(served) == normalize_text(fresh):
        return True, "same"
    served_words = _WORD.findall(served.lower())
    fresh_words = _WORD.findall(fresh.lower())
    if not served_words or not fresh_words:
        return False, "empty"
    longer = max(len(served_words), len(fresh_words))
    if longer / min(len(served_words), len(fresh_words)) > MAX_LENGTH_RATIO and longer > 8:
        return False, "length"
    a, b = analyze(served), analyze(fresh)
    if a.language and b.language and a.language != b.language:
        return False, "guard:language"
    if longer <= SHORT_ANSWER_WORDS:
        facts = [r for r in compare(b, a).reasons if r in _FACT_CHECKS]
        if facts:
            return False, "guard:" + facts[0]
    elif a.numbers and b.numbers and not set(a.numbers) & set(b.numbers):
        return False, "guard:numbers"
    overlap = _dice(_content_words(served_words), _content_words(fresh_words))
    if longer > SHORT_ANSWER_WORDS and overlap < MIN_OVERLAP:
        return False, "overlap"
    return True, "agree"


def answers_agree(
    served: Mapping[str, Any], fresh: Mapping[str, Any], wire: Wire | None = None
) -> tuple[bool, str]:
    """(agree, reason): reason is "same", "agree", or why not ("tool_calls", "length",
    "overlap", "guard:<check>", "empty", "no_answer"). Check `answer_of(fresh)` first: a fresh
    response without an answer (an error) is "no_answer" here, but it is no evidence of a wrong
    hit and should not be counted."""
    a, b = answer_of(served, wire), answer_of(fresh, wire)
    if a is None or b is None:
        return False, "no_answer"
    if a.tool_calls or b.tool_calls:
        if a.tool_calls != b.tool_calls:
            return False, "tool_calls"
        if not a.text.strip() and not b.text.strip():
            return True, "same"
    return _texts_agree(a.text, b.text)


def should_sample(rate: float, rng_value: float) -> bool:
    """Whether this hit is re-asked: `rng_value` is uniform in [0, 1) (randomness is passed in)."""
    return rate > 0 and rng_value < rate


def wilson_upper(failures: int, trials: int, z: float = _Z) -> float:
    """The upper end of the Wilson score interval (two-sided 95% by default) of a rate."""
    if trials <= 0:
        return 1.0
    p = failures / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return min(1.0, (centre + spread) / (1 + z2 / trials))


@dataclass(slots=True)
class ShadowStats:
    """Shadow checks of one namespace. `skipped`: re-asks that gave no usable answer."""

    agreed: int = 0
    disagreed: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # why the disagreements

    def record(self, agreed: bool | None, reason: str | None = None) -> None:
        if agreed is None:
            self.skipped += 1
        elif agreed:
            self.agreed += 1
        else:
            self.disagreed += 1
            if reason:
                self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def sampled(self) -> int:
        return self.agreed + self.disagreed + self.skipped

    @property
    def compared(self) -> int:
        return self.agreed + self.disagreed

    @property
    def estimate(self) -> float | None:
        """The observed false-hit rate, None before the first comparison."""
        return self.disagreed / self.compared if self.compared else None

    @property
    def upper_95(self) -> float | None:
        return wilson_upper(self.disagreed, self.compared) if self.compared else None

    def merged(self, other: ShadowStats) -> ShadowStats:
        reasons = dict(self.reasons)
        for reason, count in other.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        return ShadowStats(
            self.agreed + other.agreed,
            self.disagreed + other.disagreed,
            self.skipped + other.skipped,
            reasons,
        )

    def as_dict(self) -> dict[str, Any]:
        estimate, upper = self.estimate, self.upper_95
        return {
            "sampled": self.sampled,
            "agreed": self.agreed,
            "disagreed": self.disagreed,
            "skipped": self.skipped,
            "false_hit_rate": round(estimate, 6) if estimate is not None else None,
            "false_hit_upper_95": round(upper, 6) if upper is not None else None,
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShadowStats:
        """Reads `as_dict` back (stats shared between replicas); missing counters are zero."""

        def count(key: str) -> int:
            value = data.get(key)
            return value if isinstance(value, int) and value >= 0 else 0

        raw = data.get("reasons")
        reasons = (
            {str(k): v for k, v in raw.items() if isinstance(v, int)}
            if isinstance(raw, Mapping)
            else {}
        )
        return cls(count("agreed"), count("disagreed"), count("skipped"), reasons)
