"""Course check-ins closing undone, at the care layer (SQLite, and PostgreSQL when set):
the verdicts that need no answer (clinical.md second review), the "closed" edit, and
closing for a session check-in not counting as a miss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from care.checkins import CLOSED_FOR_SESSION, close_for_session, expire_overdue
from care.enrollment import decide_consent, enroll, open_join_link
from care.people import find_link
from flows.loader import load_protocol
from store.db import SessionFactory
from store.models import (
    Alert,
    Answer,
    Checkin,
    CheckinState,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)

PROTOCOL = load_protocol()
MADRID = ZoneInfo("Europe/Madrid")
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Madrid


async def consented_patient(sessions: SessionFactory) -> int:
    async with sessions() as db:
        therapist = StaffMember(tg_user_id=2000, role=Role.THERAPIST, name="T", created_at=START)
        staff = StaffMember(tg_user_id=2001, role=Role.STAFF, name="S", created_at=START)
        db.add_all([therapist, staff])
        await db.commit()
        assert therapist.id is not None
        result = await enroll(
            db,
            staff=staff,
            display_name="P",
            therapist_id=therapist.id,
            session_ended_at=START - timedelta(minutes=30),
            regions=["piriformis"],
            baseline_pain=6,
            language="en",
            now=START,
            link_ttl=timedelta(hours=72),
        )
        link = await find_link(db, result.token)
        assert link is not None
        joined = await open_join_link(db, link, tg_user_id=4000, language="en", now=START)
        assert joined.patient is not None and joined.patient.id is not None
        await decide_consent(
            db,
            PROTOCOL,
            patient=joined.patient,
            agree=True,
            text_version="test",
            default_tz=MADRID,
            now=START,
        )
        return joined.patient.id


async def sent_course_checkin(
    sessions: SessionFactory, patient_id: int, key: str, due: datetime, message_id: int
) -> int:
    """A course check-in as the dispatcher leaves it after sending: open, with its message."""
    async with sessions() as db:
        checkin = Checkin(
            patient_id=patient_id,
            session_id=1,
            key=key,
            due_at=due,
            expires_at=due + timedelta(hours=48),
            state=CheckinState.OPEN,
            opened_at=due,
            chat_message_id=message_id,
        )
        db.add(checkin)
        await db.commit()
        assert checkin.id is not None
        return checkin.id


async def alerts(sessions: SessionFactory, reason: str) -> list[Alert]:
    async with sessions() as db:
        return list((await db.exec(select(Alert).where(Alert.reason_key == reason))).all())


async def closed_edits(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as db:
        found = await db.exec(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.CHECKIN_CLOSED)
        )
        return list(found.all())


SUNDAY = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)


async def test_two_unanswered_adherence_weeks_raise_adherence_not_reported(
    sessions: SessionFactory,
) -> None:
    pid = await consented_patient(sessions)
    await sent_course_checkin(sessions, pid, "adherence", SUNDAY, 101)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=SUNDAY + timedelta(hours=48))
    assert await alerts(sessions, "adherence_not_reported") == []  # one week: not yet
    await sent_course_checkin(sessions, pid, "adherence", SUNDAY + timedelta(days=7), 102)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=SUNDAY + timedelta(days=9))
    [alert] = await alerts(sessions, "adherence_not_reported")
    assert alert.tier == "routine" and "2 weeks" in alert.reasons[0]
    # each sent check-in's message gets its "closed" edit, once
    assert sorted(e.payload["message_id"] for e in await closed_edits(sessions)) == [101, 102]


async def test_a_q9_answer_breaks_the_run(sessions: SessionFactory) -> None:
    pid = await consented_patient(sessions)
    first = await sent_course_checkin(sessions, pid, "adherence", SUNDAY, 101)
    async with sessions() as db:
        db.add(
            Answer(
                checkin_id=first,
                patient_id=pid,
                question_key="Q9",
                value=5,
                answered_at=SUNDAY + timedelta(hours=1),
            )
        )
        checkin = await db.get(Checkin, first)
        assert checkin is not None
        checkin.state = CheckinState.DONE
        await db.commit()
    await sent_course_checkin(sessions, pid, "adherence", SUNDAY + timedelta(days=7), 102)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=SUNDAY + timedelta(days=9))
    assert await alerts(sessions, "adherence_not_reported") == []


async def test_weekly_closing_unanswered_at_the_reevaluate_point_raises_no_reading(
    sessions: SessionFactory,
) -> None:
    pid = await consented_patient(sessions)
    week2 = START + timedelta(days=14)
    await sent_course_checkin(sessions, pid, "weekly", week2, 201)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=week2 + timedelta(hours=48))
    assert await alerts(sessions, "no_progress_reading") == []  # week 2: no judging point
    week6 = START + timedelta(days=42)
    await sent_course_checkin(sessions, pid, "weekly", week6, 202)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=week6 + timedelta(hours=48))
    [alert] = await alerts(sessions, "no_progress_reading")
    assert alert.tier == "routine"


async def test_closing_for_a_session_checkin_is_not_a_miss(sessions: SessionFactory) -> None:
    pid = await consented_patient(sessions)
    cid = await sent_course_checkin(sessions, pid, "weekly", START + timedelta(days=7), 301)
    async with sessions() as db:
        patient = await db.get(Patient, pid)
        assert patient is not None
        patient.consecutive_missed = 1
        await db.commit()
    async with sessions() as db:
        checkin = await db.get(Checkin, cid)
        assert checkin is not None
        await close_for_session(
            db, PROTOCOL, checkin, START + timedelta(days=7, hours=3), tz=MADRID
        )
        await db.commit()
    async with sessions() as db:
        checkin = await db.get(Checkin, cid)
        patient = await db.get(Patient, pid)
        assert checkin is not None and patient is not None
        assert (checkin.state, checkin.reason) == (CheckinState.EXPIRED, CLOSED_FOR_SESSION)
        assert (patient.consecutive_missed, patient.missed_checkins) == (1, 0)
    assert [e.payload["message_id"] for e in await closed_edits(sessions)] == [301]
    assert await alerts(sessions, "missed_checkins") == []


async def test_no_closed_edit_for_a_stopped_patient(sessions: SessionFactory) -> None:
    pid = await consented_patient(sessions)
    await sent_course_checkin(sessions, pid, "weekly", START + timedelta(days=7), 401)
    async with sessions() as db:
        patient = await db.get(Patient, pid)
        assert patient is not None
        patient.status = PatientStatus.STOPPED
        await db.commit()
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=START + timedelta(days=10))
    assert await closed_edits(sessions) == []
    async with sessions() as db:
        found = await db.exec(select(Checkin).where(col(Checkin.chat_message_id) == 401))
        assert found.one().state == CheckinState.EXPIRED


async def test_closing_an_unconfirmed_course_checkin_plans_its_next_occurrence(
    sessions: SessionFactory,
) -> None:
    """Opened for a send that never confirmed (a crash): its next one was never planned."""
    pid = await consented_patient(sessions)
    due = START + timedelta(days=7)
    cid = await sent_course_checkin(sessions, pid, "weekly", due, 0)
    async with sessions() as db:
        checkin = await db.get(Checkin, cid)
        assert checkin is not None
        checkin.chat_message_id = None
        await db.commit()
    async with sessions() as db:
        before = len((await db.exec(select(Checkin).where(Checkin.key == "weekly"))).all())
        checkin = await db.get(Checkin, cid)
        assert checkin is not None
        await close_for_session(db, PROTOCOL, checkin, due + timedelta(hours=3), tz=MADRID)
        await db.commit()
    async with sessions() as db:
        weekly = (await db.exec(select(Checkin).where(Checkin.key == "weekly"))).all()
        assert len(weekly) == before + 1
        assert max(c.due_at for c in weekly) > due
    assert await closed_edits(sessions) == []  # never shown: nothing to edit


async def test_a_week_with_exercises_logged_breaks_the_unreported_run(
    sessions: SessionFactory,
) -> None:
    """Issue 15: a week the patient logged exercises is not asked Q9 (its check-in is
    skipped); it is reported, so unanswered weeks on either side of it are not "in a row"."""
    pid = await consented_patient(sessions)
    await sent_course_checkin(sessions, pid, "adherence", SUNDAY, 101)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=SUNDAY + timedelta(hours=48))
        db.add(
            Checkin(
                patient_id=pid,
                session_id=1,
                key="adherence",
                due_at=SUNDAY + timedelta(days=7),
                expires_at=SUNDAY + timedelta(days=9),
                state=CheckinState.SKIPPED,
                reason="condition not met",
            )
        )
        await db.commit()
    await sent_course_checkin(sessions, pid, "adherence", SUNDAY + timedelta(days=14), 103)
    async with sessions() as db:
        await expire_overdue(db, PROTOCOL, now=SUNDAY + timedelta(days=16))
    assert await alerts(sessions, "adherence_not_reported") == []
