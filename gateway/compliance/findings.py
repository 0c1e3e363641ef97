"""What a scanner reports: one finding per match, by span, never by the matched text.

A finding names its type (`email`, `payment_card`, `aws_access_key`, `prompt_injection`, ...),
where it is in the scanned text (`start`, `end`: character offsets), how sure the rule is
(`confidence`, 0 to 1) and which rule fired. The matched text is not kept: the audit log and
metrics get types and counts only, and a redaction uses the span on the text it already has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Scanner = Literal["pii", "secrets", "injection", "terms"]
Direction = Literal["prompt", "response"]


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    start: int
    end: int
    confidence: float
    rule: str
    scanner: Scanner

    def as_dict(self) -> dict[str, object]:
        """For the scan API: the span, never the text."""
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 4),
            "rule": self.rule,
            "scanner": self.scanner,
        }


ScanFunction = Callable[[str], Sequence[Finding]]
