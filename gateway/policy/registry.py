"""The policies in force, compiled, and which of them apply to a request.

Two sources: the SMARTFLOW_CONFIG file's `policies:` (read-only, deployed with the config) and
the store's active versions (managed through /api/policies); on a name in both, the store's
wins, so an operator can override a deployed policy at run time and delete the override to get
it back. The guardrail settings come the same way: the store's latest version, else the config
file's `guardrails:`, else the defaults.

`applicable` is on the proxy's hot path. Everything it needs is precomputed per snapshot (the
policies bound to every request, the bound ones, each one's key-named variant), and its answer
for a (key, team, model, key policy) is memoised, so a request costs one dict lookup and no
allocation beyond the lookup key. `refresh` rebuilds the snapshot only when the store's
revision moved; `keep_fresh` polls it in the background.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.compliance.config import GuardrailConfig
from gateway.compliance.engine import ComplianceEngine
from gateway.core.errors import InvalidRequest
from gateway.policy.compile import CompiledPolicy, PolicyError, compile_policy
from gateway.policy.model import Cache, PolicyContext, Redact, Route
from gateway.policy.store import PolicyStore, StoredPolicy, decode_guardrails

log = logging.getLogger("smartflow.policy")

MEMO_MAX = 10_000  # distinct (key, team, model, key policy) answers kept per snapshot
MemoKey = tuple[str, str, str, str | None]
_REWRITES = (Redact, Route, Cache)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One immutable view of the policies in force (rebuilt whole on a change)."""

    ordered: tuple[CompiledPolicy, ...]  # by name
    everywhere: tuple[CompiledPolicy, ...]  # bound to nothing in particular
    bound: tuple[CompiledPolicy, ...]  # bound to keys, teams or models
    by_name: Mapping[str, CompiledPolicy]
    named: Mapping[str, CompiledPolicy]  # as a key names it: applies to all its requests
    rewriting: frozenset[str]  # enforced policies with a redact, route or cache rule
    guardrails: GuardrailConfig
    engine: ComplianceEngine
    memo: dict[MemoKey, tuple[CompiledPolicy, ...]] = field(default_factory=dict)

    def resolve(self, context: PolicyContext, key_policy: str | None) -> tuple[CompiledPolicy, ...]:
        chosen: list[CompiledPolicy] = []
        for policy in self.ordered:
            if policy.policy.name == key_policy:
                chosen.append(self.named[policy.policy.name])
            elif policy.binds(context):
                chosen.append(policy)
        return tuple(chosen)


def _snapshot(
    policies: Iterable[CompiledPolicy], guardrails: GuardrailConfig, engine: ComplianceEngine
) -> _Snapshot:
    by_name = {p.policy.name: p for p in policies}
    ordered = tuple(by_name[name] for name in sorted(by_name))
    return _Snapshot(
        ordered=ordered,
        everywhere=tuple(p for p in ordered if p.everywhere),
        bound=tuple(p for p in ordered if not p.everywhere),
        by_name=by_name,
        named={p.policy.name: dataclasses.replace(p, everywhere=True) for p in ordered},
        rewriting=frozenset(
            p.policy.name
            for p in ordered
            if p.policy.mode == "enforce"
            and any(isinstance(rule.action, _REWRITES) for rule in p.policy.rules)
        ),
        guardrails=guardrails,
        engine=engine,
    )


class PolicySet:
    """The compiled policies in force and the guardrail settings, kept fresh from the store."""

    def __init__(
        self,
        store: PolicyStore | None = None,
        config_policies: Sequence[Mapping[str, Any]] = (),
        config_guardrails: Mapping[str, Any] | None = None,
    ) -> None:
        """Config-file documents are compiled now: a bad one is a PolicyError at start-up."""
        self._store = store
        self._config = {c.policy.name: c for c in map(compile_policy, config_policies)}
        self._config_guardrails = (
            GuardrailConfig() if config_guardrails is None else decode_guardrails(config_guardrails)
        )
        self._revision: int | None = None
        self._refreshing = asyncio.Lock()  # the poller and a handler after a write: one at a time
        engine = ComplianceEngine(self._config_guardrails)
        self._snap = _snapshot(self._config.values(), self._config_guardrails, engine)

    @property
    def guardrails(self) -> GuardrailConfig:
        return self._snap.guardrails

    @property
    def engine(self) -> ComplianceEngine:
        """The compliance engine for the current guardrail settings (rebuilt when they change)."""
        return self._snap.engine

    @property
    def revision(self) -> int | None:
        """The store revision this snapshot reflects (None before the first refresh)."""
        return self._revision

    def policies(self) -> tuple[CompiledPolicy, ...]:
        """Every policy in force, by name."""
        return self._snap.ordered

    def get(self, name: str) -> CompiledPolicy | None:
        """The policy in force under this name (a key naming an unknown one gets None)."""
        return self._snap.by_name.get(name)

    def applicable(
        self, context: PolicyContext, key_policy: str | None = None
    ) -> tuple[CompiledPolicy, ...]:
        """The policies bound to this request's key, team or model, plus the one its key names
        (that one applies to every request of the key, whatever its own binding). An unknown
        key policy name is skipped: check `get` to refuse such keys instead."""
        snap = self._snap
        if not snap.bound and (key_policy is None or key_policy not in snap.by_name):
            return snap.everywhere
        memo_key = (context.key.id, context.key.team, context.model, key_policy)
        found = snap.memo.get(memo_key)
        if found is None:
            found = snap.resolve(context, key_policy)
            if len(snap.memo) >= MEMO_MAX:
                snap.memo.clear()
            snap.memo[memo_key] = found
        return found

    def needs_prompt_rewrite(self, policies: Iterable[CompiledPolicy]) -> bool:
        """Whether any of these enforced policies has a rule that could redact the prompt,
        route it or change its cache scope (so the proxy must decide before the call)."""
        rewriting = self._snap.rewriting
        return bool(rewriting) and any(p.policy.name in rewriting for p in policies)

    async def refresh(self) -> bool:
        """Reload from the store if its revision moved; True when the snapshot changed."""
        if self._store is None:
            return False
        async with self._refreshing:
            revision = await self._store.revision()
            if revision == self._revision:
                return False
            stored = await self._store.active()
            guard_row = await self._store.guardrails_version()
            self._load(stored, guard_row)
            self._revision = revision
            return True

    def _load(self, stored: Sequence[StoredPolicy], guard_row: StoredPolicy | None) -> None:
        compiled = dict(self._config)
        for row in stored:
            try:
                compiled[row.name] = compile_policy(row.document)
            except PolicyError as exc:  # written by a build that accepted more: skipped
                log.error("stored policy %s@%d no longer compiles: %s", row.name, row.version, exc)
        guardrails = self._config_guardrails
        if guard_row is not None:
            try:
                guardrails = decode_guardrails(guard_row.document)
            except InvalidRequest:
                log.error("stored guardrail settings no longer validate; keeping the config's")
        engine = self._snap.engine
        if guardrails != engine.config:
            engine = ComplianceEngine(guardrails)
        self._snap = _snapshot(compiled.values(), guardrails, engine)


async def keep_fresh(policy_set: PolicySet, every_s: float = 1.0) -> None:
    """Poll the store's revision forever (run it as a task; cancel it to stop). A store that
    is down keeps the last snapshot in force."""
    failing = False
    while True:
        await asyncio.sleep(every_s)
        try:
            await policy_set.refresh()
            failing = False
        except Exception:
            if not failing:
                log.warning("could not refresh the policies; keeping the last ones", exc_info=True)
            failing = True
