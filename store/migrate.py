"""Alembic migrations, run programmatically so `make run` and the tests share them."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (blocking; call from a thread in async code).

    Several instances may start at once. On PostgreSQL the migrations run under an
    advisory lock (store/migrations/env.py). A SQLite file is locked with an exclusive
    ``flock`` on ``<file>.migrate-lock`` beside it for the duration: SQLite's own
    write lock is not enough, as Alembic reads the version before it writes.
    """
    with _file_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


@contextlib.contextmanager
def _file_lock(database_url: str) -> Iterator[None]:
    url = make_url(database_url)
    path = url.database
    if not url.drivername.startswith("sqlite") or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)
