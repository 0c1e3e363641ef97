"""Check digits and issuer ranges: what makes a digit run a card, an IBAN or an SSN."""

from __future__ import annotations

import pytest

from gateway.compliance.checksums import (
    IBAN_LENGTHS,
    card_issuer,
    card_valid,
    iban_mod97,
    iban_valid,
    luhn_valid,
    ssn_valid,
)

LUHN = [
    ("4111111111111111", True),
    ("4111111111111112", False),
    ("79927398713", True),
    ("79927398710", False),
    ("0000000000000000", True),
    ("", False),
    ("7", False),
    ("4111-1111-1111-1111", False),  # digits only: separators are the caller's job
    ("4111a11111111111", False),
]


@pytest.mark.parametrize(("digits", "expected"), LUHN)
def test_luhn(digits: str, expected: bool) -> None:
    assert luhn_valid(digits) is expected


# (number, issuer): every number here passes Luhn, so the issuer table alone decides
ISSUERS = [
    ("4111111111111111", "visa"),
    ("4012888888881881", "visa"),
    ("4222222222222", "visa"),  # the 13-digit Visa
    ("4000000000000000006", "visa"),  # 19 digits
    ("5555555555554444", "mastercard"),
    ("5105105105105100", "mastercard"),
    ("2223003122003222", "mastercard"),  # the 2-series
    ("2720000000000005", "mastercard"),
    ("378282246310005", "amex"),
    ("371449635398431", "amex"),
    ("6011111111111117", "discover"),
    ("6011000000000000001", "discover"),
    ("6221260000000000", "discover"),
    ("6229250000000003", "discover"),
    ("30569309025904", "diners"),
    ("36000000000008", "diners"),
    ("38520000023237", "diners"),
    ("3530111333300000", "jcb"),
    ("3566002020360505", "jcb"),
    ("3528000000000007", "jcb"),
    ("6200000000000005", "unionpay"),
    ("6200000000000000000", "unionpay"),
    ("6759649826438453", "maestro"),
    ("501800000009", "maestro"),
    ("2200000000000004", "mir"),
    ("6070000000000002", "rupay"),
    ("8100000000000002", "rupay"),
    ("5080000000000002", "rupay"),
]


@pytest.mark.parametrize(("digits", "issuer"), ISSUERS)
def test_issuer_ranges_accept(digits: str, issuer: str) -> None:
    assert card_issuer(digits) == issuer
    assert card_valid(digits)


# Luhn-valid digit runs that are not cards: no issuer has this prefix at this length
NOT_CARDS = [
    "1700000000004",  # a 13-digit epoch-millisecond timestamp that happens to pass Luhn
    "1699999999004",
    "2721000000000004",  # just past the Mastercard 2-series
    "5600000000000003",
    "3500000000000009",  # 35 but below JCB's 3528
    "3782822463100050",  # Amex prefix, 16 digits
    "41111111111111",  # Visa prefix, 14 digits
    "9999999999999995",
    "0000000000000000",
]


@pytest.mark.parametrize("digits", NOT_CARDS)
def test_issuer_ranges_reject(digits: str) -> None:
    assert card_issuer(digits) is None
    assert not card_valid(digits)


@pytest.mark.parametrize("digits", ["4111111111111112", "5555555555554445", "378282246310006"])
def test_card_needs_luhn_too(digits: str) -> None:
    assert card_issuer(digits) is not None
    assert not card_valid(digits)


VALID_IBANS = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "CH9300762011623852957",
    "BE68539007547034",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "AT611904300234573201",
    "NO9386011117947",
    "PL61109010140000071219812874",
    "SA0380000000608010167519",
    "MT84MALT011000012345MTLCAST001S",
]


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_iban_valid(iban: str) -> None:
    assert iban_valid(iban)
    assert iban_mod97(iban) == 1
    assert len(iban) == IBAN_LENGTHS[iban[:2]]


INVALID_IBANS = [
    ("DE88370400440532013000", "check digits"),
    ("GB82WEST12345698765433", "one digit changed"),
    ("DE8937040044053201300", "too short for DE"),
    ("DE893704004405320130001", "too long for DE"),
    ("XX89370400440532013000", "no such country"),
    ("US89370400440532013000", "the US has no IBAN"),
    ("de89370400440532013000", "lower case"),
    ("DE89 3704 0044 0532 0130 00", "spaces are the caller's job"),
    ("DEAB370400440532013000", "check digits are digits"),
    ("", "empty"),
]


@pytest.mark.parametrize(("iban", "why"), INVALID_IBANS)
def test_iban_invalid(iban: str, why: str) -> None:
    assert not iban_valid(iban), why


SSNS = [
    ("123-45-6789", True),
    ("001-01-0001", True),
    ("665-99-9999", True),
    ("899-12-3456", True),
    ("000-12-3456", False),  # area 000
    ("666-12-3456", False),  # area 666
    ("900-12-3456", False),  # 9xx: ITINs and never issued
    ("987-65-4321", False),
    ("123-00-6789", False),  # group 00
    ("123-45-0000", False),  # serial 0000
    ("078-05-1120", False),  # the Woolworth wallet card
    ("219-09-9999", False),  # the Social Security Administration's own advertisement
]


@pytest.mark.parametrize(("ssn", "expected"), SSNS)
def test_ssn_ranges(ssn: str, expected: bool) -> None:
    area, group, serial = ssn.split("-")
    assert ssn_valid(area, group, serial) is expected


@pytest.mark.parametrize(("parts"), [("12", "345", "6789"), ("12a", "45", "6789"), ("", "", "")])
def test_ssn_shape(parts: tuple[str, str, str]) -> None:
    assert not ssn_valid(*parts)
