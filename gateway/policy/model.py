"""Guardrail policies as data: what an operator writes, and what a condition can see.

A policy is validated on write (pydantic, unknown fields rejected so a typo is an error rather
than a silently ignored rule) and compiled once by `gateway.policy.compile`; the proxy then
evaluates it per request against a `PolicyContext`. The context is a plain slotted dataclass,
not a pydantic model: it is built on the hot path, once per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.compliance.findings import Finding

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIRECTIONS = ("prompt", "response")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Allow(_Frozen):
    """Let the request through (ends evaluation: later rules are not consulted)."""

    type: Literal["allow"] = "allow"


class Deny(_Frozen):
    """Refuse the request with a message the client sees."""

    type: Literal["deny"] = "deny"
    message: str = Field(min_length=1, max_length=1000)


class Redact(_Frozen):
    """Replace the spans of these finding types (all types when empty) before the call."""

    type: Literal["redact"] = "redact"
    types: tuple[str, ...] = ()
    replacement: Literal["mask", "placeholder"] = "placeholder"


class Route(_Frozen):
    """Send the request to another model."""

    type: Literal["route"] = "route"
    model: str = Field(min_length=1, max_length=200)


class Cache(_Frozen):
    """Use another cache namespace, or bypass the cache: exactly one of the two."""

    type: Literal["cache"] = "cache"
    namespace: str | None = Field(default=None, min_length=1, max_length=200)
    bypass: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Cache:
        if (self.namespace is None) == (not self.bypass):
            raise ValueError("give either 'namespace' or 'bypass: true', not both or neither")
        return self


class Inspect(_Frozen):
    """Require an inspection profile: `full` runs every scanner, `reduced` skips non-critical."""

    type: Literal["inspect"] = "inspect"
    profile: Literal["full", "reduced"]


class Log(_Frozen):
    """Let the request through and record that the rule matched."""

    type: Literal["log"] = "log"


AnyAction = Allow | Deny | Redact | Route | Cache | Inspect | Log
Action = Annotated[AnyAction, Field(discriminator="type")]


class Rule(_Frozen):
    """One condition and what to do when it holds; a missing `when` always holds."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
    when: str = "true"
    action: Action

    @field_validator("action", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`action: allow` is short for `action: {type: allow}`."""
        return {"type": value} if isinstance(value, str) else value


class Binding(_Frozen):
    """Which requests a policy applies to: any listed key, team or model; empty = all.

    A model entry ending in `*` matches by prefix (`gpt-4*`).
    """

    keys: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


class Policy(_Frozen):
    """A named, versioned, ordered rule list; the first rule whose condition holds decides."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    version: int = Field(default=1, ge=1)
    description: str = Field(default="", max_length=2000)
    bound_to: Binding = Binding()
    mode: Literal["enforce", "shadow"] = "enforce"
    # a scan slower than COMPLIANCE_TIMEOUT_SECS: "closed" refuses the request, "open" lets it
    # through unscanned (audited either way)
    on_timeout: Literal["open", "closed"] = "closed"
    # streamed responses: "chunked" scans as the text arrives, holding back only what is not yet
    # scanned (a redact decision on a stream then ends it: its earlier text is already sent);
    # "buffer" holds the whole answer, checks it (redactions included), then sends it; "auto"
    # buffers when the policy has a redact rule, else chunks
    stream: Literal["auto", "chunked", "buffer"] = "auto"
    rules: tuple[Rule, ...] = Field(min_length=1, max_length=200)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"duplicate rule name '{rule.name}'")
            seen.add(rule.name)
        return rules


@dataclass(frozen=True, slots=True)
class FindingStat:
    """The findings of one type in a request: how many, and the highest confidence."""

    count: int
    confidence: float


def summarize_findings(findings: Iterable[Finding]) -> dict[str, FindingStat]:
    """Fold scanner findings into per-type counts and maximum confidences (what rules see)."""
    counts: dict[str, int] = {}
    best: dict[str, float] = {}
    for finding in findings:
        counts[finding.type] = counts.get(finding.type, 0) + 1
        best[finding.type] = max(best.get(finding.type, 0.0), finding.confidence)
    return {name: FindingStat(counts[name], best[name]) for name in counts}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The virtual key that made the request."""

    id: str = ""
    team: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Everything a condition can read. Time is passed in (UTC hour 0-23, weekday 'mon'..'sun').

    `tokens` is the prompt-token estimate, `cost` the estimated cost in USD, `direction` whether
    the prompt or the response is being judged.
    """

    key: KeyInfo = field(default_factory=KeyInfo)
    model: str = ""
    route: str = ""
    direction: str = "prompt"
    findings: Mapping[str, FindingStat] = field(default_factory=lambda: _EMPTY)
    tokens: int = 0
    cost: float = 0.0
    hour: int = 0
    weekday: str = "mon"
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy decided for one request, and why (for the audit log and the dry run).

    `rule` is None when no rule matched (allowed by default) or the policy is not bound to the
    request (`bound` False). `shadow` means: record this decision, do not enforce it.
    """

    action: AnyAction
    rule: str | None
    reason: str
    shadow: bool
    policy: str
    version: int
    bound: bool = True
