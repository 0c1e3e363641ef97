"""The semantic cache's guard: may the answer cached for one question be served for another?

Embeddings score "Is the clinic open on Sundays?" / "... closed on Sundays?", order 48213 / 48231
or "my account" / "my partner's account" above 0.95. The guard refuses a candidate of the vector
index unless all of these agree between the query and the cached question:
- numbers by value and kind (`3` = `three`, `5%` = `five percent`, `$5` = `USD 5` = `5 dollars`,
  `3rd` = `third`, `007` keeps its zeros), and what they count where both texts say ("2 adults,
  3 children" / "3 adults, 2 children", "5 minutes" / "5 hours");
- dates and times: ISO, `3/4/2025`, "March 3" = "3rd of March", months, weekdays, `3pm` =
  `15:00`, today / tomorrow / "next week", parts of the day, seasons, daily / weekly;
- identifiers: URLs, e-mail addresses, codes (`AB-123`, `gpt-4o`), versions, IP addresses;
- names: capitalised words (a sentence's first only if an acronym or with inner capitals),
  found case-insensitively in both texts; names in one clause keep their order ("Alice owes
  Bob") unless coordinated ("Paris and Rome");
- roles: words after from / to / into / than do not trade places ("from Paris to Rome" / "from
  Rome to Paris", "celsius to fahrenheit" / "fahrenheit to celsius"), capitalised or not;
- negation: the number of negations (not, no, never, n't, cannot, unable, ...);
- polarity: antonyms by axis (open/closed, with/without, before/after, increase/decrease,
  buy/sell, log in/out, can/should, adult/child, ...); an axis one text does not use is skipped;
- scope: possessives (my, your, our, their, his, her, "partner's"), group words (company, team,
  family, personal, ...) and quantifiers (all/every/each, any, only, both): the same set;
- language: a question in English and one in another language (by function words) disagree.

It errs on refusing (a refusal costs an upstream call, a wrong hit a wrong answer); the reasons
are for shadow-mode logs. Pure Python. Cost by `timeit` over the tests' 127 question pairs, on
this project's 2-core build machine where `sum(range(1000))` takes 24 us (2-3x a laptop):
`analyze` 47 us a text, `compare` 17 us (5 us when all agrees), `check` 122 us a pair. Keep the
cached question's `TextFeatures` (analyse it at write time): a lookup analyses only the query.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _numbered(text: str, start: int = 0, step: int = 1) -> dict[str, int]:
    return {word: start + step * i for i, word in enumerate(text.split())}


def _table(spec: str) -> dict[str, str]:
    """'a b: x | c: y' -> {a: x, b: x, c: y}."""
    out = {}
    for entry in spec.split("|"):
        words, _, value = entry.partition(": ")
        out.update(dict.fromkeys(words.split(), value.strip()))
    return out


_MONTHS: Final = {name: int(number) for name, number in _table(
    "january jan: 1 | february feb: 2 | march mar: 3 | april apr: 4 | may: 5 | june jun: 6 | july"
    " jul: 7 | august aug: 8 | september sep sept: 9 | october oct: 10 | november nov: 11 |"
    " december dec: 12").items()}  # fmt: skip
_VERB_MONTHS: Final = _words("may march mar")  # months only next to a date word or capitalised
_WEEKDAYS: Final = _table(
    "monday mondays mon: monday | tuesday tuesdays tue tues: tuesday | wednesday wednesdays wed:"
    " wednesday | thursday thursdays thu thur thurs: thursday | friday fridays fri: friday |"
    " saturday saturdays: saturday | sunday sundays: sunday"
)
_DAY_WORDS: Final = _table(
    "today: rel:today | tonight: rel:tonight | tomorrow tmrw tomorrows: rel:tomorrow |"
    " yesterday: rel:yesterday | weekend weekends: rel:weekend | weekday weekdays: rel:weekday |"
    " morning mornings: tod:morning | afternoon afternoons: tod:afternoon | evening evenings:"
    " tod:evening | night nights overnight: tod:night | noon midday: time:12:00 | midnight:"
    " time:0:00 | summer: season:summer | winter: season:winter | autumn: season:autumn |"
    " daily: freq:daily | weekly: freq:weekly | monthly: freq:monthly | yearly annually annual:"
    " freq:yearly | hourly: freq:hourly | quarterly: freq:quarterly"
)
_RELATIVE: Final = _words("this next last coming past previous following")
_PERIODS: Final = _words("week month year quarter weekend day morning afternoon evening night")
_DATE_TRIGGERS: Final = frozenset(_WEEKDAYS) | set(_DAY_WORDS) | _RELATIVE | set(_MONTHS)
_UNITS: Final = _numbered(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS: Final = _numbered("twenty thirty forty fifty sixty seventy eighty ninety", 20, 10)
_SCALES: Final = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_ORDINALS: Final = _numbered(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth",
    1,
) | {word[:-1] + "ieth": value for word, value in _TENS.items()}
_NUMBER_CLASS: Final = {"hundred": "hundred", "dozen": "dozen"} | {  # see `_parse_number`
    word: kind for kind, words in (("unit", _UNITS), ("tens", _TENS), ("scale", _SCALES),
    ("ord", _ORDINALS)) for word in words}  # fmt: skip
_NUMBER_VALUE: Final = _UNITS | _TENS | _ORDINALS
_GRAMMAR: Final = _words(  # "previous>next" classes `_parse_number` accepts ("" is the start)
    ">unit tens>unit hundred>unit scale>unit and>unit >tens hundred>tens scale>tens and>tens "
    ">hundred unit>hundred tens>hundred a>hundred >scale unit>scale tens>scale hundred>scale "
    "a>scale >dozen unit>dozen a>dozen >ord tens>ord hundred>ord scale>ord and>ord"
)
_NOT_ONE: Final = _words(  # "which one", "the one", "no one", "one of": not a count
    "the this that which each every any no some another other same only last next first new old "
    "right wrong little big such a"
)
_CURRENCY: Final = _table(
    "$ usd dollar dollars buck bucks: USD | € eur euro euros: EUR | £ gbp: GBP | ¥ jpy yen: JPY"
    " | ₹ inr rupee rupees: INR | chf franc francs: CHF | cad: CAD | aud: AUD | cent cents: cent"
)
_NOUN_ALIASES: Final = _table(
    "people persons: person | children: child | men: man | women: woman | feet: foot | teeth:"
    " tooth | mice: mouse | s sec secs: second | min mins: minute | h hr hrs: hour | d: day | wk"
    " wks: week | mo: month | y yr yrs: year | kg kgs kilo kilos kilograms: kilogram | g grams:"
    " gram | mg milligrams: milligram | km kms kilometers kilometres kilometre: kilometer | cm:"
    " centimeter | mm: millimeter | lb lbs pounds: pound | ml: milliliter | l litres litre"
    " liters: liter | mi miles: mile | ft: foot"
)
_RELATIONS: Final = _words(  # "my partner's account": whose, when said with a possessive
    "partner spouse wife husband child kid son daughter parent mother father mom mum dad brother "
    "sister friend boss manager colleague coworker employer employee client customer company team "
    "family roommate landlord tenant user admin neighbor neighbour doctor teacher student owner "
    "member organization business someone somebody everyone people children baby guest patient"
)
_NEGATIONS: Final = _words("not no never none nothing nobody nowhere neither nor unable")
_N_T: Final = {"ca": "can", "wo": "will", "sha": "shall", "ai": "be"}  # can't won't shan't ain't
_S_IS: Final = _words("it that what there here he she who where when how why let this")  # it's
_ROLES: Final = _table("from: from | to into onto towards toward: to | than: than")
_ARTICLES: Final = _words("the a an")
_SUBORDINATORS: Final = _words("if when whenever while because although though unless whereas")
_COORDINATION: Final = _words("and or nor & vs versus plus the a an both either neither between")
_SCOPE: Final = _table(
    "my mine myself: me | we us our ours ourselves: us | your yours yourself yourselves: you |"
    " they them their theirs themselves: them | he him his himself: him | she her hers herself:"
    " her | companies corporate: company | teams: team | partners: partner | org organisation"
    " organizations organisations: organization | all every each everyone everybody everything:"
    " all | any anyone anybody: any"
) | {word: word for word in _words(
    "company team organization department family household enterprise business workspace "
    "personal shared joint partner only both")}  # fmt: skip
_STOPWORDS: Final = _words(
    "a an the and or but if then so of to in on at by for with without from into onto over under "
    "about as is are was were be been being am do does did doing have has had having can could "
    "may might must shall should will would i me my mine you your yours he him his she her hers "
    "it its we us our they them their this that these those what which who whom whose when where "
    "why how there here not no yes please thanks thank hi hello hey dear ok okay sir madam mr mrs "
    "ms dr also just very too more most some any all each every both either neither than such "
    "same other another let lets get got make like want need know tell give show find help "
    "explain describe list compare write"
)
_ENGLISH: Final = _STOPWORDS - _words("a an in on no so me he hi ok okay dr mr list also")
_FOREIGN: Final = _words(  # frequent words of other languages, not of English
    "el la los las del que qué cómo por para con una es está mi su de le les des du est et pour "
    "avec une mon ma mes pas der die das und ist wie ich mein nicht il lo gli per che è com você "
    "não är och jag het"
)
_TITLE_WORDS: Final = _STOPWORDS - {"i"}  # capitalised mid-sentence: Title Case
_COMMON_CAPS: Final = _words("i i'm i've i'd i'll ok okay am pm hi hello hey dear please thanks")
_AXES: Final = """
session: log_in sign_in login logon signin = log_out sign_out logout logoff signout = sign_up
signup; power: turn_on switch_on power_on plug_in = turn_off switch_off power_off unplug shut_down;
opt: opt_in optin = opt_out optout; check: check_in checkin clock_in = check_out checkout clock_out;
zoom: zoom_in scale_up = zoom_out scale_down; open: open reopen = close shut closure; with: with =
without; time: before earlier prior previously within = after later afterwards; change: increase
raise rise rose risen grow grew grown boost up = decrease reduce lower cut drop fall fell fallen
shrink shrank decline down; trade: buy bought purchase = sell sold; gain: gain win won profit earn
earned = lose lost loss; membership: add insert include attach = remove delete exclude detach erase;
permission: enable activate allow permit unblock = disable deactivate block deny forbid prohibit ban
disallow; decision: accept approve confirm grant = reject decline refuse deny; run: start begin
began begun launch resume = stop end finish halt terminate quit pause suspend; subscription:
subscribe renew = unsubscribe cancel; install: install = uninstall; link: connect link = disconnect
unlink; lock: lock = unlock; transfer: upload = download; crypt: encrypt encode compress zip =
decrypt decode decompress unzip; flow: push = pull; give: send sent give gave given lend lent =
receive get got gotten borrow; port: import = export; money: deposit = withdraw withdrew withdrawal;
ledger: debit = credit; charge: charge pay = refund; travel: arrive arrival arrivals inbound
incoming = depart departure departures outbound outgoing; extreme: max maximum most highest largest
biggest longest tallest = min minimum least lowest smallest shortest; amount: more greater larger
bigger longer higher above over exceed = less fewer smaller shorter below under; price: cheap
cheaper cheapest inexpensive affordable = expensive costly pricier priciest; speed: fast faster
fastest quick quicker quickly = slow slower slowest slowly; heat: hot warm warmer warmest heat
heating = cold colder coldest cool cooler cooling freeze; quality: good better best positive benefit
advantage = bad worse worst negative harm harmful disadvantage; safety: safe safely secure legal =
unsafe dangerous insecure illegal risky; possibility: possible able = impossible unable;
availability: available = unavailable; validity: valid = invalid; truth: true correct = false
incorrect wrong; need: required mandatory necessary = optional unnecessary; visibility: public
visible = private hidden invisible; place: internal inside indoor indoors = external outside outdoor
outdoors; position: first = last final; age: old older oldest = new newer newest latest recent;
side: left = right; ns: north northern = south southern; ew: east eastern = west western; grade:
upgrade = downgrade; sex: male man men boy boys = female woman women girl girls; result: pass passed
succeed succeeded success successful = fail failed failure unsuccessful; staff: hire hired employ
onboard = fire fired dismiss dismissed layoff; enrol: join enroll enrol register = leave quit
unenroll unregister; agree: agree = disagree; state: online = offline; sync: sync synchronous =
async asynchronous; io: input read = output write; case: uppercase = lowercase; region: domestic
local = international foreign global; size: big large huge = small tiny; timing: early = late;
level: full = empty; length: long longer longest tall taller tallest = short shorter shortest; life:
alive = dead; wet: wet = dry; follow: follow = unfollow; mute: mute = unmute; include: inclusive =
exclusive; expand: expand maximize = collapse minimize; modal: can could may might = should must
ought need; person: adult adults = child children kid kids minor minors infant infants baby babies
"""


def _axes(spec: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """word (or `verb_particle`) -> ((axis, pole), ...); a word may sit on several axes."""
    out: dict[str, set[tuple[str, str]]] = {}
    for entry in " ".join(spec.split()).split(";"):  # "axis: plus words = minus words; ..."
        axis, _, poles = entry.strip().partition(":")
        for pole, words in enumerate(poles.split("=")):
            for word in words.split():
                verb, _, particle = word.partition("_")
                for form in _inflections(verb) if len(word) > 3 and len(verb) > 2 else (verb,):
                    key = f"{form}_{particle}" if particle else form
                    out.setdefault(key, set()).add((axis, "+-~"[pole]))
    return {word: tuple(sorted(poles)) for word, poles in out.items()}


def _inflections(word: str) -> Iterable[str]:
    yield from (word, word + "s", word + "es", word + "ed", word + "d", word + "ing")
    if word.endswith("e"):
        yield word[:-1] + "ing"
    if word.endswith("y"):
        yield from (word[:-1] + "ies", word[:-1] + "ied")
    if len(word) > 2 and word[-1] not in "aeiouwy" and word[-2] in "aeiou":
        yield from (word + word[-1] + "ed", word + word[-1] + "ing")


_POLARITY: Final = _axes(_AXES)
_PHRASAL: Final = frozenset(key.partition("_")[0] for key in _POLARITY if "_" in key)


_MONTH_RE: Final = (  # "may" and "march" are verbs too: as months next to a number, capitalised
    "|".join(sorted(set(_MONTHS) - _VERB_MONTHS, key=len, reverse=True))
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
    {"a"}
    | set(_NUMBER_CLASS)
    | _DATE_TRIGGERS
    | set(_POLARITY)
    | _PHRASAL
    | set(_SCOPE)
    | set(_ROLES)
)
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


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One disagreement: the check (numbers, counts, dates, identifiers, entities, entity_order,
    roles, negation, polarity, scope) and what only the query or only the cached text has."""

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
    if not word or word in _STOPWORDS or word in _NUMBER_CLASS:
        return None
    plural = len(word) > 3 and word.endswith("s") and not word.endswith("ss")
    return _NOUN_ALIASES.get(word) or (word[:-1] if plural else word)


def _next_noun(text: str, at: int) -> str | None:
    following = _NEXT_WORD.match(text, at)
    return _noun(following.group(1).lower()) if following else None


def _hour(hour: str, minute: str | None, half: str | None) -> str:
    h = int(hour) % 12 + (12 if half.lower() == "p" else 0) if half else int(hour)
    return f"time:{h}:{int(minute or 0):02d}"


def _date(year: str | None, month: str | int, day: str | None) -> str:
    m = month if isinstance(month, int) else _MONTHS[month.lower()]
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
        return _amount(text, (start, end), g("mnum"), scan, _CURRENCY[g("sym")])
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
        currency, start = _CURRENCY[code.group("c").lower()], code.start("c")
    scale = 1
    if after := _AFTER_NUMBER.match(text, end):
        end = after.end()
        scale = _SCALES.get((after.group("scale") or "").lower(), 1)
        word = (after.group("cur") or after.group("cur2") or "").lower()
        if after.group("pct"):
            currency = "%"
        elif word:
            currency = _CURRENCY.get(word, _CURRENCY.get(word.rstrip("s"), ""))
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
                word = _N_T.get(word[:-1], word[:-1])
            elif suffix == "s" and word not in _S_IS:
                out.possessive.add(len(words))
        elif word == "cannot":
            negations += 1
            word = "can"
        elif piece == "&":
            word = "and"
        if word in _NEGATIONS:
            negations += 1
        elif word in _SUBORDINATORS and words:
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
        kind = _NUMBER_CLASS.get(word)
        if kind is None or f"{last}>{kind}" not in _GRAMMAR:
            if word == "and" and last in ("hundred", "scale") and following in _NUMBER_CLASS:
                last, j = "and", j + 1
                continue
            if word == "a" and not last and following in ("hundred", "dozen", *_SCALES):
                last, j = "a", j + 1
                continue
            break
        if kind == "scale":
            total, current = total + (current or 1) * _SCALES[word], 0
        elif kind in ("hundred", "dozen"):
            current = (current or 1) * (100 if kind == "hundred" else 12)
        else:
            current += _NUMBER_VALUE[word]
        last, j = "unit" if kind == "dozen" else kind, j + 1
        if kind == "ord":
            break
    return (i if last in ("a", "and") else j), total + current, last == "ord"


def _number_words(words: list[str], i: int, scan: _Scan) -> int:
    """Read the number words at word i into `scan`; returns the index after them."""
    j, value, ordinal = _parse_number(words, i)
    previous, following = words[i - 1] if i else "", words[j] if j < len(words) else ""
    one = j - i == 1 and words[i] == "one" and (previous in _NOT_ONE or not _noun(following))
    if j == i or one:
        return j
    if ordinal:
        scan.number(str(value), "ord", _noun(following))
    elif following in ("percent", "pct") or (following, words[j + 1 : j + 2]) == ("per", ["cent"]):
        scan.number(str(value), "%")
    else:
        kind = _CURRENCY.get(following, "")
        scan.number(str(value), kind, None if kind else _noun(following))
    return j


def _date_word(w: _Words, i: int) -> str | None:
    word = w.words[i]
    following = w.words[i + 1] if i + 1 < len(w.words) else ""
    if word in _WEEKDAYS:
        return "day:" + _WEEKDAYS[word]
    if word in _DAY_WORDS:
        return _DAY_WORDS[word]
    if word in _RELATIVE and (following in _PERIODS or following in _WEEKDAYS):
        return f"rel:{word} {_WEEKDAYS.get(following, following)}"
    named = w.raws[i][0].isupper() and not w.initial[i]  # "in May", not "May I"
    if word in _MONTHS and (word not in _VERB_MONTHS or named):
        return f"month:{_MONTHS[word]}"
    return None


def _name_at(w: _Words, i: int) -> bool:
    raw = w.raws[i]
    inner = len(raw) > 1 and any(c.isupper() for c in raw[1:])  # acronyms, iPhone
    if not (raw[0].isupper() or inner) or raw.lower() in _COMMON_CAPS:
        return False
    return w.words[i] not in _STOPWORDS and (inner or not w.initial[i])  # a sentence's first word


def _entities(w: _Words, skip: set[int]) -> set[str]:
    """Runs of capitalised words, not function or date words; none in Title Case or SHOUTING."""
    caps = [i for i, raw in enumerate(w.raws) if not raw.islower() and raw != "\x00"]
    function_words = [i for i in caps if not w.initial[i] and w.words[i] in _TITLE_WORDS]
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
    i = 0
    while i < n:
        word = words[i]
        if word not in _READ and i not in w.possessive:
            i += 1
            continue
        if (word in _NUMBER_CLASS or word == "a") and (j := _number_words(words, i, scan)) > i:
            scan.used.update(range(i, j))
            i = j
            continue
        if word in _DATE_TRIGGERS and (date := _date_word(w, i)):
            scan.dates.add(date)
            scan.used.add(i)
        scan.polarity.update(_POLARITY.get(word, ()))
        if word in _PHRASAL and i + 1 < n:  # log in, turn off
            scan.polarity.update(_POLARITY.get(f"{word}_{words[i + 1]}", ()))
        if word in _SCOPE:
            scan.scope.add(_SCOPE[word])
        if i in w.possessive and word in _RELATIONS:
            scan.scope.add("of:" + (_noun(word) or word))
        if word in _ROLES:
            k = i + 1
            while k < n and words[k] in _ARTICLES:
                k += 1
            if k < n and w.clauses[k] == w.clauses[i]:
                roles[k] = _ROLES[word]
                if words[k] not in _STOPWORDS and words[k] != "\x00":
                    scan.tagged.add((words[k], _ROLES[word]))
        i += 1
    return roles


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
    w = _tokenize(text)
    roles = _read_words(w, scan)
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
    )


def _language(words: list[str]) -> str:
    english, foreign = sum(w in _ENGLISH for w in words), sum(w in _FOREIGN for w in words)
    return "other" if foreign >= 2 and not english else "en" if english and not foreign else ""


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
        if groups and all(w in _COORDINATION for w in f.words[groups[-1][0] : start]):
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
    in_q = {name for name in names if f" {name} " in q_text}
    in_c = {name for name in names if f" {name} " in c_text}
    if in_q != in_c:
        found.append(Mismatch("entities", tuple(sorted(in_q - in_c)), tuple(sorted(in_c - in_q))))
    if len(shared := in_q & in_c) >= 2:
        q, c = _order(query, shared), _order(cached, shared)
        if q != c:
            found.append(Mismatch("entity_order", tuple(map(str, q)), tuple(map(str, c))))


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


def compare(query: TextFeatures, cached: TextFeatures) -> GuardVerdict:
    """Every check; each disagreement with what only one side has."""
    found: list[Mismatch] = []
    _differ(found, "numbers", query.numbers, cached.numbers)
    _counts(found, query, cached)
    _differ(found, "dates", query.dates, cached.dates)
    _differ(found, "identifiers", query.identifiers, cached.identifiers)
    _names(found, query, cached)
    _roles(found, query, cached)
    if query.negations != cached.negations:
        found.append(Mismatch("negation", (str(query.negations),), (str(cached.negations),)))
    _polarity(found, query, cached)
    _differ(found, "scope", query.scope, cached.scope)
    if query.language != cached.language and query.language and cached.language:
        found.append(Mismatch("language", (query.language,), (cached.language,)))
    return GuardVerdict(tuple(found))


def check(query: str, cached: str) -> GuardVerdict:
    """May the answer cached for `cached` be served for `query`?"""
    return compare(analyze(query), analyze(cached))
