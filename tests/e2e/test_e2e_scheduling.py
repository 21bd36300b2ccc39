"""Scheduling that never drops a session check-in (issue 10, items 3 and 4), in process.

The real aiogram dispatcher, the real outbox dispatcher and sweeps, the strict fake Bot
API; protocol time is moved by hand (`wall`) and every pass is the test's
(`bot.background.run_once()`), so "reached at 21:00:01" means exactly that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col

from bot.callbacks import SymptomCb
from store.db import create_engine, session_factory
from store.models import Alert, Checkin, OutboxMessage, Patient
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import STAFF, answer_all, enrolled_patient
from tests.support.harness import ManualWall, Running

CLOSED_FOR_SESSION = "closed for a session check-in"  # care.checkins.CLOSED_FOR_SESSION
CLOSED_LINE = "This check-in has closed. If something new worries you, tap below."
SYMPTOM_BUTTON = "Report a new symptom"


async def checkin(
    db_url: str, key: str, session_id: int | None = None, *, sent: bool = False
) -> Checkin:
    """The latest check-in of `key` (of a session; or the latest one that was sent)."""
    found = await rows(db_url, Checkin, Checkin.key == key)
    if session_id is not None:
        found = [c for c in found if c.session_id == session_id]
    if sent:
        found = [c for c in found if c.chat_message_id is not None]
    return sorted(found, key=lambda c: c.due_at)[-1]


async def patient_row(db_url: str) -> Patient:
    (patient,) = await rows(db_url, Patient)
    return patient


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Madrid wall-clock time in late November 2026 (UTC+1), as UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=1)


async def walk_to(bot: Running, wall: ManualWall, until: datetime, step: timedelta) -> None:
    """Move protocol time to `until` in steps, one sweep and dispatch pass at each."""
    while wall.current + step < until:
        wall.advance(step)
        await bot.background.run_once()
    wall.current = until
    await bot.background.run_once()


def assert_closed_edit(message: SentMessage) -> None:
    """The message says it has closed and carries one button: Report a new symptom."""
    assert CLOSED_LINE in message.text
    assert message.buttons() == [[SYMPTOM_BUTTON]]
    assert message.button_data(SYMPTOM_BUTTON) == SymptomCb(action="start").pack()


async def record_session_now(fake: FakeBotAPI, region: str = "Hamstrings") -> None:
    staff = fake.user(STAFF)
    mark = staff.mark()
    await staff.send("/session")
    pick = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = staff.mark()
    await staff.tap(pick, pick.buttons()[0][0])
    when = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = staff.mark()
    await staff.tap(when, "Just now")
    regions = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = staff.mark()
    await staff.tap(regions, region)
    await staff.wait_for(lambda m: f"✅ {region}" in str(m.buttons()), after=mark)
    mark = staff.mark()
    await staff.tap(regions, "Done")
    await staff.wait_for(lambda m: "recorded" in m.text, after=mark)


def arrived(patient: SimUser, mark: int, intro: str) -> list[SentMessage]:
    return [m for m in patient.inbox if m.seq > mark and m.text.startswith(intro) and m.edits == 0]


H3_INTRO = "A quick check a few hours after your treatment."
H24_INTRO = "Your check-in one day after treatment."
ADHERENCE_INTRO = "Your weekly exercise check."
WEEKLY_INTRO = "Your weekly check-in"


async def test_sunday_adherence_open_when_a_monday_session_is_recorded(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Item 3: the session's 3 h and 24 h check-ins go out in their windows; the open course
    check-ins are closed for them (not counted as missed) and lose their buttons."""
    patient = await enrolled_patient(fake)  # Monday 23 Nov, session 1 ended 09:30
    adherence_due = (await checkin(sqlite_url, "adherence")).due_at
    assert adherence_due == local(29, 18)  # Sunday 18:00, the patient's reminder time
    await walk_to(bot, wall, adherence_due, timedelta(hours=6))
    adherence_msg = await patient.wait_for(lambda m: m.text.startswith(ADHERENCE_INTRO))
    assert adherence_msg.reply_markup is not None  # left open: the patient does not answer
    # Monday 30 Nov: the weekly check-in (10:00) waits behind the open adherence one
    await walk_to(bot, wall, local(30, 12), timedelta(hours=2))
    assert not [m for m in patient.inbox if m.text.startswith(WEEKLY_INTRO)]
    before = await patient_row(sqlite_url)
    await record_session_now(fake)  # session 2 ended Monday 12:00
    h3 = await checkin(sqlite_url, "h3", session_id=2)
    assert h3.due_at == local(30, 15)
    mark = patient.mark()
    await walk_to(bot, wall, h3.due_at - timedelta(minutes=1), timedelta(hours=1))
    assert not arrived(patient, mark, H3_INTRO)  # not a minute early
    wall.current = h3.due_at
    await bot.background.run_once()
    first = await patient.wait_for(lambda m: m.text.startswith(H3_INTRO), after=mark)
    assert first.reply_markup is not None
    closed = await checkin(sqlite_url, "adherence", sent=True)
    assert (closed.state, closed.reason) == ("expired", CLOSED_FOR_SESSION)
    after = await patient_row(sqlite_url)
    assert after.consecutive_missed == before.consecutive_missed  # not counted as missed
    assert after.missed_checkins == before.missed_checkins
    await bot.background.run_once()  # the edit was queued during that pass: the next sends it
    assert_closed_edit(patient.message(adherence_msg.message_id))  # type: ignore[arg-type]
    assert ADHERENCE_INTRO in patient.message(adherence_msg.message_id).text  # type: ignore[union-attr]
    await answer_all(patient, first)
    # the weekly check-in, released when the 3 h one was done, goes out now
    await bot.background.run_once()
    weekly_msg = await patient.wait_for(lambda m: m.text.startswith(WEEKLY_INTRO), after=mark)
    # Tuesday: the 24 h check-in in its 09:00–11:00 window, the weekly one still open
    h24 = await checkin(sqlite_url, "h24", session_id=2)
    assert h24.due_at == local(30, 11) + timedelta(days=1)  # Tuesday 11:00, end of the window
    mark = patient.mark()
    await walk_to(bot, wall, h24.due_at, timedelta(hours=3))
    second = await patient.wait_for(lambda m: m.text.startswith(H24_INTRO), after=mark)
    assert second.reply_markup is not None
    weekly = await checkin(sqlite_url, "weekly", sent=True)
    assert (weekly.state, weekly.reason) == ("expired", CLOSED_FOR_SESSION)
    await bot.background.run_once()
    assert_closed_edit(patient.message(weekly_msg.message_id))  # type: ignore[arg-type]
    assert (await patient_row(sqlite_url)).consecutive_missed == 0  # the 3 h one was answered
    silence = await rows(sqlite_url, Alert, col(Alert.reason_key) == "missed_checkins")
    assert all(a.updated_at < local(30, 12) for a in silence)  # none from the closures
    assert fake.refused == []


async def test_three_hour_checkin_due_at_21_00_reached_at_21_00_01_is_sent(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Item 4: a session ending at 19:45 gets its 3 h check-in at 21:00 (inclusive), even
    when the dispatcher first reaches it a second later."""
    wall.current = local(23, 20, 15)
    patient = await enrolled_patient(fake)  # "30 min ago": the session ended 19:45
    h3 = await checkin(sqlite_url, "h3")
    assert h3.due_at == local(23, 21)
    mark = patient.mark()
    wall.current = local(23, 20, 59, 59)
    await bot.background.run_once()
    assert not arrived(patient, mark, H3_INTRO)
    wall.current = local(23, 21, 0, 1)
    await bot.background.run_once()
    first = await patient.wait_for(lambda m: m.text.startswith(H3_INTRO), after=mark)
    assert first.reply_markup is not None
    assert (await checkin(sqlite_url, "h3")).state == "open"
    assert fake.refused == []


async def test_checkin_due_at_20_50_reached_by_a_late_pass_at_21_30_is_sent(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Item 4: the decision is made against the due time; still useful (before 22:00)."""
    wall.current = local(23, 19, 50)
    patient = await enrolled_patient(fake)  # the session ended 19:20: 3 h check-in at 20:50
    h3 = await checkin(sqlite_url, "h3")
    assert h3.due_at == local(23, 20, 50)
    mark = patient.mark()
    wall.current = local(23, 21, 30)  # the first pass after 20:50 (a restart, a slow tick)
    await bot.background.run_once()
    first = await patient.wait_for(lambda m: m.text.startswith(H3_INTRO), after=mark)
    assert first.reply_markup is not None
    assert (await checkin(sqlite_url, "h3")).state == "open"
    assert fake.refused == []


async def test_expired_part_answered_checkin_loses_its_buttons(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Item 1's other half: at expiry the message with the live buttons is edited — it
    keeps what was asked and answered, says it has closed, and offers one button."""
    patient = await enrolled_patient(fake)  # 3 h check-in at 12:30, expires 22:00
    mark = patient.mark()
    await walk_to(bot, wall, local(23, 12, 30), timedelta(hours=1))
    first = await patient.wait_for(lambda m: m.text.startswith(H3_INTRO), after=mark)
    mark = patient.mark()
    await patient.tap(first, "0")  # Q1 answered, Q4 left open
    current = await patient.wait_for(lambda m: m.message_id == first.message_id, after=mark)
    assert current.reply_markup is not None
    mark = patient.mark()
    await walk_to(bot, wall, local(23, 13, 31), timedelta(minutes=30))
    nudge = await patient.wait_for(lambda m: m.text.startswith("⏰"), after=mark)
    await walk_to(bot, wall, local(23, 21, 59), timedelta(hours=2))
    assert patient.message(nudge.message_id).reply_markup is not None  # type: ignore[union-attr]
    wall.current = local(23, 22)
    await bot.background.run_once()
    edited = patient.message(nudge.message_id)
    assert edited is not None
    assert_closed_edit(edited)
    assert "✓" in edited.text and "0/10" in edited.text  # the answer it got is still shown
    assert patient.message(first.message_id).reply_markup is None  # type: ignore[union-attr]
    closed = await checkin(sqlite_url, "h3")
    assert (closed.state, closed.reason) == ("expired", "expired part-answered")
    # the edit went once: another pass changes nothing
    edits = edited.edits
    await bot.background.run_once()
    assert patient.message(nudge.message_id).edits == edits  # type: ignore[union-attr]
    assert fake.refused == []


async def test_superseded_open_checkin_loses_its_buttons(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await walk_to(bot, wall, local(25, 10), timedelta(hours=6))
    h48_msg = await patient.wait_for(
        lambda m: m.text.startswith("Your check-in two days after treatment."), after=mark
    )
    assert h48_msg.reply_markup is not None
    await record_session_now(fake)
    await bot.background.run_once()
    superseded = await checkin(sqlite_url, "h48", session_id=1)
    assert superseded.state == "cancelled" and superseded.reason == "superseded by session 2"
    assert_closed_edit(patient.message(h48_msg.message_id))  # type: ignore[arg-type]
    assert fake.refused == []


async def test_a_stopped_patient_gets_no_closed_edit_a_paused_one_does(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await walk_to(bot, wall, local(23, 12, 30), timedelta(hours=1))
    first = await patient.wait_for(lambda m: m.text.startswith(H3_INTRO), after=mark)
    mark = patient.mark()
    await patient.send("/pause")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "1 day")
    await patient.wait_for(lambda m: "Paused until" in m.text, after=mark)
    await walk_to(bot, wall, local(23, 22), timedelta(hours=2))
    nudged = [m for m in patient.inbox if m.text.startswith("⏰")]
    assert not nudged  # paused: no reminder
    assert_closed_edit(patient.message(first.message_id))  # type: ignore[arg-type]
    # a stopped patient: the open check-in is cancelled and nothing more is sent
    wall.current = local(24, 10, 30)
    await bot.background.run_once()
    mark = patient.mark()
    await patient.send("/resume")
    await patient.wait_for(after=mark)
    await walk_to(bot, wall, local(24, 11, 0), timedelta(minutes=15))
    h24_msg = next(m for m in patient.inbox if m.text.startswith(H24_INTRO))
    assert h24_msg.reply_markup is not None
    mark = patient.mark()
    await patient.send("/stop")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "Yes, stop")
    await patient.wait_for(lambda m: "stopped" in m.text, after=mark)
    edits = patient.message(h24_msg.message_id).edits  # type: ignore[union-attr]
    await walk_to(bot, wall, local(25, 10), timedelta(hours=6))
    h24 = await checkin(sqlite_url, "h24")
    assert h24.state == "cancelled"
    assert patient.message(h24_msg.message_id).edits == edits  # type: ignore[union-attr]
    assert fake.refused == []


async def test_closed_edit_not_found_or_not_modified_settles_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """ "message to edit not found" (the patient deleted it) and "message is not modified"
    (the same edit twice) settle the row as done: never retried, nothing refused twice."""
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await walk_to(bot, wall, local(23, 13, 31), timedelta(minutes=30))
    nudge = await patient.wait_for(lambda m: m.text.startswith("⏰"), after=mark)
    nudge.deleted = True  # the patient deleted the reminder that carries the buttons
    patient.inbox.remove(nudge)
    await walk_to(bot, wall, local(23, 22), timedelta(hours=3))
    await bot.background.run_once()
    [row] = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "checkin_closed")
    assert (row.state, row.attempts) == ("sent", 0)
    # the same edit again, on a message that shows it already: "not modified"
    first = next(m for m in patient.inbox if m.text.startswith(H3_INTRO))
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        for _ in range(2):
            db.add(
                OutboxMessage(
                    kind="checkin_closed",
                    chat_id=row.chat_id,
                    patient_id=row.patient_id,
                    checkin_id=row.checkin_id,
                    payload={"message_id": first.message_id},
                    due_at=wall.current,
                    created_at=wall.current,
                )
            )
        await db.commit()
    await engine.dispose()
    await bot.background.run_once()
    await bot.background.run_once()
    assert_closed_edit(patient.message(first.message_id))  # type: ignore[arg-type]
    edits = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "checkin_closed")
    assert [(e.state, e.attempts) for e in edits] == [("sent", 0)] * 3
    refused = [str(r) for r in fake.refused]
    # not found once; the two copies of one edit: the first applies, the second is "not
    # modified"; none retried
    assert len(refused) == 2, refused
    assert sum("message to edit not found" in r for r in refused) == 1, refused
    assert sum("message is not modified" in r for r in refused) == 1, refused


async def test_a_symptom_report_open_neither_holds_nor_is_closed_by_a_session_checkin(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """The patient's own "Report a new symptom" opens beside any check-in: the 3 h
    check-in due meanwhile goes out on time, and the report stays open to be answered."""
    patient = await enrolled_patient(fake)
    await walk_to(bot, wall, local(23, 12, 20), timedelta(hours=1))
    mark = patient.mark()
    await patient.send("/symptom")
    report = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await walk_to(bot, wall, local(23, 12, 30), timedelta(minutes=5))
    first = await patient.wait_for(lambda m: m.text.startswith(H3_INTRO), after=mark)
    assert first.reply_markup is not None
    [symptom] = await rows(sqlite_url, Checkin, Checkin.key == "symptom")
    assert symptom.state == "open"
    assert patient.message(report.message_id).reply_markup is not None  # type: ignore[union-attr]
    assert fake.refused == []
