"""Per-request state carried through the pipeline stages."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gateway.core.audit import CacheOutcome, ComplianceOutcome
from gateway.core.keys import VirtualKey

if TYPE_CHECKING:
    from gateway.pipeline.admission import Ticket
    from gateway.pipeline.cache_stage import CacheTicket
    from gateway.pipeline.guard_judge import Guard

ClientWire = Literal["openai", "anthropic", "none"]


class RequestIds:
    """Request ids from a PRNG seeded once per process: ids need to be unique, not secret, and a
    system call per request (os.urandom) is measurable on the hot path."""

    def __init__(self) -> None:
        self._random = random.Random(os.urandom(16))  # noqa: S311  # uniqueness, not secrecy

    def __call__(self) -> str:
        return f"req_{self._random.getrandbits(96):024x}"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str  # a bounded label: "chat", "completions", "embeddings", "models", "messages"
    wire: ClientWire
    client_ip: str | None
    started: float = field(default_factory=time.perf_counter)
    started_at: float = field(default_factory=time.time)  # wall clock, for the audit log
    model: str = "-"
    metric_model: str = "other"
    stream: bool = False
    provider: str | None = None
    served_model: str | None = None
    status: int = 0
    upstream_s: float = 0.0
    attempts: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    client_disconnected: bool = False
    error_code: str | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None  # Anthropic's cache_creation_input_tokens
    strip_usage: bool = False  # usage was asked upstream for accounting, not by the client
    relayed_frames: int = 0  # stream frames passed to the client: the output estimate if cut short
    key: VirtualKey | None = None
    ticket: Ticket | None = None
    response_headers: dict[str, str] = field(default_factory=dict)  # e.g. x-ratelimit-*
    prompt_text: str | None = None  # redacted, only when the key opted in to prompt logging
    body: dict[str, Any] | None = None  # the parsed request, for estimates made after the fact
    cache: CacheOutcome = "bypass"  # the x-smartflow-cache header and the audit record's field
    cache_ticket: CacheTicket | None = None  # set when the answer may be stored
    tokens_saved: int = 0  # a hit: what the original answer took upstream
    usd_saved: float = 0.0
    # guardrails (gateway.pipeline.guard_stage): the request's policies and scan state, the
    # verdict and findings for the audit log, and what a policy changed
    guard: Guard | None = None
    compliance: ComplianceOutcome | None = None
    findings: dict[str, int] = field(default_factory=dict)  # type -> count, prompt and response
    policy: str | None = None  # the deciding rule: "name@version:rule"
    policy_action: str | None = None  # "deny", "redact", ... ("shadow:deny": recorded only)
    cache_namespace: str | None = None  # a policy's cache action: another namespace...
    cache_bypass: bool = False  # ...or no cache at all

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def overhead_ms(self) -> float:
        """Time spent in the gateway so far, upstream waiting (and retry backoff) excluded."""
        return max(0.0, (self.elapsed_s() - self.upstream_s) * 1000.0)


def shadow_context(ctx: RequestContext) -> RequestContext:
    """A context for re-asking a cached request upstream in the background (shadow mode): no
    key (nothing is charged or rate-limited), never streamed, nothing captured for the cache."""
    fresh = RequestContext(ctx.request_id + "-shadow", ctx.route, ctx.wire, None)
    fresh.model = ctx.model
    fresh.metric_model = ctx.metric_model
    return fresh


def without_stream(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
