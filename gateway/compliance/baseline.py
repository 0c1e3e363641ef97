"""An organisation's baseline: the values it told us are not findings, and its confidence floors.

Feedback on a finding (`false_positive` or `true_positive`) is kept as a row naming the finding's
type, scanner, confidence and an HMAC-SHA256 digest of its normalised value, never the value. The
baseline is rebuilt from those rows (`Baseline.build`):

- allow list: the digests whose latest verdict is `false_positive`; a later scan drops a finding
  whose value has one of them (the same card number written with spaces or dashes, the same
  email in another case: see `normalise`);
- thresholds: per finding type, learned by `learn_thresholds`, overridden by thresholds an
  administrator set (keyed by type or by scanner; a type's own threshold wins). A finding whose
  confidence is below its threshold is dropped.

Why an HMAC with a per-organisation random salt rather than a plain hash: an SSN has about 10^9
values, a card number (with Luhn) not many more per issuer prefix, so a plain SHA-256 of either is
reversed by enumeration in minutes. With the salt, a dump of the digests alone reveals nothing.
Honest limit: the salt is stored in the same database as the digests, so someone holding the
whole database can still enumerate the low-entropy types for one organisation; the salt stops
precomputed tables and cross-organisation matching, not an attacker with everything.

Pure: no I/O, no clock, no randomness (the store makes the salt).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from gateway.compliance.findings import Finding

Verdict = Literal["false_positive", "true_positive"]
VERDICTS: tuple[Verdict, ...] = ("false_positive", "true_positive")

MIN_FALSE_POSITIVES = 2
THRESHOLD_STEP = 0.01

_DIGIT_TYPES = frozenset({"payment_card", "us_ssn", "phone"})
_FOLDED_TYPES = frozenset({"email"})
_EMPTY: Mapping[str, float] = MappingProxyType({})


def _empty_floats() -> Mapping[str, float]:
    return _EMPTY


def _no_counts() -> Mapping[str, int]:
    return MappingProxyType(dict.fromkeys(VERDICTS, 0))


def normalise(finding_type: str, value: str) -> str:
    """The form two spellings of one value share: digits only for cards, SSNs and phone
    numbers; IBANs without spaces, upper case; emails case-folded; IPs in canonical form;
    everything else with its whitespace collapsed (terms and injection phrases also case-folded)."""
    if finding_type in _DIGIT_TYPES:
        return "".join(ch for ch in value if ch.isdigit())
    if finding_type == "iban":
        return "".join(value.split()).upper()
    if finding_type in _FOLDED_TYPES:
        return value.strip().casefold()
    if finding_type == "ip_address":
        try:
            return ipaddress.ip_address(value.strip()).compressed
        except ValueError:
            return value.strip()
    collapsed = " ".join(value.split())
    if finding_type in ("org_term", "prompt_injection", "jailbreak"):
        return collapsed.casefold()
    return collapsed


def value_digest(salt: bytes, finding_type: str, value: str) -> str:
    """HMAC-SHA256 keyed by the organisation's salt over `type NUL normalised value`, in hex."""
    return hmac.new(salt, _message(finding_type, value), hashlib.sha256).hexdigest()


def _message(finding_type: str, value: str) -> bytes:
    return f"{finding_type}\x00{normalise(finding_type, value)}".encode()


@dataclass(frozen=True, slots=True)
class Feedback:
    """One verdict on one finding; `digest` is `Baseline.digest` of the finding's value."""

    org: str
    finding_type: str
    scanner: str
    confidence: float
    digest: str
    verdict: Verdict

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}: {self.verdict!r}")
        if not 0 <= self.confidence <= 1:
            raise ValueError(f"confidence must be in [0, 1]: {self.confidence}")


@dataclass(frozen=True, slots=True)
class Baseline:
    org: str
    salt: bytes
    allowed: frozenset[str] = frozenset()
    thresholds: Mapping[str, float] = field(default_factory=_empty_floats)
    # what the management API shows beside the effective thresholds
    manual_thresholds: Mapping[str, float] = field(default_factory=_empty_floats)
    feedback_counts: Mapping[str, int] = field(default_factory=_no_counts)
    # the types with an allow-listed value (None: unknown, check every finding); lets a scan
    # skip the HMAC for findings of other types
    allowed_types: frozenset[str] | None = None
    _mac: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mac", hmac.new(self.salt, digestmod=hashlib.sha256))

    @classmethod
    def empty(cls, org: str, salt: bytes = b"") -> Baseline:
        """Nothing allowed, no thresholds: a scan with it equals a scan without one."""
        return cls(org, salt)

    @classmethod
    def build(
        cls,
        org: str,
        salt: bytes,
        feedback: Sequence[Feedback],
        manual_thresholds: Mapping[str, float] | None = None,
    ) -> Baseline:
        """The baseline the rows say, oldest row first: the latest verdict on a value wins."""
        allowed: dict[str, str] = {}
        counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
        for row in feedback:
            counts[row.verdict] += 1
            if row.verdict == "false_positive":
                allowed[row.digest] = row.finding_type
            else:
                allowed.pop(row.digest, None)
        manual = dict(manual_thresholds or {})
        thresholds = {**learn_thresholds(feedback), **manual}
        return cls(
            org,
            salt,
            frozenset(allowed),
            MappingProxyType(thresholds),
            MappingProxyType(manual),
            MappingProxyType(counts),
            frozenset(allowed.values()),
        )

    @property
    def is_empty(self) -> bool:
        return not self.allowed and not self.thresholds

    def digest(self, finding_type: str, value: str) -> str:
        """`value_digest` with this baseline's salt (the keyed HMAC state is prepared once)."""
        mac = self._mac.copy()
        mac.update(_message(finding_type, value))
        return str(mac.hexdigest())

    def keeps(self, finding: Finding, text: str) -> bool:
        """False when the organisation's threshold for the finding's type (or else its
        scanner) is above its confidence, or its value is allow-listed."""
        threshold = self.thresholds.get(finding.type)
        if threshold is None:
            threshold = self.thresholds.get(finding.scanner)
        if threshold is not None and finding.confidence < threshold:
            return False
        if not self.allowed:
            return True
        if self.allowed_types is not None and finding.type not in self.allowed_types:
            return True
        value = text[finding.start : finding.end]
        return self.digest(finding.type, value) not in self.allowed


def learn_thresholds(rows: Sequence[Feedback]) -> dict[str, float]:
    """Per finding type, a confidence floor that drops the false positives the feedback can
    tell apart from the true positives, and never a confirmed true positive.

    The rule: let `ceiling` be the lowest confidence of a true positive of the type (1.0 when
    there is none). The false positives below `ceiling` are the separable ones; once there are
    at least MIN_FALSE_POSITIVES (2) of them, the threshold is their highest confidence plus
    THRESHOLD_STEP (0.01), capped at `ceiling` (a finding at exactly the threshold is kept).
    A true positive confirmed below the threshold lowers `ceiling`, which pulls the threshold
    back to it (or removes it when fewer than two false positives stay below). So the threshold
    never exceeds 1.0, and a false positive at confidence 1.0 is never thresholded away: the
    allow list handles that value.
    """
    by_type: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        false_pos, true_pos = by_type.setdefault(row.finding_type, ([], []))
        (false_pos if row.verdict == "false_positive" else true_pos).append(row.confidence)
    learned: dict[str, float] = {}
    for finding_type, (false_pos, true_pos) in by_type.items():
        ceiling = min(true_pos, default=1.0)
        separable = [c for c in false_pos if c < ceiling]
        if len(separable) >= MIN_FALSE_POSITIVES:
            learned[finding_type] = min(max(separable) + THRESHOLD_STEP, ceiling)
    return learned
