"""Phone numbers: E.164 for every country, national formats for the configured regions.

Phone numbers have no check digit, so the line between a phone number and an order number is
drawn by shape and context, in three tiers:
- `+<country code> ...` (E.164, a valid ITU country code, 8 to 15 digits) is a phone number;
- a national number written the way that country writes phone numbers (grouped, with the trunk
  prefix or area code in its place) is one too, unless "order #", "invoice no." or the like sits
  right before it;
- a bare run of digits of the right length is one only next to a word like "phone" or "call".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gateway.compliance.findings import Finding

# ITU country codes are prefix-free: 1 and 7 stand alone, these pairs are two-digit codes, and
# every code starting with one of the three-digit prefixes is three digits long.
_CC2 = frozenset(
    {
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    }
)  # fmt: skip
_CC3_PREFIX = frozenset(
    {
        "21", "22", "23", "24", "25", "26", "29", "35", "37", "38", "42", "50", "59", "67", "68",
        "69", "80", "85", "87", "88", "96", "97", "99",
    }
)  # fmt: skip

_END = r"(?![\w]|[.-]?\d)"
_START = r"(?<![\w+(./-])"

# `+` and digits: compact, or groups with a separator (or parentheses) between every two, so
# that a failing match cannot try every way of splitting a long digit run.
_E164 = re.compile(
    r"(?<![\w+])\+(?:\d{8,15}|\d{1,3}(?:[ .-]?\((?:0|\d{1,5})\)[ .-]?|[ .-])\d{1,12}"
    r"(?:[ .-]\d{1,12}|[ .-]?\(\d{1,5}\)){0,5})" + _END
)


@dataclass(frozen=True, slots=True)
class _National:
    """A region's written phone formats (formatted, bare digits) and its digit count range."""

    region: str
    formatted: str
    bare: str
    digits: tuple[int, int]


def _national(region: str, formatted: str, bare: str, digits: tuple[int, int]) -> _National:
    return _National(region, formatted, bare, digits)


_NATIONAL: dict[str, _National] = {
    "US": _national(
        "US",
        r"(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}",
        r"1?[2-9]\d{2}[2-9]\d{6}",
        (10, 11),
    ),
    "GB": _national(
        "GB",
        r"(?:\(0[1-37-9]\d{1,3}\) ?|0[1-37-9]\d{1,3}[ -])\d{3,4}[ -]?\d{3,4}",
        r"0[1-37]\d{8,9}",
        (10, 11),
    ),
    "DE": _national(
        "DE",
        r"(?:\(0[1-9]\d{1,4}\) ?|0[1-9]\d{1,4}(?: ?/ ?|[ -]))\d{2,8}(?:[ -]\d{1,6})?",
        r"0[1-9]\d{8,11}",
        (10, 12),
    ),
    "FR": _national(
        "FR", r"0[1-9](?P<sep>[ .-])\d{2}(?:(?P=sep)\d{2}){3}", r"0[1-9]\d{8}", (10, 10)
    ),
    "IN": _national(
        "IN",
        r"(?:0|91[ -]?)?[6-9]\d{4}[ -]\d{5}|0\d{2,4}[ -]\d{6,8}",
        r"(?:0|91)?[6-9]\d{9}",
        (10, 12),
    ),
}

_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|telephone|tel|call|calling|mobile|cell|cellphone|fax|contact|whatsapp|sms"
    r"|text|reach|ring|dial|hotline|helpline|t[ée]l[ée]phone|t[ée]l|portable|telefon|handy"
    r"|mobil|rufnummer|ph|mob)\b"
)
_NOT_PHONE_CONTEXT = re.compile(
    r"(?i)(?:\b(?:order|invoice|inv|ref|reference|tracking|account|acct|po|sku|ticket|case|id"
    r"|serial|part|transaction|txn|confirmation|booking|customer|policy|claim|receipt|item"
    r"|model|batch|lot|isbn|shipment|parcel|package|rma|return|awb|waybill|consignment|docket"
    r"|voucher|coupon|member|membership|loyalty|licen[cs]e|permit|patient|mrn|employee|student)"
    r"\b[\s.:#-]*(?:no\.?|num(?:ber)?|#|id)?[\s.:#-]*|#\s*)$"
)


# What a phone match holds besides digits: separators, parentheses, the `+`.
_NOT_DIGITS = str.maketrans("", "", " .-()/+")


def _digit_count(s: str) -> int:
    """Digits in a phone match (which holds only digits and `_NOT_DIGITS`)."""
    return len(s.translate(_NOT_DIGITS))


def _country_code_valid(digits: str) -> bool:
    return digits[0] in "17" or digits[:2] in _CC2 or digits[:2] in _CC3_PREFIX


def _e164(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    for m in _E164.finditer(text, pos, endpos):
        digits = m.group().replace("(0)", "").translate(_NOT_DIGITS)
        if 8 <= len(digits) <= 15 and _country_code_valid(digits):
            yield Finding("phone", m.start(), m.end(), 0.9, "phone_e164", "pii")


def _context(text: str, start: int) -> tuple[bool, bool]:
    """(a phone word shortly before, an order/invoice/reference label right before)."""
    before = text[max(0, start - 40) : start]
    return bool(_PHONE_CONTEXT.search(before)), bool(_NOT_PHONE_CONTEXT.search(before[-24:]))


def national_pattern(formats: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern for the national formats of these regions (codes from `national_format`):
    group `<CODE>_f` a formatted number, `<CODE>_b` bare digits. One pass instead of two per
    region; where two regions' formats match at the same place, the first region listed names
    the rule. `re` keeps the compiled pattern in its own cache.
    """
    if not formats:
        return None
    branches = "|".join(
        f"(?P<{code}_f>{_NATIONAL[code].formatted})|(?P<{code}_b>{_NATIONAL[code].bare})"
        for code in formats
    )
    return re.compile(f"{_START}(?:{branches}){_END}")


def _regional(text: str, pattern: re.Pattern[str], pos: int, endpos: int) -> Iterator[Finding]:
    for m in pattern.finditer(text, pos, endpos):
        code, kind = str(m.lastgroup).split("_")
        rule = f"phone_{code.lower()}"
        phone_word, label = _context(text, m.start())
        if kind == "b":  # bare digits: a phone number only next to a phone word
            if phone_word and not label:
                yield Finding("phone", m.start(), m.end(), 0.7, rule + "_context", "pii")
            continue
        if label:
            continue
        match = _in_range(text, m, code, pattern, endpos)
        if match is not None:
            end, rule = match.end(), f"phone_{str(match.lastgroup)[:2].lower()}"
            yield Finding("phone", m.start(), end, 0.9 if phone_word else 0.8, rule, "pii")


def _in_range(
    text: str, m: re.Match[str], code: str, pattern: re.Pattern[str], endpos: int
) -> re.Match[str] | None:
    """`m` if its digit count fits its region; else the first later region's formatted match at
    the same place that fits (the alternation stops at the first region whose shape matches:
    `0151 95016011` has a British shape but a German length)."""
    low, high = _NATIONAL[code].digits
    if low <= _digit_count(m.group()) <= high:
        return m
    codes = [name[:-2] for name in pattern.groupindex if name.endswith("_f")]
    for later in codes[codes.index(code) + 1 :]:
        single = re.compile(f"{_START}(?P<{later}_f>{_NATIONAL[later].formatted}){_END}")
        other = single.match(text, m.start(), endpos)
        low, high = _NATIONAL[later].digits
        if other is not None and low <= _digit_count(other.group()) <= high:
            return other
    return None


_ALIASES = {"UK": "GB"}


def national_format(region: str) -> str:
    """The region code `scan_phones` knows `region` by; ValueError for one it has no format for,
    so that a typo in a configuration fails when it is loaded, not by finding nothing.
    """
    code = _ALIASES.get(region.upper(), region.upper())
    if code not in _NATIONAL:
        known = ", ".join(sorted(_NATIONAL))
        raise ValueError(f"no national phone format for region {region!r} (known: {known})")
    return code


def phones_in(
    text: str, pos: int, endpos: int, national: re.Pattern[str] | None, *, plus: bool = True
) -> list[Finding]:
    """Phone findings in `text[pos:endpos]` (the patterns still see the text before `pos`).

    `national` comes from `national_pattern` (None: E.164 only); `plus=False` skips E.164 when
    the caller knows there is no `+` in the window. Findings may overlap; the caller resolves.
    """
    found = list(_e164(text, pos, endpos)) if plus else []
    if national is not None:
        found.extend(_regional(text, national, pos, endpos))
    return found


def scan_phones(text: str, regions: Sequence[str]) -> list[Finding]:
    """Phone findings in all of `text` for these regions (E.164 for every region)."""
    national = national_pattern([national_format(region) for region in regions])
    return phones_in(text, 0, len(text), national, plus="+" in text)
