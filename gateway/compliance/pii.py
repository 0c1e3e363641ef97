"""PII in prompts and responses: emails, phones, payment cards, IBANs, US SSNs, IP addresses.

Precision comes from validation after the match, not from a cleverer regex: a card must pass
Luhn and an issuer range (`checksums.card_valid`), an IBAN its mod-97 check, an SSN the SSA's
issued ranges, an IP the `ipaddress` parser. What no checksum can settle is settled by context:
`v1.2.3.4` and `version 1.2.3.4` are versions, not addresses; a bare ten-digit run is a phone
number only next to a word like "phone" or "call", and a formatted one is not a phone number
right after "order #" or "invoice no.". When two findings overlap, the better validated wins.

Fast on prose: one pass finds the runs of digits and separators (every card, SSN, IPv4 and
phone number lies inside one), and the patterns for those types run only on the runs long
enough to hold them, chosen by their digit count; emails are looked for from each `@`, IPv6
addresses around each `::`, IBANs by a pattern that starts with two capitals and two digits.
Patterns compile once at import. Organisation-specific identifiers come in as `CustomPattern`s.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from gateway.compliance.checksums import (
    IBAN_LENGTHS,
    card_issuer,
    iban_valid,
    luhn_valid,
    ssn_valid,
)
from gateway.compliance.findings import Finding
from gateway.compliance.phones import national_format, national_pattern, phones_in

DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """An organisation's own identifier (employee number, patient ID): name, regex, confidence.

    The regex compiles once, when the pattern is built; a finding's type is `name`.
    """

    name: str
    regex: str | re.Pattern[str]
    confidence: float = 0.8
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.confidence <= 1:
            raise ValueError(f"confidence of {self.name!r} must be in (0, 1]: {self.confidence}")
        compiled = self.regex if isinstance(self.regex, re.Pattern) else re.compile(self.regex)
        object.__setattr__(self, "compiled", compiled)


_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

# Card candidates: a contiguous run, 4-4-4-4(-1..3) groups, or Amex/Diners 4-6-5 / 4-6-4; not
# the tail of a longer number (a word character, dot, slash or hyphen, or a digit and a comma
# right before), but a comma alone is fine: a CSV cell.
_CARD = re.compile(
    r"(?<![\w./-])(?<!\d,)(?:"
    r"\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5}"
    r")(?![\w-]|[.,/]\d)"
)

# Compact, or printed in groups of four: the space is required between groups, so a long run of
# capitals cannot be split in exponentially many ways when the match fails.
_IBAN = re.compile(
    r"[A-Z][A-Z]\d\d(?<![\w-]....)(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)"
    r"(?![\w-])"
)

_SSN = re.compile(r"(?<![\w.-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-]|[.,]\d)")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?|ss#)\W{0,4}$")

_IPV4 = re.compile(
    r"(?<![\w.-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?:/\d{1,2})?(?![\w-]|\.\d)"
)
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\brel\.?|\bbuild|\bfirmware|\bfw|\brev\.?"
    r"|\brevision|\bpatch|\bupgrade to|\bbump(?:ed)? to|==|>=|<=|~=|\bsection|\bchapter|\bclause"
    r"|\bstep|\bitem|\bart(?:icle|\.)|\bparagraph|\bfigure|\btable|\boid|§)\s*[:=]?\s*$"
    r"|(?<![/\w])[A-Za-z][\w-]*/$"  # a product and its version: `nginx/1.25.3.1`, `curl/7.68.0.1`
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%\w+)?(?![\w:]|\.\d)"
)


# A run of digits and the separators numbers are written with: every card, SSN, IPv4 address
# and phone number lies in one (plus a `(` or `+` just before it). The shortest, `1.1.1.1`, is 7.
_NUMERIC_RUN = re.compile(r"\d[\d ().+/-]{6,}")


def _ascii_twin(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """`pattern` with `re.ASCII`, for ASCII text: there `\\d` and `\\w` mean what they mean
    without it, and `re` tests them about three times faster (no Unicode lookup per character).
    The scans that read the whole text use it; the ones in short windows need not."""
    return re.compile(pattern.pattern, (pattern.flags & ~re.UNICODE) | re.ASCII)


_NUMERIC_RUN_ASCII = _ascii_twin(_NUMERIC_RUN)
_IBAN_ASCII = _ascii_twin(_IBAN)
_SEPARATORS = " ().+/-"
_EMAIL_LOCAL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"

# A bare digit run right after one of these labels is that thing's number, not a card.
_NUMBER_LABEL = re.compile(
    r"(?i)\b(?:order|invoice|tracking|shipment|parcel|package|ticket|booking|confirmation|isbn"
    r"|serial|imei|reference|ref|transaction|txn|id)\b[\s.:#-]*(?:no\.?|num(?:ber)?|#|id)?"
    r"[\s.:#-]*$"
)
# `user@host` inside a URL (`https://token@github.com`, `mysql://root:pw@db`) is no address.
_URL_USERINFO = re.compile(r"[a-zA-Z][\w+.-]*://[^\s/@]*$")
# `icon@2x.png`: an asset name at a pixel density, and file extensions that are no TLDs.
_NOT_EMAIL_DOMAIN = re.compile(
    r"(?i)^\d+(?:\.\d+)?x\.|\.(?:png|jpe?g|gif|webp|svg|ico|bmp|tiff?|pdf|js|ts|css|json|ya?ml"
    r"|txt|html?|lock|py|rb|go|rs|java|zip|gz|tar)$"
)

Span = tuple[int, int]


def _before(text: str, start: int, width: int = 40) -> str:
    return text[max(0, start - width) : start]


def _cards(text: str, pos: int, endpos: int, shapes: list[Span]) -> Iterator[Finding]:
    """Cards; every card-shaped run, valid or not, goes to `shapes` (no phone inside it)."""
    for m in _CARD.finditer(text, pos, endpos):
        shapes.append(m.span())
        digits = m.group().replace(" ", "").replace("-", "")
        issuer = card_issuer(digits)
        if issuer is None or not luhn_valid(digits):
            continue
        if len(digits) == len(m.group()) and _NUMBER_LABEL.search(_before(text, m.start(), 32)):
            continue
        confidence = 0.95 if len(digits) != len(m.group()) else 0.9
        yield Finding("payment_card", m.start(), m.end(), confidence, f"card_{issuer}", "pii")


def _ibans(text: str, shapes: list[Span]) -> Iterator[Finding]:
    """IBANs; every IBAN-shaped run of a known country goes to `shapes`, valid or not."""
    for m in (_IBAN_ASCII if text.isascii() else _IBAN).finditer(text):
        raw = m.group()
        compact = raw.replace(" ", "")
        # The greedy match may run on into a following word; cut it at the country's length,
        # which must fall on a group boundary of the text.
        length = IBAN_LENGTHS.get(compact[:2])
        if length is None:
            continue
        shapes.append(m.span())
        if len(compact) < length:
            continue
        seen = 0
        end = m.start()
        for i, ch in enumerate(raw):
            if ch != " ":
                seen += 1
            if seen == length:
                end = m.start() + i + 1
                break
        if end < m.end() and text[end] != " ":
            continue
        if iban_valid(compact[:length]):
            yield Finding("iban", m.start(), end, 0.97, "iban_mod97", "pii")


def _ssns(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    for m in _SSN.finditer(text, pos, endpos):
        area, separator, group, serial = m.groups()
        if not ssn_valid(area, group, serial):
            continue
        if separator:
            conf = 0.9 if separator == "-" else 0.75
            yield Finding("us_ssn", m.start(), m.end(), conf, "ssn_ranges", "pii")
        elif _SSN_CONTEXT.search(_before(text, m.start(), 30)):  # nine bare digits: by context
            yield Finding("us_ssn", m.start(), m.end(), 0.85, "ssn_context", "pii")


def _ipv4s(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    for m in _IPV4.finditer(text, pos, endpos):
        if _VERSION_CONTEXT.search(_before(text, m.start(), 24)):
            continue
        yield Finding("ip_address", m.start(), m.end(), 0.9, "ipv4", "pii")


def _ipv6_windows(text: str) -> list[Span]:
    """Where an IPv6 address can be: around each `::`, and around each seven colons that fit in
    the 39 characters of a full-form address (merged when they overlap)."""
    colons: list[int] = []
    at = text.find(":")
    while at != -1:
        colons.append(at)
        at = text.find(":", at + 1)
    windows = [(c - 45, c + 50) for c, d in itertools.pairwise(colons) if d == c + 1]
    windows += [(c - 5, d + 6) for c, d in zip(colons, colons[6:], strict=False) if d - c <= 38]
    merged: list[Span] = []
    for a, b in sorted(windows):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(max(0, a), min(len(text), b)) for a, b in merged]


def _ipv6s(text: str) -> Iterator[Finding]:
    matches = (m for a, b in _ipv6_windows(text) for m in _IPV6.finditer(text, a, b))
    for m in matches:
        candidate = m.group().split("%", 1)[0]
        groups = [g for g in candidate.split(":") if g]
        # `a::b` in prose and C++ `std::x` are not addresses: at least three parts or a digit run
        digits = any(g.replace(".", "").isdigit() for g in groups)
        if len(groups) < 2 or (len(groups) < 3 and not digits):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield Finding("ip_address", m.start(), m.end(), 0.9, "ipv6", "pii")


def _emails(text: str) -> Iterator[Finding]:
    at = text.find("@")
    while at != -1:
        # the local part: the run of its characters before the `@` (at most 65 back)
        before = text[max(0, at - 65) : at]
        start = at - (len(before) - len(before.rstrip(_EMAIL_LOCAL)))
        m = _EMAIL.match(text, start) if start < at else None
        at = text.find("@", at + 1)
        if m is None:
            continue
        domain = m.group().rsplit("@", 1)[1]
        if _NOT_EMAIL_DOMAIN.search(domain) or _in_url(text, m.start()):
            continue
        yield Finding("email", m.start(), m.end(), 0.95, "email", "pii")


def _in_url(text: str, start: int) -> bool:
    """`start` is in the user-info part of a URL (`https://token@host`)."""
    before = _before(text, start, 80)
    return "://" in before and _URL_USERINFO.search(before) is not None


def _custom(text: str, patterns: Sequence[CustomPattern]) -> Iterator[Finding]:
    for pattern in patterns:
        for m in pattern.compiled.finditer(text):
            if m.end() > m.start():
                yield Finding(
                    pattern.name, m.start(), m.end(), pattern.confidence, f"custom:{pattern.name}",
                    "pii",
                )  # fmt: skip


def _numeric(
    text: str, national: re.Pattern[str] | None, shapes: list[Span], found: list[Finding]
) -> list[Finding]:
    """Cards, SSNs and IPv4 addresses into `found`; returns the phone findings, which the caller
    filters against `shapes` (card- and IBAN-shaped runs) once all of those are known."""
    phones: list[Finding] = []
    n = len(text)
    for run in (_NUMERIC_RUN_ASCII if text.isascii() else _NUMERIC_RUN).finditer(text):
        chunk = run.group()
        digits = len(chunk) - sum(map(chunk.count, _SEPARATORS))
        if digits < 4:
            continue
        pos, endpos = max(0, run.start() - 1), min(n, run.end() + 2)
        card_shaped = False
        if digits >= 13:
            known = len(shapes)
            found.extend(_cards(text, pos, endpos, shapes))
            # a card shape over all the run's digits: every phone in it would be dropped
            last = run.start() + len(chunk.rstrip(_SEPARATORS))
            card_shaped = any(a <= run.start() and b >= last for a, b in shapes[known:])
        if digits >= 9:
            found.extend(_ssns(text, pos, endpos))
        if "." in chunk:
            found.extend(_ipv4s(text, pos, endpos))
        plus = digits >= 8 and "+" in text[pos:endpos]
        if (digits >= 10 or plus) and not card_shaped:
            phones.extend(
                phones_in(text, pos, endpos, national if digits >= 10 else None, plus=plus)
            )
    return phones


# Overlaps: the better validated finding keeps the span (a card beats the phone-shaped run of
# its digits, an IBAN beats the digits inside it).
_PRIORITY = {"payment_card": 0, "iban": 1, "us_ssn": 2, "email": 3, "ip_address": 4, "phone": 5}


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep, of overlapping findings, the one with the best (priority, confidence, length);
    of equal ones, the one listed first.

    Greedy in rank order, one cluster of transitively overlapping findings at a time: findings
    of different clusters never overlap, so the choice inside one does not depend on another's,
    and a finding that overlaps nothing (most of them) is kept without a comparison.
    """
    kept: list[Finding] = []
    cluster: list[int] = []
    reach = -1
    for i in sorted(range(len(findings)), key=lambda i: (findings[i].start, findings[i].end)):
        f = findings[i]
        if cluster and f.start >= reach:
            kept.extend(_resolve_cluster(findings, cluster))
            cluster = []
        reach = max(reach, f.end) if cluster else f.end
        cluster.append(i)
    kept.extend(_resolve_cluster(findings, cluster))
    kept.sort(key=lambda f: (f.start, f.end))
    return kept


def _resolve_cluster(findings: list[Finding], cluster: list[int]) -> list[Finding]:
    """The greedy choice among overlapping findings (indices into `findings`)."""
    if len(cluster) == 1:
        return [findings[cluster[0]]]
    ranked = sorted(
        cluster,
        key=lambda i: (
            _PRIORITY.get(findings[i].type, 9), -findings[i].confidence,
            findings[i].start - findings[i].end, i,
        ),
    )  # fmt: skip
    kept: list[Finding] = []
    for f in (findings[i] for i in ranked):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return kept


def scan_pii(
    text: str,
    *,
    regions: Sequence[str] = DEFAULT_REGIONS,
    custom: Sequence[CustomPattern] = (),
) -> list[Finding]:
    """Every validated PII finding in `text`, by span, ordered by position, overlaps resolved.

    `regions` picks the national phone formats (E.164 numbers are found for every region);
    a region without a format is a ValueError (`phones.national_format` checks one up front).
    """
    national = national_pattern(list(dict.fromkeys(national_format(r) for r in regions)))
    found: list[Finding] = list(_emails(text))
    shapes: list[Span] = []
    found.extend(_ibans(text, shapes))
    phones = _numeric(text, national, shapes, found)
    found.extend(f for f in phones if all(f.end <= a or f.start >= b for a, b in shapes))
    found.extend(_ipv6s(text))
    found.extend(_custom(text, custom))
    return resolve_overlaps(found)
