"""The first journey end to end: real dispatcher, strict fake Bot API, real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel, func, select

from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import (
    AuditEvent,
    ConsentEvent,
    LinkToken,
    NeedlingSession,
    Patient,
    PatientStatus,
    StaffMember,
)
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import snapshot
from tests.support.harness import ADMIN_ID, ManualWall, Running, bot_process, running_bot
from tests.support.journey import PATIENT_NAME, enroll, invite, join_and_consent

ESCAPED_NAME = "Zoë &lt;O'Brien&gt; &amp; 🦵"
THERAPIST, STAFF, PATIENT, STRANGER = 2000, 3000, 4000, 5000


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Running]:
    async with running_bot(fake, sqlite_url) as running:
        yield running


async def count(db_url: str, model: type[SQLModel]) -> int:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        value = (await db.exec(select(func.count()).select_from(model))).one()
    await engine.dispose()
    return int(value)


async def setup_clinic(fake: FakeBotAPI) -> None:
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam", last_name="Desk"))


async def test_full_journey_escapes_the_name_everywhere(bot: Running, sqlite_url: str) -> None:
    fake = bot.fake
    await setup_clinic(fake)
    staff, patient = fake.user(STAFF), fake.user(PATIENT, "Zoe", language_code="en")
    token, done, qr = await enroll(fake, staff)
    assert PATIENT_NAME in done.text and ESCAPED_NAME in done.html
    assert qr.photo is not None and qr.photo.startswith(b"\x89PNG")
    assert f"https://t.me/{fake.bot_username}?start={token}" in done.text
    agreed = await join_and_consent(patient, token)
    assert "112" in agreed.text
    welcome = next(m for m in patient.inbox if "Welcome" in m.text)
    assert "Theo Rapist" in welcome.text and "Clínica Río &amp; Mar" in welcome.html
    consent = next(m for m in patient.inbox if "emergency" in m.text and m.reply_markup is None)
    assert "not watched around the clock" in consent.text and "/delete" in consent.text
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        stored = (await db.exec(select(Patient))).one()
        assert stored.display_name == PATIENT_NAME and stored.status == PatientStatus.ACTIVE
        assert stored.tg_user_id == PATIENT and stored.baseline_pain == 6
        session = (await db.exec(select(NeedlingSession))).one()
        assert session.regions == ["piriformis", "thoracic"]
        event = (await db.exec(select(ConsentEvent))).one()
        assert event.decision == "agreed"
    await engine.dispose()
    assert fake.commands.get(f"chat:{PATIENT}")  # the patient's menu was set
    assert fake.refused == []


async def test_refusals_leave_the_database_unchanged(bot: Running, sqlite_url: str) -> None:
    fake = bot.fake
    await setup_clinic(fake)
    staff = fake.user(STAFF)
    token, _, _ = await enroll(fake, staff)
    first = fake.user(PATIENT, "Zoe")
    await join_and_consent(first, token)
    # the sweeps' own writes of the day (the digest marker) happen before the snapshot, not
    # between two of them (a slower start, e.g. logging at DEBUG, let them land in between)
    await bot.background.run_once()

    # a reused token
    before = await snapshot(sqlite_url)
    mark = first.mark()
    await first.start(token)
    reply = await first.wait_for(after=mark)
    assert "already been used" in reply.text
    assert await snapshot(sqlite_url) == before

    # an unknown token and a malformed one
    stranger = fake.user(STRANGER, "Eve")
    for bad in ("A" * 32, "not a token!", "x" * 64):
        mark = stranger.mark()
        await stranger.start(bad)
        reply = await stranger.wait_for(after=mark)
        assert "not valid" in reply.text
    assert await snapshot(sqlite_url) == before

    # a non-staff /enroll, from a stranger and from the patient
    for person in (stranger, first):
        mark = person.mark()
        await person.send("/enroll")
        reply = await person.wait_for(after=mark)
        assert "name" not in reply.text.lower() or "careloop" in reply.text
    assert await snapshot(sqlite_url) == before

    # forged callback data: consent for someone else, a therapist pick, garbage
    for data in ("cs:1:1", "et:1", "inv:admin", "zzz", "ebl:99"):
        mark = stranger.mark()
        query_id = await stranger.tap_data(reply.message_id, data)
        await fake.wait_until(
            lambda q=query_id: any(
                a.get("callback_query_id") == q for a in stranger.callback_answers
            )
        )
    assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_second_account_is_refused(fake: FakeBotAPI, sqlite_url: str) -> None:
    async with running_bot(fake, sqlite_url) as bot:
        await setup_clinic(bot.fake)
        token, _, _ = await enroll(fake, fake.user(STAFF))
        owner, other = fake.user(PATIENT, "Zoe"), fake.user(STRANGER, "Mallory")
        mark = owner.mark()
        await owner.start(token)
        await owner.wait_for(lambda m: m.reply_markup is not None, after=mark)
        before = await snapshot(sqlite_url)
        mark = other.mark()
        await other.start(token)
        reply = await other.wait_for(after=mark)
        assert "another Telegram account" in reply.text
        # the other account cannot press the owner's consent button either
        consent = next(m for m in owner.inbox if m.reply_markup is not None)
        query_id = await other.tap_data(reply.message_id, consent.button_data("I agree"))
        await fake.wait_until(
            lambda: any(a.get("callback_query_id") == query_id for a in other.callback_answers)
        )
        assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_expired_link_changes_nothing(fake: FakeBotAPI, sqlite_url: str) -> None:
    wall = ManualWall(datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
    async with running_bot(fake, sqlite_url, clock=Clock(wall=wall), INVITE_TTL_HOURS="1"):
        await setup_clinic(fake)
        token, _, _ = await enroll(fake, fake.user(STAFF))
        wall.advance(timedelta(minutes=61))
        before = await snapshot(sqlite_url)
        late = fake.user(PATIENT, "Late")
        mark = late.mark()
        await late.start(token)
        reply = await late.wait_for(after=mark)
        assert "expired" in reply.text
        assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_enroll_input_errors_and_cancel(bot: Running, sqlite_url: str) -> None:
    fake = bot.fake
    await setup_clinic(fake)
    staff = fake.user(STAFF)
    before = await snapshot(sqlite_url)
    mark = staff.mark()
    await staff.send("/enroll")
    await staff.wait_for(after=mark)
    mark = staff.mark()
    await staff.send("N" * 65)
    reply = await staff.wait_for(after=mark)
    assert "65 characters" in reply.text and "64" in reply.text
    mark = staff.mark()
    await staff.send("Ana 🦵")
    therapist_q = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = staff.mark()
    await staff.send("Theo please")  # text where a button was expected
    reply = await staff.wait_for(after=mark)
    assert "buttons" in reply.text
    mark = staff.mark()
    await staff.tap(therapist_q, "Theo Rapist")
    await staff.wait_for(lambda m: "session end" in m.text, after=mark)
    mark = staff.mark()
    await staff.send("25:99")
    reply = await staff.wait_for(after=mark)
    assert "HH:MM" in reply.text
    mark = staff.mark()
    await staff.send("/cancel")
    reply = await staff.wait_for(after=mark)
    assert "Nothing was saved" in reply.text
    assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_unknown_person_gets_only_the_introduction(bot: Running, sqlite_url: str) -> None:
    fake = bot.fake
    before = await snapshot(sqlite_url)
    stranger = fake.user(STRANGER, "Eve", language_code="es")
    for text in ("hola", "/help", "/start"):  # a staff command: test_e2e_frontdesk
        mark = stranger.mark()
        await stranger.send(text)
        reply = await stranger.wait_for(after=mark)
        assert "Soy <b>careloop</b>" in reply.html
    assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_help_matches_the_role(bot: Running) -> None:
    fake = bot.fake
    await setup_clinic(fake)
    expectations = {ADMIN_ID: "/invite", STAFF: "/enroll"}
    for user_id, command in expectations.items():
        person = fake.user(user_id)
        mark = person.mark()
        await person.send("/help")
        reply = await person.wait_for(after=mark)
        assert command in reply.text
    therapist = fake.user(THERAPIST)
    mark = therapist.mark()
    await therapist.send("/help")
    reply = await therapist.wait_for(after=mark)
    assert "/enroll" not in reply.text and "/invite" not in reply.text
    assert [c["command"] for c in fake.commands[f"chat:{STAFF}"]][:1] == ["enroll"]
    assert fake.refused == []


async def test_real_process_journey(fake: FakeBotAPI, tmp_path: Path, sqlite_url: str) -> None:
    """`python -m bot` itself: migrations on start, the whole journey, zero refusals."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'process.db'}"
    async with bot_process(fake, db_url, tmp_path):
        admin = fake.user(ADMIN_ID, "Ada")
        mark = admin.mark()
        await admin.send("/help")
        await admin.wait_for(lambda m: "/invite" in m.text, after=mark, timeout=60)
        await setup_clinic(fake)
        token, done, _ = await enroll(fake, fake.user(STAFF))
        assert ESCAPED_NAME in done.html
        await join_and_consent(fake.user(PATIENT, "Zoe"), token)
    assert await count(db_url, Patient) == 1
    assert await count(db_url, StaffMember) == 3
    assert await count(db_url, LinkToken) == 3
    assert await count(db_url, AuditEvent) >= 5
    assert fake.refused == []
