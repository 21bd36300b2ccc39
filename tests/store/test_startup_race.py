"""Several instances starting at the same moment on an empty PostgreSQL database.

Issue 13, item 4: two instances started together crashed one time in two — the
migrations took no lock (``duplicate key … pg_type_typname_nsp_index`` on ``CREATE TABLE
alembic_version``, reported as a ``DATABASE_URL`` error) and the clock anchor was read
then inserted (``app_state_pkey``). Here each round starts two
processes that run the migrations at once (``python -m bot`` does that first; the whole bot
takes ~30 s to start on a loaded test machine, too slow for ten rounds), then anchors the
clock from two engines at once, on a brand-new empty database.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select

from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.migrate import upgrade
from store.models import AppState
from tests.support.dbutil import PG_SKIP_REASON, _plain_dsn, pg_base_url
from tests.support.harness import ROOT

pytestmark = pytest.mark.skipif(pg_base_url() is None, reason=PG_SKIP_REASON)


@asynccontextmanager
async def empty_postgres(base_url: str) -> AsyncIterator[str]:
    """A brand-new database with nothing in it (not migrated), dropped afterwards."""
    name = f"careloop_race_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_plain_dsn(base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_plain_dsn(base_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


MIGRATE = "import sys; from store.migrate import upgrade; upgrade(sys.argv[1])"


async def migrate_in_a_process(url: str) -> tuple[int, str]:
    """`store.migrate.upgrade` — what `python -m bot` runs first — in its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MIGRATE,
        url,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")[-300:]


async def anchor_on_its_own_engine(url: str) -> Clock:
    """What `build_app` does next: its own engine, then the clock anchor."""
    engine = create_engine(url)
    try:
        clock = Clock(1.0)
        async with session_factory(engine)() as db:
            await clock.anchor(db)
        return clock
    finally:
        await engine.dispose()


async def test_ten_paired_starts_on_an_empty_database_all_succeed() -> None:
    """Ten rounds, each on a brand-new empty database: two processes migrate at once (both
    exit 0), then two engines anchor the clock at once (both succeed, on one anchor)."""
    base = pg_base_url()
    assert base is not None
    failures: list[str] = []
    for _ in range(10):
        async with empty_postgres(base) as url:
            migrations = await asyncio.gather(migrate_in_a_process(url), migrate_in_a_process(url))
            failures += [out for code, out in migrations if code != 0]
            if any(code != 0 for code, _ in migrations):
                await asyncio.to_thread(upgrade, url)  # so the anchor race below still runs
            clocks = await asyncio.gather(
                anchor_on_its_own_engine(url),
                anchor_on_its_own_engine(url),
                return_exceptions=True,
            )
            failures += [
                f"{type(c).__name__}: {c}"[:300] for c in clocks if isinstance(c, BaseException)
            ]
            anchors = {(c.anchor_wall, c.anchor_protocol) for c in clocks if isinstance(c, Clock)}
            assert len(anchors) <= 1  # whoever won, both run on the same anchor
            engine = create_engine(url)
            async with session_factory(engine)() as db:
                rows = (await db.exec(select(AppState))).all()
                version = (await db.exec(text("SELECT version_num FROM alembic_version"))).all()  # type: ignore[call-overload]
            await engine.dispose()
            assert [r.key for r in rows] == ["clock_anchor"]
            assert len(version) == 1
    assert failures == [], failures
