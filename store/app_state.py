"""Rows of ``app_state`` written as upserts, never read-then-insert.

Several instances start at once against one database (design invariant 7): a
"read it, insert it if missing" lets both read nothing and both insert, and one
of them dies on the primary key. ``INSERT … ON CONFLICT`` decides in the
database instead; both dialects we run on (PostgreSQL, SQLite ≥ 3.24) have it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
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
