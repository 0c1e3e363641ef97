"""Where policies and the guardrail settings are kept: versioned documents, validated on write.

Every write appends a version (numbers grow per name and are never reused, so an audit record's
`policy@version` stays resolvable) and moves the name's head to it; the head is the active
version. A rollback appends a copy of an old version (history is kept, its note says
"rollback to v3"). A delete drops the head only: the policy stops applying, its history stays
readable, and writing the name again continues its numbering. Writing exactly what is active
is a no-op (the answer's note is "unchanged"), so applying one file twice makes one version.
A document that states its `version` must state the next one (else PolicyConflict, 409),
or the active one when it is unchanged. The guardrail settings (`GuardrailConfig`) are one
more versioned document in the same store. `revision()` grows on every write, so a replica
polls one number to know whether to reload.

Two backends share this logic: SQLite in the data directory (embedded) and PostgreSQL
(DATABASE_URL). They implement the few primitives of `VersionedStore`.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import ValidationError

from gateway.compliance.config import GuardrailConfig
from gateway.core.errors import GatewayError, InvalidRequest, NotFound
from gateway.policy.compile import compile_policy
from gateway.settings import Settings

Kind = Literal["policy", "guardrails"]
GUARDRAILS = "guardrails"  # the name the guardrail settings are stored under
NAME_MAX = 64
VERSION_MAX = 2**31 - 1
_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]*")


class PolicyConflict(GatewayError):
    """Optimistic concurrency: the document says which version it would become, and another
    write got there first."""

    status: ClassVar[int] = 409
    openai_type: ClassVar[str] = "invalid_request_error"
    anthropic_type: ClassVar[str] = "invalid_request_error"
    default_code: ClassVar[str | None] = "version_conflict"


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """One stored version. `document` includes its `version`; `active` is whether it is the
    name's head; `note` is "created", "updated" or "rollback to v3"."""

    name: str
    version: int
    document: dict[str, Any]
    created_at: float
    active: bool
    note: str

    def summary(self) -> dict[str, Any]:
        """For listings: everything but the document."""
        return {
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "active": self.active,
            "note": self.note,
        }

    def public(self) -> dict[str, Any]:
        return {**self.summary(), "document": self.document}


class PolicyStore(Protocol):
    async def put(self, document: Mapping[str, Any]) -> StoredPolicy: ...
    async def active(self) -> list[StoredPolicy]: ...
    async def get(self, name: str, version: int | None = None) -> StoredPolicy: ...
    async def versions(self, name: str) -> list[StoredPolicy]: ...
    async def rollback(self, name: str, version: int) -> StoredPolicy: ...
    async def delete(self, name: str) -> None: ...
    async def guardrails(self) -> GuardrailConfig: ...
    async def guardrails_version(self) -> StoredPolicy | None: ...
    async def guardrail_versions(self) -> list[StoredPolicy]: ...
    async def put_guardrails(self, config: GuardrailConfig) -> StoredPolicy: ...
    async def revision(self) -> int: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Row:
    """A version as the backends read it."""

    name: str
    version: int
    created_at: float
    note: str
    document: dict[str, Any]
    active: bool

    def stored(self) -> StoredPolicy:
        return StoredPolicy(
            self.name, self.version, self.document, self.created_at, self.active, self.note
        )


# What a write appends, decided inside the backend's transaction from the name's latest version
# number, its head (None when deleted or new) and, for a rollback, the source version's
# document: the document and its note, or None when the head already says exactly this.
Maker = Callable[[int, Row | None, dict[str, Any] | None], tuple[dict[str, Any], str] | None]
UNCHANGED = "unchanged"  # the note of what `put` returns when it wrote nothing


def policy_maker(document: Mapping[str, Any]) -> tuple[str, Maker]:
    """Validate a policy document now (PolicyError, 400, with its location) and return its name
    and how to stamp it once the latest version is known. Writing what is already active is a
    no-op (so applying the same file twice makes no new version)."""
    policy = compile_policy(document).policy
    expected = policy.version if "version" in document else None

    def make(latest: int, head: Row | None, source: dict[str, Any] | None) -> Any:
        if head is not None and expected in (None, head.version):
            same = policy.model_copy(update={"version": head.version}).model_dump(mode="json")
            if same == head.document:
                return None
        if expected is not None and expected != latest + 1:
            raise PolicyConflict(
                f"policy '{policy.name}' is at version {latest}: a document saying version "
                f"{expected} was written against another version (leave 'version' out to "
                "write the next one)",
                param="version",
            )
        stamped = policy.model_copy(update={"version": latest + 1})
        return stamped.model_dump(mode="json"), "created" if head is None else "updated"

    return policy.name, make


def rollback_maker(name: str, version: int) -> Maker:
    """Copy `version` as the next version, validated again (the language may have moved)."""

    def make(latest: int, head: Row | None, source: dict[str, Any] | None) -> Any:
        assert source is not None
        copied = compile_policy({**source, "version": latest + 1}).policy
        return copied.model_dump(mode="json"), f"rollback to v{version}"

    return make


def guardrails_maker(config: GuardrailConfig) -> Maker:
    def make(latest: int, head: Row | None, source: dict[str, Any] | None) -> Any:
        document = config.model_dump(mode="json")
        if head is not None and head.document == document:
            return None
        return document, "created" if head is None else "updated"

    return make


def valid_name(name: str) -> bool:
    """Could be a policy name (what the model accepts); anything else cannot be stored."""
    return len(name) <= NAME_MAX and _NAME.fullmatch(name) is not None


def valid_version(version: int) -> bool:
    """Version numbers are 32-bit positive integers (both backends' INTEGER column)."""
    return 1 <= version <= VERSION_MAX


def decode_guardrails(document: Mapping[str, Any]) -> GuardrailConfig:
    try:
        return GuardrailConfig.model_validate(document)
    except ValidationError as exc:  # stored by an older build with other fields
        raise InvalidRequest(f"the stored guardrail settings no longer validate: {exc}") from None


class VersionedStore(abc.ABC):
    """The `PolicyStore` logic over a backend's primitives."""

    @abc.abstractmethod
    async def _append(
        self, kind: Kind, name: str, make: Maker, source_version: int | None = None
    ) -> Row:
        """In one transaction: read the latest version number and the head row (and the source
        version's document, NotFound if missing), append make's document as latest+1, move the
        head to it, bump the revision. When make returns None, write nothing and return the head
        with the note UNCHANGED."""

    @abc.abstractmethod
    async def _heads(self, kind: Kind) -> list[Row]: ...

    @abc.abstractmethod
    async def _row(self, kind: Kind, name: str, version: int | None) -> Row | None:
        """One version, or the head when version is None."""

    @abc.abstractmethod
    async def _rows(self, kind: Kind, name: str) -> list[Row]: ...

    @abc.abstractmethod
    async def _drop_head(self, kind: Kind, name: str) -> bool: ...

    @abc.abstractmethod
    async def revision(self) -> int: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def put(self, document: Mapping[str, Any]) -> StoredPolicy:
        name, make = policy_maker(document)
        return (await self._append("policy", name, make)).stored()

    async def active(self) -> list[StoredPolicy]:
        return [row.stored() for row in await self._heads("policy")]

    async def get(self, name: str, version: int | None = None) -> StoredPolicy:
        known = valid_name(name) and (version is None or valid_version(version))
        row = await self._row("policy", name, version) if known else None
        if row is None:
            what = f"version {version} of policy" if version is not None else "active policy"
            raise NotFound(f"no {what} named '{name}'", param="name")
        return row.stored()

    async def versions(self, name: str) -> list[StoredPolicy]:
        rows = await self._rows("policy", name) if valid_name(name) else []
        if not rows:
            raise NotFound(f"no policy named '{name}' was ever stored", param="name")
        return [row.stored() for row in rows]

    async def rollback(self, name: str, version: int) -> StoredPolicy:
        if not valid_name(name):
            raise NotFound(f"no policy named '{name}' was ever stored", param="name")
        if not valid_version(version):
            raise missing_version(name, version)
        row = await self._append("policy", name, rollback_maker(name, version), version)
        return row.stored()

    async def delete(self, name: str) -> None:
        if not (valid_name(name) and await self._drop_head("policy", name)):
            raise NotFound(f"no active policy named '{name}'", param="name")

    async def guardrails(self) -> GuardrailConfig:
        row = await self._row("guardrails", GUARDRAILS, None)
        return GuardrailConfig() if row is None else decode_guardrails(row.document)

    async def guardrails_version(self) -> StoredPolicy | None:
        row = await self._row("guardrails", GUARDRAILS, None)
        return None if row is None else row.stored()

    async def guardrail_versions(self) -> list[StoredPolicy]:
        return [row.stored() for row in await self._rows("guardrails", GUARDRAILS)]

    async def put_guardrails(self, config: GuardrailConfig) -> StoredPolicy:
        return (await self._append("guardrails", GUARDRAILS, guardrails_maker(config))).stored()


def missing_version(name: str, version: int) -> NotFound:
    return NotFound(f"policy '{name}' has no version {version}", param="version")


@contextlib.asynccontextmanager
async def open_policy_store(settings: Settings) -> AsyncIterator[VersionedStore]:
    """PostgreSQL when DATABASE_URL is set (shared by replicas), else SQLite in the data dir."""
    store: VersionedStore
    if settings.database_url:
        from gateway.policy.store_postgres import PostgresPolicyStore

        store = await PostgresPolicyStore.connect(settings.database_url)
    else:
        from gateway.policy.store_sqlite import SqlitePolicyStore

        store = SqlitePolicyStore.in_data_dir(settings.data_dir)
    try:
        yield store
    finally:
        await store.close()
