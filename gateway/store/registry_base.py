"""The registry of MCP servers and A2A agents: where registrations made through the admin API
live, shared by every replica (PostgreSQL in shared mode, the SQLite file when embedded).

Entries are the JSON of `gateway.core.toolspecs` specs, stored as documents: the store does not
interpret them, the admin API validates before writing and the live registry after reading (so
a document an older or newer gateway wrote is skipped with a log line, never a crash). Every
write bumps one generation number, so replicas notice changes with one cheap read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from gateway.settings import Settings

Kind = Literal["mcp", "a2a"]
KINDS: tuple[Kind, ...] = ("mcp", "a2a")
Document = dict[str, Any]
Documents = list[Document]


class RegistryStore(Protocol):
    async def list(self, kind: Kind) -> Documents:
        """Every entry of `kind`, by name."""
        ...

    async def get(self, kind: Kind, name: str) -> Document | None: ...

    async def put(self, kind: Kind, name: str, doc: Document) -> bool:
        """Create or replace; True when it was created."""
        ...

    async def delete(self, kind: Kind, name: str) -> bool:
        """True when there was an entry to delete."""
        ...

    async def generation(self) -> int:
        """A number that grows with every write (0: never written)."""
        ...

    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def open_registry_store(settings: Settings) -> AsyncIterator[RegistryStore]:
    """PostgreSQL when DATABASE_URL is set (shared by replicas), else SQLite in the data dir."""
    store: RegistryStore
    if settings.database_url:
        from gateway.store.registry_postgres import PostgresRegistryStore

        store = await PostgresRegistryStore.connect(settings.database_url)
    else:
        from gateway.store.registry_sqlite import SqliteRegistryStore

        store = await SqliteRegistryStore.open(settings.data_dir)
    try:
        yield store
    finally:
        await store.close()
