"""Pooled PostgreSQL connections the server dropped do not fail the next user.

The pool pings a connection before use only when it sat idle (store/db.py); these
tests end the server side of pooled connections, as a restart or an idle timeout
would, and check that the next session still answers. Needs ``TEST_DATABASE_URL``.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import store.db
from store.db import create_engine, session_factory
from tests.support.dbutil import PG_SKIP_REASON, _plain_dsn, pg_base_url

pytestmark = pytest.mark.skipif(pg_base_url() is None, reason=PG_SKIP_REASON)


async def backend_pid(sessions: store.db.SessionFactory) -> int:
    async with sessions() as db:
        return int((await db.exec(text("SELECT pg_backend_pid()"))).one()[0])  # type: ignore[call-overload]


async def terminate(url: str, pid: int) -> None:
    """End one server process; PostgreSQL (14+) waits up to 10 s until it has exited."""
    admin = await asyncpg.connect(_plain_dsn(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
    finally:
        await admin.close()


async def test_an_idle_connection_the_server_dropped_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store.db, "IDLE_PING_AFTER_SECONDS", 0.0)  # every reuse counts as idle
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    sessions = session_factory(engine)
    try:
        first = await backend_pid(sessions)
        await terminate(pg_url, first)
        second = await backend_pid(sessions)  # would raise without the ping
        assert second != first
    finally:
        await engine.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(pg_url: str) -> None:
    """The reason for pinging only idle connections: a busy pool reuses its connection
    with no extra round trip, so a dropped one is noticed by the statement that fails,
    and the next session connects afresh."""
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    sessions = session_factory(engine)
    try:
        first = await backend_pid(sessions)
        await terminate(pg_url, first)
        with pytest.raises(DBAPIError) as failed:
            await backend_pid(sessions)
        assert failed.value.connection_invalidated, failed.value  # so the pool drops it
        assert await backend_pid(sessions) != first
    finally:
        await engine.dispose()
