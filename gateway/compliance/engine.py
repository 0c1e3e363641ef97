"""The compliance engine: one object, built once from a GuardrailConfig, that runs the enabled
scanners over a text and applies an organisation's baseline.

Everything that can be prepared is prepared in `__init__` (custom patterns compiled, the term
list compiled into one regex, the scanner set of every direction and profile), so `scan` is the
scanners' own cost plus a sort: the compliance service and the proxy share it.

What runs: `full` runs every enabled scanner; `reduced` only PII and secrets (the critical ones;
seed 003). The injection scanner runs on prompts only: a response that "ignores previous
instructions" is the model's text, not an attack on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from concurrent.futures import Executor
from typing import Final

from gateway.compliance.baseline import Baseline
from gateway.compliance.config import GuardrailConfig, Profile
from gateway.compliance.findings import Direction, Finding, Scanner
from gateway.compliance.injection import scan_injection
from gateway.compliance.pii import CustomPattern, scan_pii
from gateway.compliance.secrets import scan_secrets
from gateway.compliance.terms import Term, TermList

__all__ = ["INLINE_MAX_CHARS", "REDUCED_SCANNERS", "ComplianceEngine", "Profile", "scan_bounded"]

REDUCED_SCANNERS: Final[tuple[Scanner, ...]] = ("pii", "secrets")
INLINE_MAX_CHARS: Final = 16_384
_ORDER: Final[tuple[Scanner, ...]] = ("pii", "secrets", "injection", "terms")


class ComplianceEngine:
    """Scans text for what `config` enables; cheap to call, immutable once built."""

    __slots__ = ("_active", "_custom", "_custom_types", "_regions", "_terms", "config")

    def __init__(self, config: GuardrailConfig) -> None:
        self.config = config
        self._regions = tuple(config.phone_regions)
        self._custom = tuple(CustomPattern(p.name, p.regex, p.confidence) for p in config.patterns)
        # scan_pii names a custom finding after its pattern; the config may give it another type
        self._custom_types = {p.name: p.type for p in config.patterns if p.type != p.name}
        self._terms = (
            TermList([Term(t.term, t.type, t.confidence) for t in config.terms], name="org_terms")
            if config.terms
            else None
        )
        enabled = set(config.scanners)
        self._active: dict[tuple[Direction, Profile], tuple[Scanner, ...]] = {}
        for direction in ("prompt", "response"):
            for profile in ("full", "reduced"):
                wanted = REDUCED_SCANNERS if profile == "reduced" else _ORDER
                self._active[(direction, profile)] = tuple(
                    s
                    for s in wanted
                    if s in enabled
                    and not (s == "injection" and direction != "prompt")
                    and not (s == "terms" and self._terms is None)
                )

    def scanners(
        self, direction: Direction = "prompt", profile: Profile | None = None
    ) -> tuple[Scanner, ...]:
        """The scanners a scan in this direction and profile runs."""
        return self._active[(direction, profile or self.config.profile)]

    def scan(
        self,
        text: str,
        *,
        direction: Direction = "prompt",
        profile: Profile | None = None,
        baseline: Baseline | None = None,
    ) -> list[Finding]:
        """Every finding, ordered by (start, end); without the baseline's allow-listed values
        and the findings under its thresholds."""
        findings: list[Finding] = []
        groups = 0
        for scanner in self._active[(direction, profile or self.config.profile)]:
            found = self._run(scanner, text)
            if found:
                findings.extend(found)
                groups += 1
        if groups > 1:
            findings.sort(key=_position)
        if baseline is not None and findings and not baseline.is_empty:
            findings = [f for f in findings if baseline.keeps(f, text)]
        return findings

    def inline_ok(self, text: str) -> bool:
        """True when the scan is bounded and cheap enough for the event loop: the built-in
        rules are linear-time on the text, an organisation's own regex may not be. Otherwise
        the caller runs the scan in a thread under COMPLIANCE_TIMEOUT_SECS."""
        return not self._custom and len(text) <= INLINE_MAX_CHARS

    def _run(self, scanner: Scanner, text: str) -> list[Finding]:
        if scanner == "pii":
            found = scan_pii(text, regions=self._regions, custom=self._custom)
            if self._custom_types:
                found = [self._retype(f) for f in found]
            return found
        if scanner == "secrets":
            return scan_secrets(text)
        if scanner == "injection":
            return scan_injection(text)
        assert self._terms is not None  # "terms" is active only with a term list
        return self._terms.scan(text)

    def _retype(self, finding: Finding) -> Finding:
        if not finding.rule.startswith("custom:"):
            return finding
        new_type = self._custom_types.get(finding.rule[len("custom:") :])
        return finding if new_type is None else dataclasses.replace(finding, type=new_type)


async def scan_bounded(
    engine: ComplianceEngine,
    text: str,
    *,
    timeout_s: float,
    direction: Direction = "prompt",
    profile: Profile | None = None,
    baseline: Baseline | None = None,
    executor: Executor | None = None,
) -> list[Finding]:
    """`engine.scan` on the event loop when `inline_ok`, else on `executor` (the loop's default
    when None) under `timeout_s` (TimeoutError past it). A timed-out thread cannot be stopped:
    it finishes in the background, and the caller fails open or closed as its policy says; a
    small dedicated executor keeps such scans from taking every thread of the process."""
    run = functools.partial(
        engine.scan, text, direction=direction, profile=profile, baseline=baseline
    )
    if engine.inline_ok(text):
        return run()
    work = asyncio.get_running_loop().run_in_executor(executor, run)
    return await asyncio.wait_for(work, timeout_s)


def _position(finding: Finding) -> tuple[int, int]:
    return finding.start, finding.end
