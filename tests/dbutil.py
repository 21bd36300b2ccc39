"""Test databases built through the real migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from store.migrate import upgrade_async

PG_SKIP_REASON = "TEST_DATABASE_URL is not set: PostgreSQL tests skipped (CI sets it)"


def pg_base_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def _plain_dsn(url: str) -> str:
    """SQLAlchemy's postgresql+asyncpg:// URL as a plain DSN asyncpg understands."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_postgres(base_url: str) -> AsyncIterator[str]:
    """A brand-new database on the test server, migrated, dropped afterwards."""
    name = f"careloop_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_plain_dsn(base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url)
        yield url
    finally:
        admin = await asyncpg.connect(_plain_dsn(base_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def fresh_sqlite(directory: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{directory / 'careloop-test.db'}"
    await upgrade_async(url)
    yield url


@asynccontextmanager
async def bench_database(backend: str) -> AsyncIterator[str]:
    """For the benchmarks: a fresh, migrated database of `backend` ("sqlite" in a
    temporary folder, or "postgresql" next to ``TEST_DATABASE_URL``), removed after."""
    if backend == "postgresql":
        base = pg_base_url()
        if not base:
            raise SystemExit("--pg needs TEST_DATABASE_URL (postgresql+asyncpg://…)")
        async with fresh_postgres(base) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="careloop-bench-") as tmp:
        async with fresh_sqlite(Path(tmp)) as url:
            yield url
