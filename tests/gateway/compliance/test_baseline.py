"""Baselines: salted digests of normalised values, and the threshold-learning rule."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway.compliance.baseline import (
    MIN_FALSE_POSITIVES,
    THRESHOLD_STEP,
    Baseline,
    Feedback,
    learn_thresholds,
    normalise,
    value_digest,
)
from gateway.compliance.findings import Finding

SALT = bytes(range(32))


@pytest.mark.parametrize(
    ("finding_type", "a", "b"),
    [
        ("payment_card", "4111 1111 1111 1111", "4111-1111-1111-1111"),
        ("payment_card", "4111111111111111", "4111 1111 1111 1111"),
        ("us_ssn", "123-45-6789", "123 45 6789"),
        ("phone", "(415) 555-0100", "415.555.0100"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "gb82west12345698765432".upper()),
        ("email", "Bob@Example.com", "bob@example.COM"),
        ("ip_address", "2001:db8:0:0:0:0:0:1", "2001:db8::1"),
        ("org_term", "Project   Bluefin", "project bluefin"),
    ],
)
def test_two_spellings_of_one_value_share_a_digest(finding_type: str, a: str, b: str) -> None:
    assert normalise(finding_type, a) == normalise(finding_type, b)
    assert value_digest(SALT, finding_type, a) == value_digest(SALT, finding_type, b)


def test_secrets_are_compared_exactly() -> None:
    assert value_digest(SALT, "api_key", "sk-ABC") != value_digest(SALT, "api_key", "sk-abc")


def test_the_digest_is_an_hmac_keyed_by_the_salt_over_type_and_value() -> None:
    expected = hmac.new(SALT, b"us_ssn\x00123456789", hashlib.sha256).hexdigest()
    assert value_digest(SALT, "us_ssn", "123-45-6789") == expected
    assert value_digest(b"other salt", "us_ssn", "123-45-6789") != expected
    # the same digits as another type are another value
    assert value_digest(SALT, "phone", "123-45-6789") != expected
    assert "123456789" not in expected


def _row(kind: str, confidence: float, verdict: str, digest: str = "d") -> Feedback:
    return Feedback("acme", kind, "pii", confidence, digest, verdict)  # type: ignore[arg-type]


def test_one_false_positive_learns_no_threshold() -> None:
    assert learn_thresholds([_row("phone", 0.6, "false_positive")]) == {}
    assert MIN_FALSE_POSITIVES == 2


def test_two_false_positives_raise_the_threshold_just_above_the_higher() -> None:
    rows = [_row("phone", 0.6, "false_positive"), _row("phone", 0.7, "false_positive")]
    assert learn_thresholds(rows) == {"phone": pytest.approx(0.7 + THRESHOLD_STEP)}


def test_the_threshold_never_passes_the_lowest_true_positive() -> None:
    rows = [
        _row("phone", 0.6, "false_positive"),
        _row("phone", 0.7, "false_positive"),
        _row("phone", 0.705, "true_positive"),
    ]
    assert learn_thresholds(rows) == {"phone": 0.705}  # a finding at the threshold is kept


def test_a_true_positive_pulls_the_threshold_back() -> None:
    rows = [
        _row("phone", 0.5, "false_positive"),
        _row("phone", 0.6, "false_positive"),
        _row("phone", 0.8, "false_positive"),
    ]
    assert learn_thresholds(rows)["phone"] == pytest.approx(0.81)
    pulled = learn_thresholds([*rows, _row("phone", 0.7, "true_positive")])
    assert pulled["phone"] == pytest.approx(0.61)  # 0.8 is no longer separable
    gone = learn_thresholds([*rows, _row("phone", 0.55, "true_positive")])
    assert gone == {}  # only one false positive stays below 0.55


def test_the_threshold_never_exceeds_one() -> None:
    rows = [_row("email", 0.995, "false_positive"), _row("email", 0.999, "false_positive")]
    assert learn_thresholds(rows) == {"email": 1.0}
    at_one = [_row("email", 1.0, "false_positive"), _row("email", 1.0, "false_positive")]
    assert learn_thresholds(at_one) == {}  # the allow list handles values the scanner is sure of


def test_types_learn_separately() -> None:
    rows = [
        _row("phone", 0.6, "false_positive"),
        _row("phone", 0.62, "false_positive"),
        _row("email", 0.6, "false_positive"),
    ]
    assert set(learn_thresholds(rows)) == {"phone"}


def test_the_latest_verdict_on_a_value_wins_the_allow_list() -> None:
    rows = [_row("phone", 0.9, "false_positive", "a"), _row("phone", 0.9, "false_positive", "b")]
    assert Baseline.build("acme", SALT, rows).allowed == {"a", "b"}
    confirmed = Baseline.build("acme", SALT, [*rows, _row("phone", 0.9, "true_positive", "a")])
    assert confirmed.allowed == {"b"}
    assert dict(confirmed.feedback_counts) == {"false_positive": 2, "true_positive": 1}


def test_manual_thresholds_override_learned_ones() -> None:
    rows = [_row("phone", 0.6, "false_positive"), _row("phone", 0.7, "false_positive")]
    baseline = Baseline.build("acme", SALT, rows, {"phone": 0.3, "pii": 0.2})
    assert dict(baseline.thresholds) == {"phone": 0.3, "pii": 0.2}
    assert dict(baseline.manual_thresholds) == {"phone": 0.3, "pii": 0.2}


def test_keeps_compares_confidence_and_digest() -> None:
    text = "call 415-555-0100"
    finding = Finding("phone", 5, 17, 0.8, "phone_us", "pii")
    assert Baseline.empty("acme").keeps(finding, text)
    assert Baseline.empty("acme").is_empty
    allowed = Baseline.build(
        "acme",
        SALT,
        [_row("phone", 0.8, "false_positive", value_digest(SALT, "phone", "4155550100"))],
    )
    assert not allowed.keeps(finding, text)
    assert Baseline.build("acme", SALT, [], {"phone": 0.8}).keeps(finding, text)
    assert not Baseline.build("acme", SALT, [], {"phone": 0.81}).keeps(finding, text)


def test_feedback_is_checked() -> None:
    with pytest.raises(ValueError, match="verdict must be one of"):
        _row("phone", 0.5, "maybe")
    with pytest.raises(ValueError, match="confidence must be in"):
        _row("phone", 1.5, "true_positive")


def test_only_types_with_allow_listed_values_are_digested() -> None:
    text = "call 415-555-0100"
    finding = Finding("phone", 5, 17, 0.8, "phone_us", "pii")
    digest = value_digest(SALT, "phone", "4155550100")
    built = Baseline.build("acme", SALT, [_row("phone", 0.8, "false_positive", digest)])
    assert built.allowed_types == {"phone"}
    assert built.digest("phone", "(415) 555-0100") == digest  # the prepared HMAC agrees
    assert not built.keeps(finding, text)
    other = Baseline.build("acme", SALT, [_row("email", 0.8, "false_positive", digest)])
    assert other.keeps(finding, text)  # the digest matches, but no phone value is allowed
    direct = Baseline("acme", SALT, allowed=frozenset({digest}))  # types unknown: every finding
    assert not direct.keeps(finding, text)
