"""Fixtures of the virtual-key tests (the helpers live in keys_fixtures)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from keys_fixtures import pg_database


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async with pg_database() as dsn:
        yield dsn
