"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables)
from store.db import create_engine


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


async def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    async with engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    await engine.dispose()
    assert differences == []


async def test_0005_turns_old_single_q4_answers_into_masks_and_back(db_url: str) -> None:
    """Old Q4 rows (one choice's index) decode after the upgrade: index i becomes the mask
    of the same key in the new order; "fainted or nearly fainted" stays "fainted"."""
    from datetime import UTC, datetime

    from sqlalchemy import text
    from sqlmodel import select

    from flows.answers import decode_answer
    from flows.loader import load_protocol
    from store.db import session_factory
    from store.migrate import alembic_config, upgrade_async
    from store.models import Answer, Checkin

    at = datetime(2026, 3, 2, 10, tzinfo=UTC).replace(tzinfo=None)  # stored as naive UTC
    from alembic import command

    # the schema before multi answers; rows written with plain SQL, as the models of today
    # have columns the old schema lacks
    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0003")
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with sessions() as db:
        await db.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO staff_member (id, tg_user_id, role, name, language, active, "
                "created_at) VALUES (1, 1, 'therapist', 'T', 'en', true, :at)"
            ),
            params={"at": at},
        )
        await db.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO patient (id, therapist_id, status, language, reminder_time, "
                "baseline_pain, activities, exercises, leg_symptoms, exercise_reminders, "
                "missed_checkins, consecutive_missed, created_at) VALUES (1, 1, 'active', "
                "'en', '18:00', 5, '[]', '[]', false, true, 0, 0, :at)"
            ),
            params={"at": at},
        )
        old_rows = {"h3": 0, "h24": 2, "h48": 3, "h72": 4, "x": 1}
        answers = [(key, "Q4", index) for key, index in old_rows.items()] + [("x", "Q1", 3)]
        for number, (key, question, value) in enumerate(answers, start=1):
            if question == "Q4":
                await db.exec(  # type: ignore[call-overload]
                    text(
                        "INSERT INTO checkin (id, patient_id, key, state, due_at, expires_at, "
                        "nudged) VALUES (:id, 1, :key, 'done', :at, :at, false)"
                    ),
                    params={"id": number, "key": key, "at": at},
                )
            await db.exec(  # type: ignore[call-overload]
                text(
                    "INSERT INTO answer (checkin_id, patient_id, question_key, value, "
                    "answered_at) VALUES (:checkin, 1, :question, :value, :at)"
                ),
                params={
                    "checkin": list(old_rows).index(key) + 1,
                    "question": question,
                    "value": value,
                    "at": at,
                },
            )
        await db.commit()
    await upgrade_async(db_url, "0005")
    q4 = load_protocol().questions["Q4"]

    async def values() -> dict[str, int]:
        async with sessions() as db:
            rows = await db.exec(
                select(Checkin.key, Answer.question_key, Answer.value).join(
                    Answer,
                    Answer.checkin_id == Checkin.id,  # type: ignore[arg-type]
                )
            )
            return {f"{k}/{q}": v for k, q, v in rows.all()}

    upgraded = await values()
    assert {k: decode_answer(q4, v) for k, v in upgraded.items() if k.endswith("Q4")} == {
        "h3/Q4": ("nothing_new",),
        "h24/Q4": ("leg_weakness",),
        "h48/Q4": ("fainted",),
        "h72/Q4": ("fever_chills",),
        "x/Q4": ("numbness_tingling",),
    }
    assert upgraded["x/Q1"] == 3  # other questions are untouched
    # downgrade keeps the most severe choice of a mask, as the old index
    async with sessions() as db:
        await db.exec(  # type: ignore[call-overload]
            text("UPDATE answer SET value = :both WHERE value = :fever"),
            params={"both": (1 << 3) | (1 << 5), "fever": 1 << 5},  # felt faint + fever
        )
        await db.commit()
    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0004")  # 0005 undone
    down = await values()
    assert [down[f"{k}/Q4"] for k in ("h3", "h24", "h48", "h72", "x")] == [0, 2, 3, 3, 1]
    await engine.dispose()
    await upgrade_async(db_url)
