"""Guardrail configuration: which scanners run, for which phone regions, with which of the
organisation's own patterns and terms.

Validated when it is written (the management API, SMARTFLOW_CONFIG), not when a prompt arrives:
a regex that does not compile or a region without a phone format is a ValueError naming the
entry, so a bad configuration is refused with a precise message instead of scanning nothing.
Frozen, so one object can be shared by every request and compared to detect a change.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.compliance.findings import Scanner
from gateway.compliance.phones import national_format

Profile = Literal["full", "reduced"]
ALL_SCANNERS: tuple[Scanner, ...] = ("pii", "secrets", "injection", "terms")

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")]


class PatternSpec(BaseModel):
    """An organisation's own identifier (employee number, patient ID). Its findings carry
    `type` and the rule `custom:<name>`; it runs as part of the PII scanner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    regex: str = Field(min_length=1, max_length=2000)
    type: Name = "custom"
    confidence: float = Field(default=0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _compiles(self) -> PatternSpec:
        try:
            compiled = re.compile(self.regex)
        except re.error as exc:
            raise ValueError(f"pattern {self.name!r}: invalid regex: {exc}") from None
        if compiled.fullmatch(""):
            raise ValueError(f"pattern {self.name!r}: the regex matches the empty string")
        return self


class TermSpec(BaseModel):
    """One listed term (matched case-insensitively, as a whole word; see compliance.terms)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    term: str = Field(min_length=1, max_length=200)
    type: Name = "org_term"
    confidence: float = Field(default=1.0, gt=0, le=1)

    @field_validator("term")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a term must not be blank")
        return value


class GuardrailConfig(BaseModel):
    """What the compliance engine scans for. `profile` is the default inspection profile:
    `reduced` runs only the PII and secret scanners (seed 003, latency-sensitive workloads)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Profile = "full"
    phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")
    patterns: tuple[PatternSpec, ...] = Field(default=(), max_length=200)
    terms: tuple[TermSpec, ...] = Field(default=(), max_length=10_000)
    scanners: tuple[Scanner, ...] = ALL_SCANNERS

    @field_validator("phone_regions")
    @classmethod
    def _regions_known(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        for region in regions:
            national_format(region)  # ValueError naming the region and the known ones
        return regions

    @field_validator("scanners")
    @classmethod
    def _no_repeats(cls, scanners: tuple[Scanner, ...]) -> tuple[Scanner, ...]:
        return tuple(dict.fromkeys(scanners))

    @model_validator(mode="after")
    def _unique_pattern_names(self) -> GuardrailConfig:
        seen: set[str] = set()
        for spec in self.patterns:
            if spec.name in seen:
                raise ValueError(f"pattern {spec.name!r} is defined twice")
            seen.add(spec.name)
        return self
