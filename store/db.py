"""Async engine and sessions for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]

# A pooled PostgreSQL connection idle longer than this is pinged before use.
IDLE_PING_AFTER_SECONDS = 5.0


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# Loggers that print statement parameters or result rows below these levels (a patient's
# name, typed words, answers): aiosqlite logs every call with its arguments at DEBUG, and
# SQLAlchemy's engine logs statements at INFO and rows at DEBUG when its logger inherits a
# DEBUG root (LOG_LEVEL=DEBUG). Invariant 10: logs carry ids only, at any level.
PAYLOAD_LOGGERS = {"aiosqlite": logging.INFO, "sqlalchemy.engine": logging.WARNING}


def keep_parameters_out_of_logs() -> None:
    """Raise the payload loggers to the levels at which they no longer print data
    (idempotent; every engine calls it, in the bot, the sandbox and the tests alike)."""
    for name, level in PAYLOAD_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine tuned for the backend: WAL and a busy timeout on SQLite.

    WAL lets the dispatcher read while a handler writes; the busy timeout turns
    a momentary write lock into a short wait instead of an error.

    ``hide_parameters``: a failing statement's exception (IntegrityError, DataError …)
    and SQLAlchemy's own log lines would otherwise carry its parameters — a name, a
    patient's typed words — into the log at ERROR (invariant 10).
    """
    keep_parameters_out_of_logs()
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only if it sat idle for a while.

    A connection the database dropped (a restart, a failover, an idle timeout) must
    not fail the next patient's tap, so connections are checked before use — but
    SQLAlchemy's ``pool_pre_ping`` pings on *every* checkout, a round trip that was a
    fifth of a tap's database time (bench/updates.py). A connection that came back to
    the pool moments ago is alive; one that sat idle is pinged. A dead one is replaced
    (``DisconnectionError`` makes the pool discard it and connect afresh). A database
    that fails mid-traffic is still noticed by the statement that fails, and the pool
    then drops every older connection.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _maybe_ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_AFTER_SECONDS:
            return  # new, or back in the pool moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises for a dead connection
            raise sa_exc.DisconnectionError(str(exc)) from exc


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit (no lazy reloads)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
