"""Check digits and number ranges that separate real identifiers from look-alikes.

A regex finds sixteen digits; only arithmetic says whether they can be a payment card. Presidio's
users report 13-digit millisecond timestamps matched as cards: a timestamp starts with `1`, which
no issuer in the table below uses, and that is why a candidate must pass BOTH the Luhn check and
an issuer range with that issuer's lengths. The same idea for IBANs (mod 97 and the length each
country registered) and US SSNs (the ranges the SSA never issues). Pure functions over strings.
"""

from __future__ import annotations

from dataclasses import dataclass


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries in its last digit."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class _IssuerRange:
    issuer: str
    low: int
    high: int
    lengths: frozenset[int]

    @property
    def width(self) -> int:
        return len(str(self.low))


def _r(issuer: str, low: int, high: int, *lengths: int) -> _IssuerRange:
    return _IssuerRange(issuer, low, high, frozenset(lengths))


_SIXTEEN_TO_19 = (16, 17, 18, 19)

# Issuer identification number ranges (ISO/IEC 7812 prefixes as the networks publish them), most
# specific first: the first range whose prefix and length both fit names the issuer.
_ISSUERS: tuple[_IssuerRange, ...] = (
    _r("discover", 622126, 622925, *_SIXTEEN_TO_19),
    _r("mir", 2200, 2204, *_SIXTEEN_TO_19),
    _r("mastercard", 2221, 2720, 16),
    _r("jcb", 3528, 3589, *_SIXTEEN_TO_19),
    _r("maestro", 5018, 5018, *range(12, 20)),
    _r("maestro", 5020, 5020, *range(12, 20)),
    _r("maestro", 5038, 5038, *range(12, 20)),
    _r("maestro", 5893, 5893, *range(12, 20)),
    _r("maestro", 6304, 6304, *range(12, 20)),
    _r("maestro", 6759, 6759, *range(12, 20)),
    _r("maestro", 6761, 6763, *range(12, 20)),
    _r("discover", 6011, 6011, *_SIXTEEN_TO_19),
    _r("diners", 300, 305, 14, *_SIXTEEN_TO_19),
    _r("discover", 644, 649, *_SIXTEEN_TO_19),
    _r("rupay", 508, 508, 16),
    _r("amex", 34, 34, 15),
    _r("amex", 37, 37, 15),
    _r("diners", 36, 36, 14, *_SIXTEEN_TO_19),
    _r("diners", 38, 39, 14, *_SIXTEEN_TO_19),
    _r("mastercard", 51, 55, 16),
    _r("unionpay", 62, 62, *_SIXTEEN_TO_19),
    _r("discover", 65, 65, *_SIXTEEN_TO_19),
    _r("rupay", 60, 60, 16),
    _r("rupay", 81, 82, 16),
    _r("visa", 4, 4, 13, 16, 19),
)


def card_issuer(digits: str) -> str | None:
    """The network whose prefix range and lengths fit `digits`, or None (not a card number)."""
    if not digits.isdigit():
        return None
    n = len(digits)
    for rng in _ISSUERS:
        if n in rng.lengths and rng.low <= int(digits[: rng.width]) <= rng.high:
            return rng.issuer
    return None


def card_valid(digits: str) -> bool:
    """A payment card number: an issuer's range and length, and the Luhn check."""
    return card_issuer(digits) is not None and luhn_valid(digits)


# IBAN lengths per country, from the SWIFT IBAN registry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_mod97(iban: str) -> int:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97."""
    rearranged = iban[4:] + iban[:4]
    total = 0
    for ch in rearranged:
        value = ord(ch) - 48 if ch.isdigit() else ord(ch) - 55
        total = (total * (100 if value > 9 else 10) + value) % 97
    return total


def iban_valid(iban: str) -> bool:
    """An IBAN (no spaces, upper case): a registered country, its length, check digits == 1."""
    if len(iban) < 5 or not iban.isascii() or not iban.isalnum() or not iban.isupper():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None or len(iban) != expected or not iban[2:4].isdigit():
        return False
    return iban_mod97(iban) == 1


# Numbers the SSA published in advertising and that were never anyone's: they circulate widely.
_SSN_PUBLICISED = frozenset({"078051120", "219099999", "457555462"})


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """A US SSN the SSA can have issued: not area 000, 666 or 9xx, group 00 or serial 0000."""
    if not (len(area) == 3 and len(group) == 2 and len(serial) == 4):
        return False
    if not (area + group + serial).isdigit():
        return False
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in _SSN_PUBLICISED
