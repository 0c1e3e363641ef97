"""The PII scanner: each type found where it is, and its look-alikes left alone."""

from __future__ import annotations

import itertools
import re

import pytest

from gateway.compliance.findings import Finding
from gateway.compliance.pii import CustomPattern, resolve_overlaps, scan_pii

# (text, type, the exact text the finding must cover)
POSITIVES = [
    # email
    ("write to jane.doe@example.com today", "email", "jane.doe@example.com"),
    ("<a.b+tag@mail.example.co.uk>", "email", "a.b+tag@mail.example.co.uk"),
    ("Contact: OPS_TEAM@Corp-Mail.io.", "email", "OPS_TEAM@Corp-Mail.io"),
    ("mailto:jane@example.com", "email", "jane@example.com"),
    # payment cards: grouped, contiguous, every network
    ("card 4111 1111 1111 1111 exp 12/27", "payment_card", "4111 1111 1111 1111"),
    ("pay with 4111-1111-1111-1111.", "payment_card", "4111-1111-1111-1111"),
    ("number:4012888888881881", "payment_card", "4012888888881881"),
    ("mc 5555 5555 5555 4444", "payment_card", "5555 5555 5555 4444"),
    ("new mc 2223003122003222 ok", "payment_card", "2223003122003222"),
    ("amex 3782 822463 10005", "payment_card", "3782 822463 10005"),
    ("amex 371449635398431", "payment_card", "371449635398431"),
    ("discover 6011 1111 1111 1117", "payment_card", "6011 1111 1111 1117"),
    ("diners 3056 930902 5904", "payment_card", "3056 930902 5904"),
    ("jcb (3530111333300000)", "payment_card", "3530111333300000"),
    ("unionpay 6200000000000005", "payment_card", "6200000000000005"),
    ("old visa 4222222222222", "payment_card", "4222222222222"),
    ("id,name,card\n7,Ana,4012888888881881,pro", "payment_card", "4012888888881881"),  # CSV cell
    # IBAN: compact and printed in groups, stopped at the country's length
    ("IBAN DE89370400440532013000", "iban", "DE89370400440532013000"),
    ("IBAN: DE89 3704 0044 0532 0130 00 THANKS", "iban", "DE89 3704 0044 0532 0130 00"),
    ("to GB82 WEST 1234 5698 7654 32.", "iban", "GB82 WEST 1234 5698 7654 32"),
    ("FR14 2004 1010 0505 0001 3M02 606", "iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("NL91ABNA0417164300", "iban", "NL91ABNA0417164300"),
    # US SSN
    ("SSN 123-45-6789", "us_ssn", "123-45-6789"),
    ("my social is 536 22 8901", "us_ssn", "536 22 8901"),
    ("SSN: 536228901", "us_ssn", "536228901"),
    ("social security number 536228901", "us_ssn", "536228901"),
    # IP addresses
    ("connect to 10.0.0.1 now", "ip_address", "10.0.0.1"),
    ("from 192.168.1.254.", "ip_address", "192.168.1.254"),
    ("allow 172.16.0.0/12", "ip_address", "172.16.0.0/12"),
    ("host 255.255.255.255", "ip_address", "255.255.255.255"),
    ("ssh admin@192.0.2.17 -p 2222", "ip_address", "192.0.2.17"),
    ("mysql://root@127.0.0.1:3306/shop", "ip_address", "127.0.0.1"),
    ("v6 2001:db8::1 up", "ip_address", "2001:db8::1"),
    ("link fe80::1%eth0 down", "ip_address", "fe80::1%eth0"),
    (
        "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "ip_address",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    ),
    ("mapped ::ffff:192.0.2.128", "ip_address", "::ffff:192.0.2.128"),
    # phones: E.164
    ("+1 415 555 2671", "phone", "+1 415 555 2671"),
    ("+44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("+49 (0)30 1234567", "phone", "+49 (0)30 1234567"),
    ("+33 1 23 45 67 89", "phone", "+33 1 23 45 67 89"),
    ("+91 98765 43210", "phone", "+91 98765 43210"),
    ("+14155552671", "phone", "+14155552671"),
    ("order #1234, ring +44 7700 900123", "phone", "+44 7700 900123"),
    # phones: national formats
    ("call (415) 555-2671", "phone", "(415) 555-2671"),
    ("at 415-555-2671 or", "phone", "415-555-2671"),
    ("at 415.555.2671 or", "phone", "415.555.2671"),
    ("1-800-555-0199 toll free", "phone", "1-800-555-0199"),
    ("office 020 7946 0958", "phone", "020 7946 0958"),
    ("mobile 07700 900123", "phone", "07700 900123"),
    ("Büro 030/1234567", "phone", "030/1234567"),
    ("Phone: 0151 95016011", "phone", "0151 95016011"),  # British shape, German length
    ("Tel. (089) 12345678", "phone", "(089) 12345678"),
    ("tél 01 23 45 67 89", "phone", "01 23 45 67 89"),
    ("au 06.12.34.56.78", "phone", "06.12.34.56.78"),
    ("whatsapp 98765 43210", "phone", "98765 43210"),
    # phones: bare digits next to a phone word
    ("phone: 4155552671", "phone", "4155552671"),
    ("call me on 07700900123", "phone", "07700900123"),
    ("mobile 9876543210", "phone", "9876543210"),
]


@pytest.mark.parametrize(("text", "type_", "covered"), POSITIVES)
def test_finds(text: str, type_: str, covered: str) -> None:
    findings = scan_pii(text)
    hits = [(f.type, text[f.start : f.end]) for f in findings]
    assert (type_, covered) in hits, hits
    for f in findings:
        assert f.scanner == "pii"
        assert 0 < f.confidence <= 1
        assert f.rule


# Look-alikes: none of these may produce any finding
NEGATIVES = [
    # numbers that fail Luhn or have no issuer
    "card 4111 1111 1111 1112",
    "4111111111111112",
    "5555555555554445",
    "ref 1234 5678 9012 3456",
    "total 1,4012888888881881 units",  # the tail of a comma-grouped number, not a CSV cell
    # 13-digit epoch-millisecond timestamps (some pass Luhn)
    "created_at: 1700000000004",
    "ts=1699999999004",
    "1714557600000",
    # UUIDs, hashes, git SHAs
    "id 550e8400-e29b-41d4-a716-446655440000",
    "12345678-1234-1234-1234-123456789012",
    "md5 d41d8cd98f00b204e9800998ecf8427e",
    "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "digits only sha 1234567890123456789012345678901234567890",
    # versions, OIDs and dotted numbers that are not addresses
    "upgrade to v1.2.3.4 today",
    "running version 10.0.0.1 of the agent",
    "Version: 4.19.2.1",
    "firmware 2.4.0.17",
    "pip install pkg==1.2.3.4",
    "OID 1.3.6.1.4.1.311",
    "1.2.3.4.5",
    "999.1.1.1",
    "256.256.256.256",
    "price 1.234.567,89",
    # times, MACs, C++ scope
    "at 12:30:45 sharp",
    "mac 00:1A:2B:3C:4D:5E",
    "std::vector<int>",
    "a::b",
    # invalid IBANs
    "IBAN DE88370400440532013000",
    "GB82WEST12345698765433",
    "DE89 3704 0044 0532 0130 0",
    "XX89370400440532013000",
    # SSNs in reserved ranges
    "SSN 000-12-3456",
    "SSN 666-12-3456",
    "SSN 912-34-5678",
    "SSN 123-00-6789",
    "SSN 123-45-0000",
    "SSN 078-05-1120",
    "zip+4 and such 123456789",
    "date 2024-05-06 and 2024-05-06T10:00:00",
    # phone-like numbers without phone context, or with an order/invoice label
    "Order #415-555-2671 shipped",
    "invoice no. 020 7946 0958",
    "tracking 9876543210",
    "4155552671",
    "ref: 01 23 45 67 89",
    "order 030/1234567",
    "sku 98765 43210",
    "invoice 0161 496 0000",
    "part number 0123456789 in stock",
    "+0 123 456 789",
    "+28 123 456 789",
    "we sold 1,234,567 units",
    # a Luhn-valid run right after an order/parcel/reference label is that label's number
    "Parcel ID: 8290086479945835",
    "order number 4111111111111111",
    "txn #5555555555554444",
    # digits inside an IBAN or card shape that failed its check are not a phone number either
    "IBAN: DE16 9331 3191 0814 1702 67",
    "refund to iban SE85 0565 5835 9376 9998 6853 please",
    "PAN 3434 079484 15285 flagged",
    # emails: not inside URLs, not asset names
    "git clone https://gho_token123@github.com/acme/infra.git",
    "mysql://root:s3cret@db.example.net:3306/shop",
    "connect to postgresql://app@db.internal/orders",
    "icon@2x.png",
    "use sprite@1.5x.jpg here",
    "import x from 'lib@util.js'",
    # emails: not without a domain and TLD
    "user@localhost",
    "@handle",
    "git@github",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_never_fire(text: str) -> None:
    found = scan_pii(text)
    assert found == [], [(f.type, text[f.start : f.end], f.rule) for f in found]


def test_spans_ordered_and_disjoint() -> None:
    text = "a@b.co, 4111111111111111, DE89370400440532013000, 10.0.0.1, SSN 123-45-6789"
    found = scan_pii(text)
    assert [f.type for f in found] == ["email", "payment_card", "iban", "ip_address", "us_ssn"]
    for a, b in itertools.pairwise(found):
        assert a.end <= b.start


@pytest.mark.parametrize(
    ("regions", "text", "found"),
    [
        (("US",), "call 415-555-2671", True),
        (("GB",), "call 415-555-2671", False),
        (("FR",), "tél 01 23 45 67 89", True),
        (("US",), "tél 01 23 45 67 89", False),
        (("IN",), "call 98765 43210", True),
        (("de",), "Tel. (089) 12345678", True),
        (("UK",), "office 020 7946 0958", True),  # the common alias of GB
        ((), "call +44 20 7946 0958", True),  # E.164 regardless of region
        ((), "call 415-555-2671", False),
    ],
)
def test_regions_pick_national_formats(regions: tuple[str, ...], text: str, found: bool) -> None:
    assert any(f.type == "phone" for f in scan_pii(text, regions=regions)) is found


@pytest.mark.parametrize("region", ["XX", "EU", ""])
def test_unknown_region_is_an_error(region: str) -> None:
    with pytest.raises(ValueError, match="no national phone format"):
        scan_pii("call 415-555-2671", regions=[region])


@pytest.mark.parametrize("confidence", [0.0, -0.1, 1.5])
def test_custom_pattern_confidence_checked(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        CustomPattern("x", r"x", confidence)


def test_custom_patterns() -> None:
    employee = CustomPattern("employee_id", r"\bEMP-\d{6}\b", 0.75)
    patient = CustomPattern("patient_id", re.compile(r"\bMRN\d{8}\b"))
    text = "EMP-123456 saw MRN00123456; EMP-12 is too short"
    found = scan_pii(text, custom=[employee, patient])
    assert [(f.type, text[f.start : f.end], f.rule) for f in found] == [
        ("employee_id", "EMP-123456", "custom:employee_id"),
        ("patient_id", "MRN00123456", "custom:patient_id"),
    ]
    assert found[0].confidence == 0.75
    assert scan_pii("nothing here", custom=[employee]) == []
    assert scan_pii("EMP-123456") == []  # only when passed in


def test_custom_pattern_empty_matches_ignored() -> None:
    assert scan_pii("abc", custom=[CustomPattern("empty", r"x*")]) == []


def test_card_beats_phone_shaped_overlap() -> None:
    text = "call 4111 1111 1111 1111"
    assert [f.type for f in scan_pii(text)] == ["payment_card"]


def test_resolve_overlaps_prefers_priority_then_confidence() -> None:
    phone = Finding("phone", 0, 10, 0.99, "p", "pii")
    card = Finding("payment_card", 2, 18, 0.9, "c", "pii")
    weak = Finding("email", 20, 30, 0.5, "e1", "pii")
    strong = Finding("email", 22, 28, 0.9, "e2", "pii")
    assert resolve_overlaps([phone, card, weak, strong]) == [card, strong]


def test_empty_and_plain_text() -> None:
    assert scan_pii("") == []
    assert scan_pii("The quick brown fox jumps over the lazy dog. " * 40) == []


# A support thread full of numbers that are not PII: dates, times, versions, amounts, a UUID, a
# hash, order and transaction numbers, section numbers.
CLEAN_PROMPT = """You are a helpful assistant for the finance operations team at Initech. Summarise the
following support thread and draft a reply. Keep it under 200 words and don't promise refunds
before the 2024-11-30 cut-off. Ticket #48213, priority P2, opened 2024-11-02T09:14:55Z.

Customer wrote: "Hi, I was charged twice for order 7781-2290 on 11/02. My card ending 4242 shows
two charges of $1,299.00 each. I called your hotline yesterday but the wait was 45 minutes. Our
deployment runs release 3.14.2 on Ubuntu 22.04 and the agent reports version 2.8.0.11. The
webhook from your API returned HTTP 502 at 09:15:03 and the request id was
a1b2c3d4-e5f6-4789-abcd-0123456789ab. Logs attached: sha256 of the bundle is
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, commit 4b825dc. We use the
default config (max_tokens=4096, temperature=0.2, timeout=30s). The invoice INV-2024-00917
lists 3 seats at EUR 49.90 per month; the PO number is 4500012345. Please advise."

Agent notes: refunded one charge on 2024-11-03 (transaction 881920374651), credit note
CN-22871. The customer also asked whether the nginx/1.25.3 upgrade on their side could explain
the 502s - it could not, our edge was degraded between 09:10 and 09:20 UTC (incident 2291).
Ping the on-call channel if it happens again; the runbook lives at docs/runbooks/edge-502.md
and the dashboard id is 17. Throughput was 1,204 rps at p99 412 ms. Temperature 21.5 C.
The test suite ran 1,482 tests in 93.4 s. Python 3.11.7, numpy 1.26.4, torch 2.1.0+cu121.
Sections 4.2.1 and 4.2.2 of the agreement cover double charges; see clause 7.3.1.4 for credits.
"""


def test_realistic_prompt_without_pii() -> None:
    found = scan_pii(CLEAN_PROMPT)
    assert found == [], [(f.type, CLEAN_PROMPT[f.start : f.end]) for f in found]


# Inputs that make a backtracking pattern go quadratic or worse. No timing here: a regression
# to quadratic time makes these take minutes and trips the suite's timeout.
PATHOLOGICAL = [
    "1" * 50_000,
    "1 " * 25_000,
    "12-" * 16_000,
    "1." * 25_000,
    "ab:" * 16_000,
    "x@" + "a." * 25_000,
    "AB12" + "C" * 50_000,
    "AB12 CDEF " * 5_000,
    "+1 " * 16_000,
    "+" + "1" * 50_000,
    "(0) " * 12_000,
    ":" * 50_000 + "1",
    "0 12 34 56 78 90 " * 3_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:12]))
def test_pathological_inputs_finish(text: str) -> None:
    for f in scan_pii(text):
        assert 0 <= f.start < f.end <= len(text)
