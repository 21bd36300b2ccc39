"""Staff leave end to end (issue 11 item 2): the real dispatcher against the strict fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import Alert, AuditEvent, Patient, StaffMember
from tests.fakebot import FakeBotAPI, SimUser
from tests.support.dbutil import snapshot
from tests.support.harness import ADMIN_ID, running_bot
from tests.support.hostile import Clinic, clinic_at_rest

ACCESS_OFF = "Your access has been turned off"


@pytest.fixture
async def clinic(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Clinic]:
    async with clinic_at_rest(fake, sqlite_url) as clinic:
        yield clinic


async def audit_actions(db_url: str) -> list[tuple[str, int | None]]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        events = (await db.exec(select(AuditEvent))).all()
    await engine.dispose()
    return [(e.action, e.actor_id) for e in events]


async def staff_row(db_url: str, tg: int) -> StaffMember:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        row = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == tg))).one()
    await engine.dispose()
    return row


async def callback_reply(fake: FakeBotAPI, user: SimUser, query_id: str) -> str:
    await fake.wait_until(
        lambda: any(a.get("callback_query_id") == query_id for a in user.callback_answers)
    )
    answer = next(a for a in user.callback_answers if a.get("callback_query_id") == query_id)
    return str(answer.get("text", ""))


async def test_removed_from_admin_ids_is_demoted_at_next_contact(
    fake: FakeBotAPI, sqlite_url: str
) -> None:
    admin = fake.user(ADMIN_ID, "Ada")
    async with running_bot(fake, sqlite_url):
        mark = admin.mark()
        await admin.send("/staff")
        listing = await admin.wait_for(after=mark)
        assert "Staff" in listing.text and "Ada" in listing.text
    async with running_bot(fake, sqlite_url, ADMIN_IDS="999"):  # Ada taken out
        mark = admin.mark()
        await admin.send("/invite")
        refused = await admin.wait_for(after=mark)
        assert ACCESS_OFF in refused.text
        assert fake.commands.get(f"chat:{ADMIN_ID}", []) != [] and not any(
            c["command"] == "invite" for c in fake.commands[f"chat:{ADMIN_ID}"]
        )
    ada = await staff_row(sqlite_url, ADMIN_ID)
    assert ada.active is False
    assert [a for a, _ in await audit_actions(sqlite_url)][-2:] == [
        "admin_demoted",
        "inactive_refused",
    ]
    assert fake.refused == []


async def test_deactivate_moves_alerts_lists_patients_and_reassign_tells_the_patient(
    clinic: Clinic, sqlite_url: str
) -> None:
    fake, admin = clinic.fake, clinic.admin
    tina, theo = clinic.other_therapist, clinic.therapist
    card = next(m for m in tina.inbox if "Acknowledge" in str(m.buttons()))
    mark = admin.mark()
    await admin.send("/staff")
    listing = await admin.wait_for(lambda m: m.reply_markup is not None, after=mark)
    for name in ("Theo Rapist", "Tina Second", "Sam Desk", "Ada"):
        assert name in listing.text
    assert "last seen" in listing.text
    mark = admin.mark()
    await admin.tap(listing, "Deactivate Tina Second")
    confirm = await admin.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "• 1 open alert: passed" in confirm.text and "• 1 patient: listed" in confirm.text
    mark, theo_mark = admin.mark(), theo.mark()
    await admin.tap(confirm, "Yes, deactivate")
    patients = await admin.wait_for(lambda m: "Their patients" in m.text, after=mark)
    assert "is deactivated" in " ".join(m.text for m in admin.inbox if m.seq > mark)
    # the open alert reaches the other therapist (and the admin) as a card
    await clinic.bot.background.run_once()
    moved = await theo.wait_for(lambda m: "Acknowledge" in str(m.buttons()), after=theo_mark)
    assert moved.reply_markup is not None
    # the patient gets Theo, and is told
    mark = admin.mark()
    await admin.tap(patients, patients.buttons()[0][0])
    pick = await admin.wait_for(lambda m: "new therapist" in m.text, after=mark)
    mark, patient_mark = admin.mark(), clinic.other_patient.mark()
    await admin.tap(pick, "Theo Rapist")
    await admin.wait_for(lambda m: "now has" in m.text, after=mark)
    await clinic.bot.background.run_once()
    told = await clinic.other_patient.wait_for(lambda m: "therapist" in m.text, after=patient_mark)
    assert "Theo Rapist" in told.text
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        patient = await db.get(Patient, clinic.other_patient_id)
        assert patient is not None and patient.therapist_id == clinic.therapist_ids[0]
    await engine.dispose()
    # Tina is gone: her /export and her Acknowledge button are refused, and audited
    before = await snapshot(sqlite_url)
    mark = tina.mark()
    await tina.send("/export")
    assert ACCESS_OFF in (await tina.wait_for(after=mark)).text
    query = await tina.tap(card, "Acknowledge")
    assert ACCESS_OFF in await callback_reply(fake, tina, query)
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        alert = await db.get(Alert, clinic.other_alert_id)
        assert alert is not None and alert.state == "open"
    await engine.dispose()
    after = await snapshot(sqlite_url)
    assert {k: v for k, v in after.items() if k != "audit_event"} == {
        k: v for k, v in before.items() if k != "audit_event"
    }
    tina_id = clinic.therapist_ids[1]
    refusals = [e for e in await audit_actions(sqlite_url) if e == ("inactive_refused", tina_id)]
    assert len(refusals) == 2
    assert not [m for m in tina.inbox if m.seq > mark and m.document is not None]
    assert fake.refused == []


async def test_forged_deactivate_and_reassign_are_refused_and_change_nothing(
    clinic: Clinic, sqlite_url: str
) -> None:
    fake = clinic.fake
    theo_id, tina_id = clinic.therapist_ids
    admin_staff = await staff_row(sqlite_url, ADMIN_ID)
    before = await snapshot(sqlite_url)
    forged = [
        (clinic.therapist, f"sf:c:{tina_id}"),  # a therapist deactivating a colleague
        (clinic.staff, f"sf:a:{theo_id}"),  # the desk asking
        (clinic.patient, f"sf:c:{theo_id}"),  # a patient
        (clinic.admin, f"sf:c:{admin_staff.id}"),  # an admin deactivating themselves
        (clinic.therapist, f"ra:t:{clinic.other_patient_id}:{theo_id}"),  # taking Tina's
        (clinic.staff, f"ra:t:{clinic.patient_id}:{tina_id}"),  # the desk moving one
    ]
    for user, data in forged:
        message = next(m for m in sorted(user.inbox, key=lambda m: -m.message_id))
        query = await user.tap_data(message.message_id, data)
        reply = await callback_reply(fake, user, query)
        assert reply, data
    assert await snapshot(sqlite_url) == before
    assert fake.refused == []
