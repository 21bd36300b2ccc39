"""Shared fixtures: migrated databases (SQLite and, when configured, PostgreSQL)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scheduler.clock import Clock
from store.db import SessionFactory, create_engine, session_factory
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import (
    PG_SKIP_REASON,
    drop_templates,
    fresh_postgres,
    fresh_sqlite,
    pg_base_url,
)
from tests.support.harness import (
    START,
    TOKEN,
    ManualWall,
    Running,
    assert_no_personal_data,
    personal_words,
    running_bot,
)


def _worker_redis_url() -> None:
    """Under pytest-xdist, each worker gets a Redis database of its own: ``TEST_REDIS_URL``'s
    index minus the worker's number (gw0 keeps it, gw1 the one below …). Workers sharing
    one index cleared each other's keys (the shared-budget and Redis FSM tests)."""
    url, worker = os.environ.get("TEST_REDIS_URL"), os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker or not worker.startswith("gw"):
        return
    base, _, index = url.rpartition("/")
    number = int(index) if index.isdigit() else 0
    os.environ["TEST_REDIS_URL"] = f"{base}/{(number - int(worker[2:])) % 16}"


_worker_redis_url()


class _Records(logging.Handler):
    """Keeps every record; they are formatted only at the end, when searched."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Invariant 10 for every end-to-end test (those that use the fake Bot API): every
    log record of every logger, at DEBUG and up, is searched for the names and words the
    simulated people typed (and the hostile names of tests/support/journey.py); one found fails
    the test. Records are only formatted at the end, so the run itself stays as fast."""
    if "fake" not in request.fixturenames:
        yield
        return
    fake: FakeBotAPI = request.getfixturevalue("fake")  # so it is torn down after this
    workdir = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    handler = _Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    words = personal_words(fake)
    formatter = logging.Formatter()
    leaks = []
    for record in handler.records:
        line = formatter.format(record)
        leaks += [(record.name, word) for word in words if word in line]
    assert not leaks, f"personal data in the log (logger, word): {leaks[:5]}"
    if workdir is not None:  # the real `python -m bot`'s output (tests.support.harness.bot_process)
        process_log = workdir / "bot.log"
        if process_log.exists():
            text = process_log.read_text(encoding="utf-8", errors="replace")
            assert_no_personal_data(text, fake, where=str(process_log))

# The longest modules (docs/benchmarks.md, "Test suite"), started first: with pytest-xdist
# the run ends when its last long test does, so a long test picked up near the end of the
# queue would run alone on one worker while the others sit idle. Only the order changes.
# Paths are relative to this folder.
LONGEST_FIRST = (
    "e2e/test_property_safety_net.py",
    "e2e/test_scale_pg.py",
    "e2e/test_e2e_process.py",
    "e2e/test_e2e_process_scheduling.py",
    "e2e/test_outages_process.py",
    "e2e/test_webhook_sigkill.py",
    "sandbox/test_browser.py",
)
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.resolve()
        name = path.relative_to(TESTS).as_posix() if path.is_relative_to(TESTS) else path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its place


def pytest_sessionfinish() -> None:
    drop_templates()


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
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database built by the migrations; skipped without a server."""
    base = pg_base_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    async with fresh_postgres(base) as url:
        yield url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """The strict fake Bot API on a free port of 127.0.0.1."""
    server = FakeBotAPI(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def wall() -> ManualWall:
    """A wall clock the test moves by hand (protocol time follows it, scale 1)."""
    return ManualWall(START)


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str, wall: ManualWall) -> AsyncIterator[Running]:
    """The real dispatcher and background jobs on the hand-moved clock; tests drive the
    sweeps and dispatch with `bot.background.run_once()` (the scheduler's own interval is
    long so that every pass is the test's)."""
    async with running_bot(
        fake, sqlite_url, clock=Clock(wall=wall), DISPATCH_INTERVAL_SECONDS="60"
    ) as running:
        yield running
