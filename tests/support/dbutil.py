"""Test databases built through the real migrations, on SQLite and PostgreSQL.

The migrations run once per test process (each pytest-xdist worker is one) into a
template, and every test gets its own copy of it: a file copy on SQLite, ``CREATE
DATABASE … TEMPLATE`` on PostgreSQL. A copy is the same schema the migrations built
(test_migrations checks it against the models, and moves real data up and down the
revisions), with no state shared between tests; it costs a few milliseconds instead of
running six migrations per test.

Two readers for assertions: every row of every table (`snapshot`: "the database is
unchanged" means two snapshots are equal), and the rows of one model (`rows`).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, select

from store.db import create_engine, session_factory
from store.migrate import upgrade

PG_SKIP_REASON = "TEST_DATABASE_URL is not set: PostgreSQL tests skipped (CI sets it)"
REDIS_SKIP_REASON = "TEST_REDIS_URL is not set: Redis tests skipped (e.g. redis://127.0.0.1:6379/15)"
SQLITE_FILE = "careloop-test.db"


def worker_id() -> str:
    """This test process's pytest-xdist worker ("gw0", "gw1" …), "main" when serial."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pg_base_url() -> str | None:
    """``TEST_DATABASE_URL``; under pytest-xdist, a database of this worker's own next to
    it (``…/test_gw0`` for ``…/test``), created on first use by `fresh_postgres`."""
    url = os.environ.get("TEST_DATABASE_URL") or None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url is None or worker is None:
        return url
    return _with_database(url, f"{make_url(url).database}_{worker}")


def _plain_dsn(url: str) -> str:
    """SQLAlchemy's postgresql+asyncpg:// URL as a plain DSN asyncpg understands."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(base_url: str, statement: str) -> None:
    admin = await asyncpg.connect(_plain_dsn(base_url))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


# Templates of this process, built on first use; threads (not the event loop) guard them,
# because every test runs on an event loop of its own.
_lock = threading.Lock()
_sqlite_template: Path | None = None
_pg_templates: dict[str, str] = {}


def _build_sqlite_template() -> Path:
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            folder = Path(tempfile.mkdtemp(prefix=f"careloop-template-{worker_id()}-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / SQLITE_FILE
            upgrade(f"sqlite+aiosqlite:///{path}")
            # the migrations' engine is disposed, so the WAL is checkpointed into the file
            assert not path.with_name(SQLITE_FILE + "-wal").exists()
            _sqlite_template = path
        return _sqlite_template


def _drop_pg_template(base_url: str, name: str) -> None:
    asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drop_templates() -> None:
    """Drop this process's PostgreSQL templates (pytest_sessionfinish: an xdist worker
    leaves without running atexit handlers)."""
    with _lock:
        for base_url, name in list(_pg_templates.items()):
            _drop_pg_template(base_url, name)
            del _pg_templates[base_url]


async def _ensure_database(url: str) -> None:
    """Create `url`'s database if it is missing (through the server's `postgres` one)."""
    name = make_url(url).database
    admin = await asyncpg.connect(_plain_dsn(_with_database(url, "postgres")))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def _build_pg_template(base_url: str) -> str:
    with _lock:
        name = _pg_templates.get(base_url)
        if name is None:
            asyncio.run(_ensure_database(base_url))
            name = f"careloop_tpl_{worker_id()}_{uuid.uuid4().hex[:8]}"
            asyncio.run(_admin(base_url, f'CREATE DATABASE "{name}"'))
            atexit.register(_drop_pg_template, base_url, name)
            upgrade(_with_database(base_url, name))
            _pg_templates[base_url] = name
        return name


@asynccontextmanager
async def fresh_postgres(base_url: str) -> AsyncIterator[str]:
    """A brand-new database on the test server, migrated, dropped afterwards."""
    template = await asyncio.to_thread(_build_pg_template, base_url)
    name = f"careloop_t_{uuid.uuid4().hex[:12]}"
    await _admin(base_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _with_database(base_url, name)
    finally:
        await _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_sqlite(directory: Path) -> AsyncIterator[str]:
    """A migrated SQLite database in `directory` (a copy of this process's template)."""
    template = await asyncio.to_thread(_build_sqlite_template)
    target = directory / SQLITE_FILE
    shutil.copyfile(template, target)
    yield f"sqlite+aiosqlite:///{target}"


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


# ---------------------------------------------------------------- reading a test database


async def snapshot(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table: 'the database is unchanged' means this is equal."""
    engine = create_engine(db_url)
    out: dict[str, list[tuple[object, ...]]] = {}
    async with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await conn.execute(sa_select(table).order_by(*table.primary_key.columns))).all()
            # a person's last activity (/staff) is bookkeeping every update may move, not
            # data a tap changed
            seen = (
                list(table.columns.keys()).index("last_seen_at")
                if "last_seen_at" in table.columns
                else -1
            )
            out[table.name] = [
                tuple(None if i == seen else v for i, v in enumerate(r)) for r in rows
            ]
    await engine.dispose()
    return out


async def rows(db_url: str, model, *where):  # type: ignore[no-untyped-def]
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        found = list((await db.exec(select(model).where(*where))).all())
    await engine.dispose()
    return found
