"""Issue 11 item 5: after /delete nothing that names the patient survives — not in the
database (only the tombstone and ids-only audit events), not in the therapist's chat (every
alert card and notice is edited to "[erased patient]", copies of their media deleted)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from bot.delivery import ERASED_TEXT
from store.db import create_engine, session_factory
from store.models import AuditEvent, OutboxMessage, Patient, PatientStatus
from tests.fakebot import FakeBotAPI
from tests.support.hostile import OTHER_PATIENT, Clinic, clinic_at_rest

CAPTION = "mi rodilla hinchada"


@pytest.fixture
async def clinic(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Clinic]:
    async with clinic_at_rest(fake, sqlite_url) as clinic:
        yield clinic


async def _dump(db_url: str) -> list[tuple[str, dict[str, Any]]]:
    """Every row of every table."""
    engine = create_engine(db_url)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        async with engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                result = await conn.execute(sa_select(table))
                rows += [(table.name, dict(r._mapping)) for r in result]
    finally:
        await engine.dispose()
    return rows


async def test_delete_redacts_staff_chats_and_leaves_only_ids(
    clinic: Clinic, fake: FakeBotAPI, sqlite_url: str
) -> None:
    patient, therapist = clinic.other_patient, clinic.other_therapist
    # the patient passes a photo with words on it too: the card grows, the photo is copied
    mark = patient.mark()
    await patient.send_photo(caption=CAPTION)
    reply = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await patient.tap(reply, reply.buttons()[0][0])
    mark = therapist.mark()
    await clinic.bot.background.run_once()
    copied = await therapist.wait_for(lambda m: m.photo is not None, after=mark)
    shown = "\n".join(m.text or m.caption or "" for m in therapist.inbox)
    assert "Omar" in shown and "me duele" in shown  # the card names them, before

    mark = patient.mark()
    await patient.send("/delete")
    confirm = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(confirm, "Yes, erase my data")
    await patient.wait_for(lambda m: "erased" in (m.text or ""), after=mark)
    await clinic.bot.background.run_once()
    await clinic.bot.background.run_once()

    # the therapist's chat: no name, no words, no photo of theirs; the cards say so
    # what this patient's name and words are (the other patient of the clinic stays)
    words = {"Omar <b>Two</b>", "Omar", "me duele <mucho> & más", "me duele", CAPTION}
    left = [m for m in therapist.inbox if any(w in (m.text or m.caption or "") for w in words)]
    assert left == [], [m.text for m in left]
    assert therapist.message(copied.message_id) is None  # the copied photo is deleted
    assert any(m.text == ERASED_TEXT and m.reply_markup is None for m in therapist.inbox)
    assert not fake.refused

    # the database: the tombstone, ids-only audit events, and no chat id of the patient
    leaks = []
    for table, row in await _dump(sqlite_url):
        for column, value in row.items():
            if value == OTHER_PATIENT or any(w in str(value) for w in words):
                leaks.append((table, column, str(value)[:40]))
    assert leaks == []
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        tomb = await db.get(Patient, clinic.other_patient_id)
        assert tomb is not None and tomb.status == PatientStatus.DELETED
        assert tomb.display_name is None and tomb.tg_user_id is None
        erased = (
            await db.exec(select(AuditEvent).where(AuditEvent.action == "patient_erased"))
        ).all()
        assert [(e.subject_id, e.detail) for e in erased] == [(clinic.other_patient_id, {})]
        pending = (
            await db.exec(
                select(OutboxMessage).where(
                    OutboxMessage.patient_id == clinic.other_patient_id,
                    OutboxMessage.state == "pending",
                )
            )
        ).all()
        assert [r.kind for r in pending] == []  # the therapist's notice went out
    await engine.dispose()
