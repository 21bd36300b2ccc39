"""Invariant 10: a failing statement does not carry a patient's name into the log.

The e2e tests are searched by the autouse fixture of tests/conftest.py; this is the direct
case of issue 11 item 3: a statement that fails with a hostile name as a parameter, logged
the way the bot logs a failed update, at every level, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from store.db import create_engine, session_factory
from store.models import Patient
from tests.support.journey import PATIENT_NAME

NOTE = "me duele <mucho> & más"


async def test_a_failing_statement_logs_no_parameters(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # LOG_LEVEL=DEBUG: every logger, every level
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as db:
            before = (await db.exec(select(func.count()).select_from(Patient))).one()
        async with sessions() as db:
            # no therapist 999999: the foreign key refuses the row
            db.add(
                Patient(
                    display_name=PATIENT_NAME,
                    therapist_id=999_999,
                    baseline_pain=6,
                    timezone=NOTE,
                    created_at=datetime(2026, 11, 23, tzinfo=UTC),
                )
            )
            with pytest.raises(IntegrityError) as failure:
                await db.commit()
        logging.getLogger("bot.app").error(
            "update %s failed: %s", 1, type(failure.value).__name__, exc_info=failure.value
        )
        async with sessions() as db:
            after = (await db.exec(select(func.count()).select_from(Patient))).one()
    finally:
        await engine.dispose()
    assert after == before  # nothing stored
    assert "hidden" in str(failure.value)  # SQLAlchemy says the parameters were left out
    logged = caplog.text + "\n".join(
        logging.Formatter().format(r) for r in caplog.records
    )
    assert "update 1 failed: IntegrityError" in logged
    for word in (PATIENT_NAME, "O'Brien", NOTE):
        assert word not in str(failure.value)
        assert word not in logged
