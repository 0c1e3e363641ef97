"""The audit log's record, query filters and page cursor.

One `AuditRecord` per request, written after the response. Time is stored with microsecond
precision (`ts_us`) in every store, so a record read back, a replayed record and a page cursor
all name the same instant exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

import orjson

CacheOutcome = Literal["miss", "hit-exact", "hit-semantic", "bypass"]
ComplianceOutcome = Literal["pass", "flag", "block", "timeout"]  # timeout: let through unscanned
GroupBy = Literal["key", "model", "day"]
GROUP_BYS: tuple[GroupBy, ...] = ("key", "model", "day")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_TS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second every store can hold
STATUS_PATTERN = r"^[1-5](?:[0-9]{2}|xx)$"
CURSOR_PATTERN = r"^[0-9]{1,18}\.(?:[0-9a-f]{2})*$"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """What the audit log keeps of one request. `prompt` is set only when a key or policy opted
    in, and is already redacted by the caller."""

    ts: float  # unix seconds, when the request started
    request_id: str
    model_requested: str
    route: str  # "chat", "completions", "embeddings", "messages", ...
    status: int
    latency_ms: float
    key_id: str | None = None
    model_served: str | None = None
    provider: str | None = None
    stream: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float = 0.0
    upstream_ms: float = 0.0
    overhead_ms: float = 0.0
    cache: CacheOutcome = "miss"
    compliance: ComplianceOutcome | None = None
    client_ip: str | None = None
    error_code: str | None = None
    prompt: str | None = None
    # a cache hit: what answering it upstream took at the time (tokens) and cost (USD)
    tokens_saved: int = 0
    usd_saved: float = 0.0
    # compliance (issue 14): finding types and counts ("email=2,us_ssn=1"), never the matched
    # text; the policy decision that applied ("pii-guard@3:block-ssn") and what it did
    # ("deny", "redact", "route", ...; "shadow:deny" when recorded but not enforced)
    findings: str | None = None
    policy: str | None = None
    policy_action: str | None = None
    # tools (issue 15): route "mcp" or "a2a", provider the server or agent; the MCP tool or the
    # A2A method, the sha256 hex of the call's canonical JSON arguments (never the arguments),
    # and the A2A task id
    tool: str | None = None
    args_hash: str | None = None
    task_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def to_json(self) -> bytes:
        """One line of the spill file; never raises, so a record can always be kept."""
        try:
            return orjson.dumps(self.as_dict())
        except TypeError:  # an int beyond 64 bits, or a value of a foreign type
            return json.dumps(self.as_dict(), default=str, ensure_ascii=False).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRecord:
        """Raises ValueError on a missing or unknown field."""
        unknown = data.keys() - FIELD_SET
        if unknown:
            raise ValueError(f"unknown audit record fields: {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:  # a required field is missing
            raise ValueError(str(exc)) from None

    @classmethod
    def from_json(cls, data: bytes | str) -> AuditRecord:
        """Raises ValueError (orjson.JSONDecodeError is one) on anything but a record's JSON."""
        value = orjson.loads(data)
        if not isinstance(value, dict):
            raise ValueError("an audit record is a JSON object")
        return cls.from_dict(value)

    @property
    def ts_us(self) -> int:
        return ts_to_us(self.ts)


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))
FIELD_SET = frozenset(FIELDS)


def ts_to_us(ts: float) -> int:
    return round(ts * 1_000_000)


def us_to_ts(ts_us: int) -> float:
    return ts_us / 1_000_000


@dataclass(frozen=True, slots=True)
class StatusFilter:
    """HTTP statuses in [low, high): one status, or a class such as "4xx"."""

    low: int
    high: int


def parse_status(text: str) -> StatusFilter:
    """A status ("404") or a class ("4xx", 1xx to 5xx); raises ValueError otherwise."""
    if re.fullmatch(STATUS_PATTERN[1:-1], text) is None:
        raise ValueError(f"status {text!r}: expected a status such as 404 or a class such as 4xx")
    if text.endswith("xx"):
        low = int(text[0]) * 100
        return StatusFilter(low, low + 100)
    return StatusFilter(int(text), int(text) + 1)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of a page of the log. `since` is inclusive, `until` exclusive (unix seconds)."""

    since: float | None = None
    until: float | None = None
    key_id: str | None = None
    model: str | None = None  # matches the requested or the served model
    status: StatusFilter | None = None
    route: str | None = None  # "chat", "mcp", "a2a", ...
    provider: str | None = None  # a provider, an MCP server or an A2A agent
    tool: str | None = None  # an MCP tool or an A2A method


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: strictly older than (ts_us, request_id), newest first.

    Written as `<ts_us>.<hex of the request id>`: opaque to callers, yet every string of its
    pattern decodes, so the API's schema describes exactly the cursors it accepts.
    """

    ts_us: int
    request_id: str

    @classmethod
    def after(cls, record: AuditRecord) -> Cursor:
        return cls(record.ts_us, record.request_id)

    def encode(self) -> str:
        return f"{self.ts_us}.{self.request_id.encode('utf-8', 'surrogatepass').hex()}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError on a string outside CURSOR_PATTERN."""
        if re.fullmatch(CURSOR_PATTERN[1:-1], text) is None:
            raise ValueError("cursor: pass next_cursor from a previous page")
        ts_part, _, id_part = text.partition(".")
        ts_us = min(int(ts_part), MAX_TS * 1_000_000)  # later than any record: from the newest
        return cls(ts_us, bytes.fromhex(id_part).decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: tuple[AuditRecord, ...]
    next_cursor: str | None


def page_of(records: list[AuditRecord], limit: int) -> AuditPage:
    """A store fetches `limit + 1` rows; the extra row only says whether another page exists."""
    if len(records) > limit:
        kept = records[:limit]
        return AuditPage(tuple(kept), Cursor.after(kept[-1]).encode())
    return AuditPage(tuple(records), None)


@dataclass(frozen=True, slots=True)
class SpendRow:
    """Spend of one group: a key id (None: requests made without a virtual key), a requested
    model, or a UTC day ("2026-11-22")."""

    group: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
        }
