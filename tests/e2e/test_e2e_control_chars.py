"""Control characters typed into the bot (issue 11 item 4), on SQLite and PostgreSQL.

A NUL in a name or a note used to fail on PostgreSQL's text type with no reply at all, and
an enrollment whose name held one never finished. Now a typed message with a C0 control
(tab, line feed and carriage return excepted) is refused with a clear reply and nothing is
stored; a name Telegram gives us (a new staff member's profile) is stored without them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scheduler.clock import Clock
from store.models import Patient, PatientNote, StaffMember
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import rows
from tests.support.e2e import STAFF, THERAPIST, enrolled_patient
from tests.support.harness import ManualWall, Running, running_bot
from tests.support.journey import enroll, invite

REFUSED = "invisible control characters"


@pytest.fixture
async def bot(fake: FakeBotAPI, db_url: str, wall: ManualWall) -> AsyncIterator[Running]:
    async with running_bot(
        fake, db_url, clock=Clock(wall=wall), DISPATCH_INTERVAL_SECONDS="60"
    ) as running:
        yield running


async def test_a_name_with_a_nul_is_refused_and_the_enrollment_then_finishes(
    bot: Running, fake: FakeBotAPI, db_url: str
) -> None:
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    staff = fake.user(STAFF, "Sam")
    await invite(fake, "Front-desk staff", staff)
    mark = staff.mark()
    await staff.send("/enroll")
    await staff.wait_for(lambda m: "name" in m.text, after=mark)
    for bad in ("Zoe\x00 Ruiz", "Zoe\x07Ruiz", "\x1bZoe"):
        mark = staff.mark()
        await staff.send(bad)
        reply = await staff.wait_for(after=mark)
        assert REFUSED in reply.text and reply.reply_markup is None
        assert "\x00" not in reply.html
        assert await rows(db_url, Patient) == []
    # still at the name step: a clean name goes on, and the enrollment finishes
    mark = staff.mark()
    await staff.send("Zoe Ruiz")
    therapist_q = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "Theo Rapist" in str(therapist_q.buttons())
    token, _, _ = await enroll(fake, staff, name="Zoe\tRuiz")  # a tab is whitespace
    assert token
    (patient,) = await rows(db_url, Patient)
    assert patient.display_name == "Zoe Ruiz"
    assert fake.refused == []


async def test_a_note_with_a_nul_is_refused_with_the_safety_line_and_not_stored(
    bot: Running, fake: FakeBotAPI, db_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("my leg\x00 is numb")
    reply = await patient.wait_for(after=mark)
    assert REFUSED in reply.text and "112" in reply.text
    assert await rows(db_url, PatientNote) == []
    mark = patient.mark()
    await patient.send("my leg is numb\nsince last night")
    await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    (note,) = await rows(db_url, PatientNote)
    assert note.text == "my leg is numb\nsince last night"
    assert fake.refused == []


async def test_a_staff_name_from_telegram_with_a_nul_is_stored_without_it(
    bot: Running, fake: FakeBotAPI, db_url: str
) -> None:
    newcomer = fake.user(STAFF, "Sam\x00", last_name="De\x1fsk")
    await invite(fake, "Front-desk staff", newcomer)
    staff = await rows(db_url, StaffMember, StaffMember.tg_user_id == STAFF)
    assert [s.name for s in staff] == ["Sam Desk"]
    assert fake.refused == []
