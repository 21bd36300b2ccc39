"""Alembic environment: async engines, the project's metadata."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables)
from store.db import create_engine

config = context.config
target_metadata = SQLModel.metadata


MIGRATION_LOCK = 0x6361_7265_6C6F_6F70 & 0x7FFF_FFFF_FFFF_FFFF  # "careloop", as a bigint
"""The PostgreSQL advisory lock key every instance migrates under."""


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Instances starting together would otherwise both find no alembic_version and
        # both CREATE it (duplicate key on pg_type). A transaction-level advisory lock,
        # taken first in the transaction the migrations run in: the second instance waits
        # here, then sees the first one's committed head and has nothing to do. It is let
        # go at that transaction's commit or rollback, also if the process dies.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_async())
        return
    raise RuntimeError("call store.migrate.upgrade from a thread, not from the event loop")


run_migrations_online()
