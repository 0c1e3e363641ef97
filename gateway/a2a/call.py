"""One A2A request's bookkeeping: what it was, what it cost, how it ended; and, once it has
ended, exactly one settlement, one audit record and one metric observation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.core.audit import AuditRecord
from gateway.core.keys import VirtualKey
from gateway.pipeline import admission
from gateway.pipeline.admission import Ticket
from gateway.pipeline.state import GatewayState

ROUTE = "a2a"


@dataclass(slots=True)
class A2aCall:
    request_id: str
    client_ip: str | None
    started: float = field(default_factory=time.perf_counter)
    started_at: float = field(default_factory=time.time)
    key: VirtualKey | None = None
    agent: str | None = None  # set once the name is a registered agent the key may reach
    method: str | None = None
    method_label: str = "other"
    task_id: str | None = None
    stream: bool = False
    status: int = 0
    error_code: str | None = None
    upstream_s: float = 0.0
    upstream_started: float | None = None
    price_usd: float = 0.0  # charged when the agent produced a result for a task method
    charged: bool = False
    ticket: Ticket | None = None
    finished: bool = False

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def overhead_ms(self) -> float:
        return max(0.0, (self.elapsed_s() - self.upstream_s) * 1000)

    def upstream_start(self) -> None:
        self.upstream_started = time.perf_counter()

    def upstream_done(self) -> None:
        """The agent's share of the time: from sending to the end of its answer."""
        if self.upstream_started is not None:
            self.upstream_s = time.perf_counter() - self.upstream_started

    def fail(self, status: int, word: str) -> None:
        self.status = status
        self.error_code = word

    @property
    def cost_usd(self) -> float:
        return self.price_usd if self.charged else 0.0

    def outcome(self) -> str:
        """The metric's status label: ok, error (the agent's JSON-RPC error), refused, limited,
        unauthorized, unavailable, disconnected or bad_request."""
        if self.status == 401:
            return "unauthorized"
        if self.status == 429:
            return "limited"
        if self.status in (403, 404):
            return "refused"
        if self.status == 499:
            return "disconnected"
        if self.status >= 500:
            return "unavailable"
        if self.status >= 400:
            return "bad_request"
        return "error" if self.error_code else "ok"


def finish(state: GatewayState, call: A2aCall) -> None:
    """Settle, audit and count the request; idempotent (a stream's handler may end twice)."""
    if call.finished:
        return
    call.finished = True
    if call.ticket is not None and state.counters is not None:
        settlement = admission.settlement(call.ticket, actual_usd=call.cost_usd, actual_tokens=0)
        state.background.spawn(state.counters.settle(settlement), name=f"settle {call.request_id}")
    elapsed = call.elapsed_s()
    if call.agent is not None:
        state.metrics.observe_a2a(call.agent, call.method_label, call.outcome(), elapsed)
    if state.audit is not None:
        state.audit.submit(audit_record(call, elapsed))


def audit_record(call: A2aCall, elapsed_s: float) -> AuditRecord:
    elapsed_ms = elapsed_s * 1000
    upstream_ms = call.upstream_s * 1000
    return AuditRecord(
        ts=call.started_at,
        request_id=call.request_id,
        key_id=call.key.id if call.key is not None else None,
        model_requested="-",
        provider=call.agent,
        route=ROUTE,
        status=call.status,
        stream=call.stream,
        cost_usd=call.cost_usd,
        latency_ms=round(elapsed_ms, 3),
        upstream_ms=round(upstream_ms, 3),
        overhead_ms=round(max(0.0, elapsed_ms - upstream_ms), 3),
        cache="bypass",
        client_ip=call.client_ip,
        error_code=call.error_code,
        tool=call.method,
        task_id=call.task_id,
    )
