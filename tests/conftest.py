"""Shared fixtures: migrated databases (SQLite and, when configured, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store.db import SessionFactory, create_engine, session_factory
from tests.dbutil import PG_SKIP_REASON, fresh_postgres, fresh_sqlite, pg_base_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database built by the migrations, once per backend."""
    if request.param == "sqlite":
        async with fresh_sqlite(tmp_path) as url:
            yield url
        return
    base = pg_base_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    async with fresh_postgres(base) as url:
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_sqlite(tmp_path) as url:
        yield url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()
