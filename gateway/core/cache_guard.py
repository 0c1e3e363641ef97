"""The semantic cache's guard: may the answer cached for one question be served for another?

Embeddings score "Is the clinic open on Sundays?" / "... closed on Sundays?", order 48213 / 48231
or "my account" / "my partner's account" above 0.95. The guard refuses a candidate of the vector
index unless all of these agree between the query and the cached question:
- numbers by value and kind (`3` = `three`, `5%` = `five percent`, `$5` = `USD 5` = `5 dollars`,
  `3rd` = `third`, `007` keeps its zeros), and what they count where both texts say ("2 adults,
  3 children" / "3 adults, 2 children", "5 minutes" / "5 hours");
- dates and times: ISO, `3/4/2025`, "March 3" = "3rd of March", months, weekdays, `3pm` =
  `15:00`, today / tomorrow / "next week", parts of the day, seasons, daily / weekly; a lone
  "today" against no date at all is an intensifier ("so slow today" / "so slow");
- identifiers: URLs, e-mail addresses, codes (`AB-123`, `gpt-4o`), versions, IP addresses;
- names: capitalised words (a sentence's first only if an acronym or with inner capitals),
  found case-insensitively in both texts, also written together or apart ("Wi-Fi" / "wifi") or
  as an acronym's words ("OS" / "operating system"); names in one clause keep their order
  ("Alice owes Bob") unless coordinated ("Paris and Rome");
- roles: words after from / to / into / than do not trade places ("from Paris to Rome" / "from
  Rome to Paris", "celsius to fahrenheit" / "fahrenheit to celsius"), capitalised or not;
- negation: the number of negations (not, no, never, n't, cannot, unable, ...; "at no cost" is
  "free");
- polarity: antonyms by axis (open/closed, with/without, before/after, increase/decrease,
  high/low, buy/sell, log in/out, can/should, need/optional, adult/child, ...); an axis one text
  does not use is skipped; a modal after its subject states and is skipped ("I can smell gas");
  a word after before / after / until is a reference point on an axis of its own ("before
  departure" does not ask about departing);
- scope: possessives (my, your, our, their, his, her, "partner's", "a user's"), another person
  after my / for / of ("for my mother", "for someone", "on behalf of a client"), group words
  (company, team, family, personal, "my work laptop", ...) and quantifiers (all/every/each, any,
  only, both; not "at all"): the same set;
- language: a question in English and one in another language (by function words) disagree;
- substitution, when all else agrees: the same content words but one noun on each side, neither
  a synonym, a form nor a misspelling of the other ("savings" / "checking account", "gas" /
  "water leak"); swapped verbs are left to the embedding ("reset" / "regenerate my key").

It errs on refusing (a refusal costs an upstream call, a wrong hit a wrong answer); the reasons
are for shadow-mode logs. Word tables and word relations live in `cache_guard_words`. Pure
Python. Cost by `timeit` over the 613 question pairs of evals/metacache, on this project's
2-core build machine where `sum(range(1000))` takes 9.3 us: `analyze` 20 us a text, `compare`
5 us, `check` 48 us a pair. Keep the cached question's `TextFeatures` (analyse it at write
time): a lookup analyses only the query.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Final

from gateway.core.cache_guard_words import (
    ARTICLES,
    AUXILIARIES,
    BENEFICIARY,
    COMMON_CAPS,
    COORDINATION,
    CURRENCY,
    DATE_TRIGGERS,
    DAY_WORDS,
    DEFAULT_SCOPE,
    ENGLISH,
    FILLER,
    FOREIGN,
    GRAMMAR,
    GROUPS,
    KIN,
    MONTHS,
    N_T,
    NEGATIONS,
    NOT_ONE,
    NOUN_ALIASES,
    NUMBER_CLASS,
    NUMBER_VALUE,
    PERIODS,
    PHRASAL,
    POLARITY,
    POSSESSIVES,
    REFERENCES,
    RELATIONS,
    RELATIVE,
    ROLES,
    S_IS,
    SCALES,
    SCOPE,
    STOPWORDS,
    SUBJECTS,
    SUBORDINATORS,
    TITLE_WORDS,
    VERB_CONTEXT,
    VERB_MONTHS,
    WEEKDAYS,
    WORK,
    same_word,
    stem,
)

_MONTH_RE: Final = (  # "may" and "march" are verbs too: as months next to a number, capitalised
    "|".join(sorted(set(MONTHS) - VERB_MONTHS, key=len, reverse=True))
    + "|(?-i:May|March|Mar|MAY|MARCH|MAR)"
)
_NUM: Final = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_UNIT_SUFFIX: Final = (
    "kb|mb|gb|tb|pb|kg|mg|mcg|g|lbs?|oz|km|cm|mm|mi|ft|ml|l|kwh|kw|w|v|mah|hz|khz|mhz|ghz|ms|s|"
    "secs?|mins?|hrs?|h|d|yrs?|x|px|pt|dpi|fps|mph|kph|kmh|k|m|bn|mn|°[cf]?"
)
_MONEY_WORDS: Final = r"dollars?|bucks?|usd|euros?|eur|gbp|yen|jpy|rupees?|inr|chf|cad|aud|cents?"
_LINKS: Final = re.compile(
    r"""(?P<url>\b(?:https?://|www\.)[^\s<>"'`]+)|(?P<email>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+)""",
    re.IGNORECASE,
)
_CHUNK: Final = re.compile(  # a whitespace-delimited run with a digit, without punctuation around
    r"""(?<!\S)[(#\[{"']*(\S*?\d\S*?)[.,;:!?)\]}"']*(?!\S)"""
)
_CORE: Final = re.compile(  # what a chunk is, stripped of punctuation: fullmatch
    rf"""(?P<num>(?P<sign>[-+\u2212]?)(?P<nnum>{_NUM})(?P<pct>%)?)
    |(?P<ord>(?P<onum>\d+)(?:st|nd|rd|th))
    |(?P<unit>(?P<unum>{_NUM})(?P<uunit>{_UNIT_SUFFIX}))
    |(?P<money>(?P<sym>[$€£¥₹])(?P<mnum>{_NUM}))
    |(?P<clock>(?P<ch>\d\d?):(?P<cm>\d\d)(?::\d\d)?)
    |(?P<ampm>(?P<ah>\d\d?)(?::(?P<amin>\d\d))?(?P<ap>[ap])\.?m\.?)
    |(?P<dmy>(?P<d1>\d\d?)/(?P<d2>\d\d?)(?:/(?P<d3>\d{{4}}|\d\d))?
        |(?P<e1>\d\d?)[.-](?P<e2>\d\d?)[.-](?P<e3>\d{{4}}))
    |(?P<iso>(?P<iy>\d{{4}})-(?P<im>\d\d?)-(?P<id>\d\d?)(?:T(?P<ih>\d\d?):(?P<imin>\d\d)\S*)?)
    |(?P<dotted>\d+(?:\.\d+){{2,}})
    |(?P<code>(?=[^a-z]*[a-z])[a-z0-9]+(?:[-_./][a-z0-9]+)*)""",
    re.IGNORECASE | re.VERBOSE,
)
_ANY_NUMBER: Final = re.compile(_NUM)
_BEFORE_MONTH: Final = re.compile(rf"(?:^|\s)(?P<m>{_MONTH_RE})\.?\s+$", re.IGNORECASE)
_BEFORE_CODE: Final = re.compile(r"(?:^|\s)(?P<c>usd|eur|gbp|jpy|inr|cad|aud|chf)\s*$", re.I)
_AFTER_MONTH: Final = re.compile(
    rf"\s+(?:of\s+)?(?P<m>{_MONTH_RE})\b\.?(?:,?\s+(?P<y>\d{{4}})\b)?", re.IGNORECASE
)
_AFTER_YEAR: Final = re.compile(r",?\s+(?P<y>\d{4})\b")
_AFTER_AMPM: Final = re.compile(r"\s*(?P<ap>[ap])\.?m\b\.?", re.IGNORECASE)
_AFTER_NUMBER: Final = re.compile(
    rf"""\s*(?:(?P<pct>percent|per\s?cent|pct)\b
    |(?P<scale>thousand|million|billion|trillion)\b(?:\s*(?P<cur2>{_MONEY_WORDS})\b)?
    |(?P<cur>{_MONEY_WORDS})\b)""",
    re.IGNORECASE | re.VERBOSE,
)
_READ: Final = (  # the words `_read_words` looks at; it skips the others
    {"a"} | set(NUMBER_CLASS) | DATE_TRIGGERS | set(POLARITY) | PHRASAL | set(SCOPE) | set(ROLES)
    | set(KIN) | REFERENCES | WORK
)  # fmt: skip
_FREE: Final = re.compile(r"\bat no (?:extra |additional )?(?:cost|charge)\b", re.IGNORECASE)
_NOT_CONTENT: Final = STOPWORDS | FILLER | {"\x00"}
_DETERMINERS: Final = ARTICLES | POSSESSIVES
_TODAY: Final = frozenset({"rel:today"})  # "so slow today": a mere intensifier without other dates
_DIGITS: Final = re.compile(r"\d+")
Span = tuple[int, int]
_SPACE: Final = re.compile(r"[^\S\n]+")  # newlines end sentences: kept
_NEXT_WORD: Final = re.compile(r"\s*([^\W\d_]+)")
_TOKEN: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|[.!?;:,&\n]|\x00")


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """What the guard compares, read from one text by `analyze`; immutable, so it can be kept."""

    numbers: tuple[str, ...]  # "48213", "5|%", "5|USD", "3|ord", sorted (a multiset)
    counted: tuple[tuple[str, str], ...]  # (noun, number): "2 adults" -> ("adult", "2")
    dates: frozenset[str]
    identifiers: frozenset[str]
    entities: frozenset[str]  # candidate names, lower case, words joined by one space
    words: tuple[str, ...]  # every word, lower case, possessive 's removed
    clauses: tuple[int, ...]  # the clause of each word
    roles: tuple[str, ...]  # "from" / "to" / "than" when a word follows one, else ""
    tagged: frozenset[tuple[str, str]]  # (content word, role)
    negations: int
    polarity: frozenset[tuple[str, str]]  # (axis, pole)
    scope: frozenset[str]
    language: str  # "en", "other" or "" (cannot tell)
    content: frozenset[str] = frozenset()  # the stems of the words that say what is asked
    nouns: frozenset[str] = frozenset()  # those of them used as nouns


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One disagreement: the check (numbers, counts, dates, identifiers, entities, entity_order,
    roles, negation, polarity, scope, language, substitution) and what only the query or only the
    cached text has."""

    check: str
    query: tuple[str, ...]  # what only the query has
    cached: tuple[str, ...]  # what only the cached text has


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        """True when nothing disagrees: the candidate may be served."""
        return not self.mismatches

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(mismatch.check for mismatch in self.mismatches)


@dataclass(slots=True)
class _Scan:
    numbers: list[str] = field(default_factory=list)
    counted: list[tuple[str, str]] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)
    polarity: set[tuple[str, str]] = field(default_factory=set)
    scope: set[str] = field(default_factory=set)
    tagged: set[tuple[str, str]] = field(default_factory=set)
    used: set[int] = field(default_factory=set)  # number and date words: not names

    def number(self, value: str, kind: str = "", noun: str | None = None) -> None:
        self.numbers.append(f"{value}|{kind}" if kind else value)
        if noun:
            self.counted.append((noun, self.numbers[-1]))


def _value(digits: str, scale: int = 1) -> str:
    raw = digits.replace(",", "").replace("\u2212", "-")
    if len(raw) > 1 and raw[0] == "0" and "." not in raw:
        return raw  # leading zeros: an identifier, kept as written
    return format((Decimal(raw) * scale).normalize(), "f")


def _noun(word: str | None) -> str | None:
    """The noun a number counts, singular ("3 tickets" -> ticket, "5 min" -> minute)."""
    if not word or word in STOPWORDS or word in NUMBER_CLASS:
        return None
    plural = len(word) > 3 and word.endswith("s") and not word.endswith("ss")
    return NOUN_ALIASES.get(word) or (word[:-1] if plural else word)


def _next_noun(text: str, at: int) -> str | None:
    following = _NEXT_WORD.match(text, at)
    return _noun(following.group(1).lower()) if following else None


def _hour(hour: str, minute: str | None, half: str | None) -> str:
    h = int(hour) % 12 + (12 if half.lower() == "p" else 0) if half else int(hour)
    return f"time:{h}:{int(minute or 0):02d}"


def _date(year: str | None, month: str | int, day: str | None) -> str:
    m = month if isinstance(month, int) else MONTHS[month.lower()]
    return f"date:{int(year) if year else '*'}-{m}-{int(day) if day else '*'}"


def _chunk(m: re.Match[str], text: str, start: int, end: int, scan: _Scan) -> Span:
    """Read one chunk (with the words around it that belong to it); returns the span read."""
    kind, g = m.lastgroup, m.group
    if kind == "iso":
        scan.dates.add(_date(g("iy"), int(g("im")), g("id")))
        if g("ih"):
            scan.dates.add(_hour(g("ih"), g("imin"), None))
    elif kind == "dmy":
        d1, d2, d3 = (g("d1"), g("d2"), g("d3")) if g("d1") else (g("e1"), g("e2"), g("e3"))
        year = f"/{2000 + int(d3) if len(d3) == 2 else d3}" if d3 else ""
        scan.dates.add(f"date:{int(d1)}/{int(d2)}{year}")
    elif kind in ("ampm", "clock"):
        half = None if g("ap") else _AFTER_AMPM.match(text, end)
        end, ap = (half.end(), half.group("ap")) if half else (end, g("ap"))
        scan.dates.add(_hour(g("ah") or g("ch"), g("amin") or g("cm"), ap))
    elif kind in ("dotted", "code"):
        scan.identifiers.add(g().lower())
    elif kind == "unit":
        scan.number(_value(g("unum")), "", _noun(g("uunit").lower()))
    elif kind == "money":
        return _amount(text, (start, end), g("mnum"), scan, CURRENCY[g("sym")])
    elif kind == "num" and g("pct"):
        scan.number(_value(g("sign") + g("nnum")), "%")
    elif kind == "num" and g("sign"):
        return _amount(text, (start, end), g("sign").replace("+", "") + g("nnum"), scan)
    else:
        return _plain(text, (start, end), g("onum") or g("nnum"), kind == "ord", scan)
    return start, end


def _plain(text: str, span: Span, digits: str, ordinal: bool, scan: _Scan) -> Span:
    """An unsigned number or ordinal: maybe a day of a month, a year after a month, an hour."""
    start, end = span
    short = len(digits) <= 2 and digits.isdigit()
    before = _BEFORE_MONTH.search(text, max(0, start - 12), start) if digits.isdigit() else None
    if short and 0 < int(digits) <= 31:
        if before:
            year = _AFTER_YEAR.match(text, end)
            scan.dates.add(_date(year and year.group("y"), before.group("m"), digits))
            return before.start("m"), year.end() if year else end
        if after := _AFTER_MONTH.match(text, end):
            scan.dates.add(_date(after.group("y"), after.group("m"), digits))
            return start, after.end()
    if ordinal:
        scan.number(_value(digits), "ord", _next_noun(text, end))
        return span
    if len(digits) == 4 and before:
        scan.dates.add(_date(digits, before.group("m"), None))
        return before.start("m"), end
    if short and (half := _AFTER_AMPM.match(text, end)):
        scan.dates.add(_hour(digits, None, half.group("ap")))
        return start, half.end()
    return _amount(text, span, digits, scan)


def _amount(text: str, span: Span, digits: str, scan: _Scan, currency: str = "") -> Span:
    """A number with what may follow it (percent, scale, currency) or precede it (USD)."""
    start, end = span
    if not currency and (code := _BEFORE_CODE.search(text, max(0, start - 5), start)):
        currency, start = CURRENCY[code.group("c").lower()], code.start("c")
    scale = 1
    if after := _AFTER_NUMBER.match(text, end):
        end = after.end()
        scale = SCALES.get((after.group("scale") or "").lower(), 1)
        word = (after.group("cur") or after.group("cur2") or "").lower()
        if after.group("pct"):
            currency = "%"
        elif word:
            currency = CURRENCY.get(word, CURRENCY.get(word.rstrip("s"), ""))
    noun = None if currency else _next_noun(text, end)
    scan.number(_value(digits, scale), currency, noun)
    return start, end


def _scan_numbers(text: str, scan: _Scan) -> str:
    """Numbers, dates, times and codes read into `scan`; the text with each replaced by `\x00`."""
    pieces: list[str] = []
    last = 0
    for chunk in _CHUNK.finditer(text):
        start, end = chunk.span(1)
        if start < last:
            continue  # taken by the chunk before ("March 3, 2025")
        core = chunk.group(1)
        if m := _CORE.fullmatch(core):
            span = _chunk(m, text, start, end, scan)
        else:  # "10-20", "3x4", "$5/month": the numbers in it
            for number in _ANY_NUMBER.finditer(core):
                scan.number(_value(number.group()))
            span = (start, end)
        pieces += (text[last : span[0]], " \x00 ")
        last = span[1]
    pieces.append(text[last:])
    return "".join(pieces)


@dataclass(slots=True)
class _Words:  # the words of one text, numbers, dates and codes replaced by `\x00`
    words: list[str]
    raws: list[str]
    clauses: list[int]
    initial: list[bool]  # first word of a sentence
    possessive: set[int]  # indexes of words with a possessive 's
    negations: int = 0


def _tokenize(residual: str) -> _Words:
    out = _Words([], [], [], [], set())
    words, raws, clauses, initial = out.words, out.raws, out.clauses, out.initial
    clause, sentence_start, negations = 0, True, 0
    for piece in _TOKEN.findall(residual):
        if piece in ".!?;:,\n":
            clause += 1
            sentence_start = sentence_start or piece in ".!?\n"
            continue
        word = piece.lower()
        if "'" in word:
            word, _, suffix = word.partition("'")
            if suffix == "t" and word.endswith("n"):  # can't, don't, won't
                negations += 1
                word = N_T.get(word[:-1], word[:-1])
            elif suffix == "s" and word not in S_IS:
                out.possessive.add(len(words))
        elif word == "cannot":
            negations += 1
            word = "can"
        elif piece == "&":
            word = "and"
        if word in NEGATIONS:
            negations += 1
        elif word in SUBORDINATORS and words:
            clause += 1
        words.append(word)
        raws.append(piece)
        clauses.append(clause)
        initial.append(sentence_start)
        sentence_start = False
    out.negations = negations
    return out


def _parse_number(words: list[str], i: int) -> tuple[int, int, bool]:
    """Number words from word i ("a hundred and five", "third"): (end or i, value, ordinal)."""
    total = current = 0
    last, j, n = "", i, len(words)
    while j < n:
        word, following = words[j], words[j + 1] if j + 1 < n else ""
        kind = NUMBER_CLASS.get(word)
        if kind is None or f"{last}>{kind}" not in GRAMMAR:
            if word == "and" and last in ("hundred", "scale") and following in NUMBER_CLASS:
                last, j = "and", j + 1
                continue
            if word == "a" and not last and following in ("hundred", "dozen", *SCALES):
                last, j = "a", j + 1
                continue
            break
        if kind == "scale":
            total, current = total + (current or 1) * SCALES[word], 0
        elif kind in ("hundred", "dozen"):
            current = (current or 1) * (100 if kind == "hundred" else 12)
        else:
            current += NUMBER_VALUE[word]
        last, j = "unit" if kind == "dozen" else kind, j + 1
        if kind == "ord":
            break
    return (i if last in ("a", "and") else j), total + current, last == "ord"


def _number_words(words: list[str], i: int, scan: _Scan) -> int:
    """Read the number words at word i into `scan`; returns the index after them."""
    j, value, ordinal = _parse_number(words, i)
    previous, following = words[i - 1] if i else "", words[j] if j < len(words) else ""
    one = j - i == 1 and words[i] == "one" and (previous in NOT_ONE or not _noun(following))
    if j == i or one:
        return j
    if ordinal:
        scan.number(str(value), "ord", _noun(following))
    elif following in ("percent", "pct") or (following, words[j + 1 : j + 2]) == ("per", ["cent"]):
        scan.number(str(value), "%")
    else:
        kind = CURRENCY.get(following, "")
        scan.number(str(value), kind, None if kind else _noun(following))
    return j


def _date_word(w: _Words, i: int) -> str | None:
    word = w.words[i]
    following = w.words[i + 1] if i + 1 < len(w.words) else ""
    if word in WEEKDAYS:
        return "day:" + WEEKDAYS[word]
    if word in DAY_WORDS:
        return DAY_WORDS[word]
    if word in RELATIVE and (following in PERIODS or following in WEEKDAYS):
        return f"rel:{word} {WEEKDAYS.get(following, following)}"
    named = w.raws[i][0].isupper() and not w.initial[i]  # "in May", not "May I"
    if word in MONTHS and (word not in VERB_MONTHS or named):
        return f"month:{MONTHS[word]}"
    return None


def _name_at(w: _Words, i: int) -> bool:
    raw = w.raws[i]
    inner = len(raw) > 1 and any(c.isupper() for c in raw[1:])  # acronyms, iPhone
    if not (raw[0].isupper() or inner) or raw.lower() in COMMON_CAPS:
        return False
    return w.words[i] not in STOPWORDS and (inner or not w.initial[i])  # a sentence's first word


def _entities(w: _Words, skip: set[int]) -> set[str]:
    """Runs of capitalised words, not function or date words; none in Title Case or SHOUTING."""
    caps = [i for i, raw in enumerate(w.raws) if not raw.islower() and raw != "\x00"]
    function_words = [i for i in caps if not w.initial[i] and w.words[i] in TITLE_WORDS]
    shouting = len(caps) >= 3 and all(raw.isupper() for raw in w.raws if raw != "\x00")
    if not caps or shouting or len(function_words) >= 2:
        return set()
    runs: list[list[int]] = []
    for i in caps:
        if i in skip or not _name_at(w, i):
            continue
        if runs and runs[-1][-1] == i - 1 and w.clauses[i] == w.clauses[i - 1]:
            runs[-1].append(i)
        else:
            runs.append([i])
    return {" ".join(w.words[i] for i in run) for run in runs}


def _read_words(w: _Words, scan: _Scan) -> list[str]:
    """Number words, date words, polarity and scope into `scan`; returns each word's role."""
    words, n = w.words, len(w.words)
    roles = [""] * n
    i, reference = 0, -1
    while i < n:
        word = words[i]
        if word not in _READ and i not in w.possessive:
            i += 1
            continue
        if (word in NUMBER_CLASS or word == "a") and (j := _number_words(words, i, scan)) > i:
            scan.used.update(range(i, j))
            i = j
            continue
        if word in DATE_TRIGGERS and (date := _date_word(w, i)):
            scan.dates.add(date)
            scan.used.add(i)
        if word in POLARITY:
            _poles(w, i, reference == i, scan)
        if word in PHRASAL and i + 1 < n:  # log in, turn off
            scan.polarity.update(POLARITY.get(f"{word}_{words[i + 1]}", ()))
        if word in REFERENCES:  # "before departure": departure is when, not what is asked
            reference = _skip(words, i + 1, ARTICLES | POSSESSIVES)
        if word in SCOPE and not (word == "all" and i and words[i - 1] == "at"):  # "at all"
            scan.scope.add(SCOPE[word])
        if word in KIN or word in WORK or i in w.possessive:
            _whose(w, i, scan)
        if word in ROLES:
            k = _skip(words, i + 1, ARTICLES)
            if k < n and w.clauses[k] == w.clauses[i]:
                roles[k] = ROLES[word]
                if words[k] not in STOPWORDS and words[k] != "\x00":
                    scan.tagged.add((words[k], ROLES[word]))
        i += 1
    return roles


def _skip(words: list[str], k: int, skipped: Collection[str]) -> int:
    while k < len(words) and words[k] in skipped:
        k += 1
    return k


def _poles(w: _Words, i: int, reference: bool, scan: _Scan) -> None:
    """The axes of word i. A modal after its subject states ("I can smell gas", "before I can
    see"): only a modal that asks counts ("Can I", "What should I", "Do I need"). A word
    after before / after / until is a reference point, on axes of its own ("before departure")."""
    poles = POLARITY[w.words[i]]
    before = w.words[i - 1] if i else ""
    if before in SUBJECTS and (i < 2 or w.words[i - 2] not in AUXILIARIES):
        poles = tuple(pole for pole in poles if pole[0] != "modal")
    if reference:
        poles = tuple(("ref:" + axis, pole) for axis, pole in poles)
    scan.polarity.update(poles)


def _whose(w: _Words, i: int, scan: _Scan) -> None:
    """Scope from a person: "my mother", "for someone", "on behalf of a client", "my partner's"
    ("the company's" is the group); "my work laptop" = "my company laptop"."""
    words, word = w.words, w.words[i]
    before = words[i - 1] if i else ""
    if word in WORK:
        following = words[i + 1] if i + 1 < len(words) else "\x00"
        if (before in POSSESSIVES or before in ARTICLES) and following not in STOPWORDS | {"\x00"}:
            scan.scope.add("company")
        return
    if i in w.possessive and word in RELATIONS and word not in GROUPS:
        scan.scope.add("of:" + KIN.get(word, _noun(word) or word))
    if word in KIN and (
        before in POSSESSIVES
        or before in BENEFICIARY
        or (before in ARTICLES and i > 1 and words[i - 2] in BENEFICIARY)
    ):
        scan.scope.add("of:" + KIN[word])


def _content(w: _Words, used: set[int]) -> tuple[frozenset[str], frozenset[str]]:
    """The stems of the words that say what is asked, and of those used as nouns: not right
    after a subject, modal or "to" ("I reset", "to lower"), nor -ed / -ing after no article."""
    out, nouns, before = set(), set(), ""
    for i, word in enumerate(w.words):
        if word not in _NOT_CONTENT and len(word) > 1 and i not in used:
            out.add(root := stem(word))
            verb = not before or before in VERB_CONTEXT or before.endswith("ly")
            if not verb and (before in _DETERMINERS or not word.endswith(("ed", "ing"))):
                nouns.add(root)
        before = word
    return frozenset(out), frozenset(nouns)


def analyze(text: str) -> TextFeatures:
    """The features of one text; keep the cached question's to call `compare` alone later."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = _SPACE.sub(" ", text)
    scan = _Scan()
    if "@" in text or "://" in text or "www." in text:
        for link in _LINKS.finditer(text):
            found = link.group().lower()
            if link.lastgroup == "url":
                found = "url:" + re.sub(r"^(?:https?://)?(?:www\.)?", "", found).rstrip(".,;:!?)/")
            scan.identifiers.add(found)
        text = _LINKS.sub(" \x00 ", text)
    if _DIGITS.search(text):
        text = _scan_numbers(text, scan)
    if " no " in text:
        text = _FREE.sub("free", text)  # "at no cost": not a negation
    w = _tokenize(text)
    roles = _read_words(w, scan)
    content, nouns = _content(w, scan.used)
    return TextFeatures(
        numbers=tuple(sorted(scan.numbers)),
        counted=tuple(sorted(scan.counted)),
        dates=frozenset(scan.dates),
        identifiers=frozenset(scan.identifiers),
        entities=frozenset(_entities(w, scan.used)),
        words=tuple(w.words),
        clauses=tuple(w.clauses),
        roles=tuple(roles),
        tagged=frozenset(scan.tagged),
        negations=w.negations,
        polarity=frozenset(scan.polarity),
        scope=frozenset(scan.scope),
        language=_language(w.words),
        content=content,
        nouns=nouns,
    )


def _language(words: list[str]) -> str:
    """ "other" when words of other languages outweigh English ones, or no English word stands
    next to letters English does not use; "en" when only English ones; else "" (cannot tell)."""
    english, foreign = sum(w in ENGLISH for w in words), sum(w in FOREIGN for w in words)
    if foreign >= 2 and foreign >= 2 * english:
        return "other"
    if not english and (foreign or len(words) >= 3) and not "".join(words).isascii():
        return "other"
    return "en" if english and not foreign else ""


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, value in pairs:
        out.setdefault(key, set()).add(value)
    return out


def _differ(found: list[Mismatch], check: str, q: Collection[str], c: Collection[str]) -> None:
    if q != c and (q_count := Counter(q)) != (c_count := Counter(c)):
        only_q, only_c = (q_count - c_count).elements(), (c_count - q_count).elements()
        found.append(Mismatch(check, tuple(sorted(only_q)), tuple(sorted(only_c))))


def _counts(found: list[Mismatch], query: TextFeatures, cached: TextFeatures) -> None:
    """What a number counts agrees where both say ("2 adults" / "3 adults", "5 min" / "5 h")."""
    if (sides := (query.counted, cached.counted))[0] == sides[1]:
        return
    by_noun = [_grouped(pairs) for pairs in sides]
    by_number = [_grouped((number, noun) for noun, number in pairs) for pairs in sides]
    bad: tuple[list[str], list[str]] = ([], [])
    for side, pairs in enumerate(sides):
        nouns, numbers = by_noun[1 - side], by_number[1 - side]
        for noun, number in pairs:
            if number not in nouns.get(noun, {number}) or noun not in numbers.get(number, {noun}):
                bad[side].append(f"{number} {noun}")
    if bad[0] or bad[1]:
        found.append(Mismatch("counts", tuple(bad[0]), tuple(bad[1])))


def _order(f: TextFeatures, names: Iterable[str]) -> list[tuple[tuple[str, ...], ...]]:
    """Per clause, the order of its untagged names; coordinated ones ("Paris and Rome") grouped."""
    mentions = []
    for name in names:
        parts = tuple(name.split(" "))
        for i, word in enumerate(f.words):
            if word == parts[0] and f.words[i : i + len(parts)] == parts:
                mentions.append((i, i + len(parts), name))
    mentions.sort(key=lambda m: (m[0], -m[1]))  # where two overlap, the longer one
    clauses: dict[int, list[tuple[int, set[str]]]] = {}
    last_end = -1
    for start, end, name in mentions:
        if start < last_end or f.roles[start]:
            continue
        last_end = end
        groups = clauses.setdefault(f.clauses[start], [])
        if groups and all(w in COORDINATION for w in f.words[groups[-1][0] : start]):
            groups[-1] = (end, groups[-1][1] | {name})
        else:
            groups.append((end, {name}))
    return sorted(
        tuple(tuple(sorted(group)) for _, group in groups)
        for groups in clauses.values()
        if len(groups) >= 2
    )


def _names(found: list[Mismatch], query: TextFeatures, cached: TextFeatures) -> None:
    if not (names := query.entities | cached.entities):
        return
    q_text, c_text = (" " + " ".join(f.words) + " " for f in (query, cached))
    in_q = {name for name in names if f" {name} " in q_text or _spelled(name, query.words)}
    in_c = {name for name in names if f" {name} " in c_text or _spelled(name, cached.words)}
    if in_q != in_c:
        found.append(Mismatch("entities", tuple(sorted(in_q - in_c)), tuple(sorted(in_c - in_q))))
    if len(shared := in_q & in_c) >= 2:
        q, c = _order(query, shared), _order(cached, shared)
        if q != c:
            found.append(Mismatch("entity_order", tuple(map(str, q)), tuple(map(str, c))))


def _spelled(name: str, words: tuple[str, ...]) -> bool:
    """The name written otherwise: "Wi-Fi" / "wifi", "SharePoint" / "share point", or an
    acronym of the words ("OS" / "operating system")."""
    compact, n = name.replace(" ", ""), len(words)
    for i in range(n):
        if words[i][0] == compact[0] and compact.startswith(words[i]):
            joined = words[i]
            for k in range(i + 1, min(i + 4, n)):
                if joined == compact:
                    break
                joined += words[k]
            if joined == compact:
                return True
    if " " in name or not 2 <= len(name) <= 4:
        return False
    for i in range(n - len(name) + 1):
        run = words[i : i + len(name)]
        if run[0] not in STOPWORDS and all(w[0] == c for w, c in zip(run, name, strict=True)):
            return True
    return False


def _roles(found: list[Mismatch], query: TextFeatures, cached: TextFeatures) -> None:
    """No word changes role ("to Rome" / "from Rome"), no two trade one ("from A to B" / ...)."""
    if query.tagged == cached.tagged:
        return
    q, c = _grouped(query.tagged), _grouped(cached.tagged)
    bad = {word for word in q.keys() & c.keys() if q[word] != c[word]}
    for role in ("from", "to", "than"):
        gave = {w for w, roles in q.items() if role in roles and role not in c.get(w, ())}
        took = {w for w, roles in c.items() if role in roles and role not in q.get(w, ())}
        gave, took = gave & set(cached.words), took & set(query.words)
        if gave and took:
            bad |= gave | took
    if bad:
        only_q = tuple(f"{r}:{w}" for w in sorted(bad) for r in sorted(q.get(w, ())))
        only_c = tuple(f"{r}:{w}" for w in sorted(bad) for r in sorted(c.get(w, ())))
        found.append(Mismatch("roles", only_q, only_c))


def _polarity(found: list[Mismatch], query: TextFeatures, cached: TextFeatures) -> None:
    if query.polarity == cached.polarity:
        return
    q, c = _grouped(query.polarity), _grouped(cached.polarity)
    axes = sorted(axis for axis in q.keys() & c.keys() if q[axis] != c[axis])
    if axes:
        only_q = tuple(f"{a}{p}" for a in axes for p in sorted(q[a] - c[a]))
        only_c = tuple(f"{a}{p}" for a in axes for p in sorted(c[a] - q[a]))
        found.append(Mismatch("polarity", only_q, only_c))


def _scope(found: list[Mismatch], query: TextFeatures, cached: TextFeatures) -> None:
    """The same scope, where a group word written apart ("team mate") counts as the compound
    the other text has ("teammate")."""
    q, c = query.scope - DEFAULT_SCOPE, cached.scope - DEFAULT_SCOPE
    if q == c:
        return
    only_q = {s for s in q - c if not _compound(s, query.words, cached.words)}
    only_c = {s for s in c - q if not _compound(s, cached.words, query.words)}
    if only_q or only_c:
        found.append(Mismatch("scope", tuple(sorted(only_q)), tuple(sorted(only_c))))


def _compound(word: str, words: tuple[str, ...], other: tuple[str, ...]) -> bool:
    return word in GROUPS and any(a == word and a + b in other for a, b in pairwise(words))


def _substitution(found: list[Mismatch], query: TextFeatures, cached: TextFeatures) -> None:
    """The same content words but one on each side, and those two neither synonyms nor forms
    or misspellings of one word: "savings" / "checking account", "gas" / "water leak"."""
    only_q, only_c = query.content - cached.content, cached.content - query.content
    if len(only_q) == 1 and len(only_c) == 1:
        (a,), (b,) = only_q, only_c
        if a in query.nouns and b in cached.nouns and not same_word(a, b):
            found.append(Mismatch("substitution", (a,), (b,)))


def compare(query: TextFeatures, cached: TextFeatures) -> GuardVerdict:
    """Every check; each disagreement with what only one side has."""
    found: list[Mismatch] = []
    _differ(found, "numbers", query.numbers, cached.numbers)
    _counts(found, query, cached)
    q_dates, c_dates = query.dates, cached.dates
    if not (q_dates and c_dates) or not (q_dates - _TODAY and c_dates - _TODAY):
        q_dates, c_dates = q_dates - _TODAY, c_dates - _TODAY  # "so slow today" / "so slow"
    _differ(found, "dates", q_dates, c_dates)
    _differ(found, "identifiers", query.identifiers, cached.identifiers)
    _names(found, query, cached)
    _roles(found, query, cached)
    if query.negations != cached.negations:
        found.append(Mismatch("negation", (str(query.negations),), (str(cached.negations),)))
    _polarity(found, query, cached)
    _scope(found, query, cached)
    if query.language != cached.language and query.language and cached.language:
        found.append(Mismatch("language", (query.language,), (cached.language,)))
    if not found:  # a swapped word nothing above explains
        _substitution(found, query, cached)
    return GuardVerdict(tuple(found))


def check(query: str, cached: str) -> GuardVerdict:
    """May the answer cached for `cached` be served for `query`?"""
    return compare(analyze(query), analyze(cached))
