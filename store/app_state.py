"""Rows of ``app_state`` written as upserts, never read-then-insert.

Several instances start at once against one database (design invariant 7): a
"read it, insert it if missing" lets both read nothing and both insert, and one
of them dies on the primary key. ``INSERT … ON CONFLICT`` decides in the
database instead; both dialects we run on (PostgreSQL, SQLite ≥ 3.24) have it.

:func:`insert_if_missing` and :func:`put` join the caller's transaction;
:func:`setdefault` and :func:`store` are the same writes as units of work of their
own (commit), for a caller outside ``care/`` — the clock's anchor, read or stored at
start-up and saved by the sandbox's time controls — which never commits (invariant 9).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import AppState


def _insert(db: AsyncSession) -> Any:
    dialect = db.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AppState)


async def insert_if_missing(db: AsyncSession, key: str, value: str) -> bool:
    """Store `value` under `key` unless a row is there; True if this call inserted it.

    Joins the caller's transaction (caller commits); read the row afterwards to see
    the value that won.
    """
    stmt = _insert(db).values(key=key, value=value).on_conflict_do_nothing(index_elements=["key"])
    result = await db.exec(stmt)
    return bool(result.rowcount)


async def put(db: AsyncSession, key: str, value: str) -> None:
    """Store `value` under `key`, replacing what was there (caller commits)."""
    insert = _insert(db).values(key=key, value=value)
    stmt = insert.on_conflict_do_update(index_elements=["key"], set_={"value": value})
    await db.exec(stmt)


async def setdefault(db: AsyncSession, key: str, value: str) -> str:
    """Store `value` under `key` unless a row is there; commit. Returns the stored value:
    `value` if this call inserted it, else the one that was there (or won the race)."""
    if await insert_if_missing(db, key, value):
        await db.commit()
        return value
    stmt = select(AppState).where(AppState.key == key).execution_options(populate_existing=True)
    stored = (await db.exec(stmt)).one().value
    await db.commit()  # ends the read: no transaction left open on a pooled connection
    return stored


async def store(db: AsyncSession, key: str, value: str) -> None:
    """:func:`put`, committed."""
    await put(db, key, value)
    await db.commit()
