"""A patient's taps and controls: duplicates, stale and forged buttons, pause, stop, settings."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import Answer, OutboxMessage, Patient
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import rows, snapshot
from tests.support.e2e import (
    THERAPIST,
    answer_all,
    answered_callback,
    enrolled_patient,
    first_checkin,
)
from tests.support.harness import ManualWall, Running, running_bot


async def test_second_tap_and_forged_taps_store_nothing(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    question = await first_checkin(bot, wall, patient)
    data = question.button_data("3")
    mark = patient.mark()
    await patient.tap(question, "3")
    await patient.wait_for(lambda m: m.message_id == question.message_id, after=mark)
    before = await snapshot(sqlite_url)
    # the same button again (old message state), e.g. a double tap
    query = await patient.tap_data(question.message_id, data)
    reply = await answered_callback(fake, patient, query)
    assert "Already recorded" in reply.get("text", "")
    # a value the question does not have, and a check-in that is not theirs
    checkin_id = data.split(":")[1]
    for forged in (f"a:{checkin_id}:Q1:99", f"a:{checkin_id}:Q9:1", "a:999999:Q1:2", "a:x:y:z"):
        query = await patient.tap_data(question.message_id, forged)
        await answered_callback(fake, patient, query)
    stranger = fake.user(7777, "Mallory")
    await stranger.send("hi")
    await stranger.wait_for()
    query = await stranger.tap_data(question.message_id, data.replace(":3", ":9"))
    reply = await answered_callback(fake, stranger, query)
    assert await snapshot(sqlite_url) == before
    answers = await rows(sqlite_url, Answer)
    assert [(a.question_key, a.value) for a in answers] == [("Q1", 3)]
    assert fake.refused == []


async def test_a_tap_after_restart_and_on_a_closed_checkin(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall
) -> None:
    async with running_bot(fake, sqlite_url, clock=Clock(wall=wall)) as bot:
        patient = await enrolled_patient(fake)
        question = await first_checkin(bot, wall, patient)
        stale_data = question.button_data("5")
    async with running_bot(fake, sqlite_url, clock=Clock(wall=wall)) as bot:  # restarted
        done = await answer_all(patient, question)
        assert "Thank you" in done.text
        # the check-in is done: its first button, tapped again from an old screen
        before = await snapshot(sqlite_url)
        query = await patient.tap_data(question.message_id, stale_data)
        await fake.wait_until(
            lambda: any(a.get("callback_query_id") == query for a in patient.callback_answers)
        )
        assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_pause_holds_messages_and_resume_brings_them_back(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/pause")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "1 day")
    await patient.wait_for(lambda m: "Paused until" in m.text, after=mark)
    mark = patient.mark()
    wall.advance(timedelta(hours=3))
    await bot.background.run_once()
    assert [m for m in patient.inbox if m.seq > mark and m.reply_markup] == []
    await patient.send("/resume")
    await patient.wait_for(lambda m: "Welcome back" in m.text, after=mark)
    await bot.background.run_once()
    arrived = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "1/" in arrived.text
    assert fake.refused == []


async def test_stop_cancels_everything_and_tells_the_therapist(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    mark = patient.mark()
    await patient.send("/stop")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "Yes, stop")
    await patient.wait_for(lambda m: "has stopped" in m.text, after=mark)
    therapist_mark = therapist.mark()
    await bot.background.run_once()
    notice = await therapist.wait_for(lambda m: "/stop" in m.text, after=therapist_mark)
    assert "Zoë" in notice.text
    pending = await rows(sqlite_url, OutboxMessage, OutboxMessage.state == "pending")
    assert pending == []
    wall.advance(timedelta(days=3))
    await bot.background.run_once()
    assert [m for m in patient.inbox if m.seq > mark and m.reply_markup] == []
    assert fake.refused == []


async def test_settings_language_and_reminder_time(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/language")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "Español")
    await patient.wait_for(lambda m: "español" in m.text, after=mark)
    mark = patient.mark()
    await patient.send("/settings")
    menu = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "18:00" in menu.text
    mark = patient.mark()
    await patient.tap(menu, "Hora del recordatorio")
    times = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    before = await snapshot(sqlite_url)
    mark = patient.mark()
    await patient.send("25:61")  # a typed time that does not exist
    reply = await patient.wait_for(after=mark)
    assert "HH:MM" in reply.text
    assert await snapshot(sqlite_url) == before
    mark = patient.mark()
    await patient.tap(times, "12:00")
    await patient.wait_for(lambda m: "12:00" in m.text and "Sus ajustes" in m.text, after=mark)
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        stored = (await db.exec(select(Patient))).one()
        assert (stored.language, stored.reminder_time) == ("es", "12:00")
        reminder = (
            await db.exec(
                select(OutboxMessage).where(
                    OutboxMessage.kind == "exercise", OutboxMessage.state == "pending"
                )
            )
        ).one()
        local = reminder.due_at.astimezone(bot.app.settings.clinic_timezone)
        assert local.strftime("%H:%M") == "12:00"
    await engine.dispose()
    mark = patient.mark()
    wall.advance(timedelta(hours=3))
    await bot.background.run_once()
    spanish = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "Molestia" in spanish.text or "molestia" in spanish.text
    assert fake.refused == []


async def _pending_exercise(sqlite_url: str) -> list[OutboxMessage]:
    return list(
        await rows(
            sqlite_url,
            OutboxMessage,
            OutboxMessage.kind == "exercise",
            OutboxMessage.state == "pending",
        )
    )


async def test_exercise_reminder_buttons_snooze_then_stop(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """The exercise reminder's buttons (care.controls): "in 1 h" queues one snoozed reminder
    an hour on, beside the next day's; "stop" turns reminders off and cancels both."""
    patient = await enrolled_patient(fake)
    [first] = await _pending_exercise(sqlite_url)
    wall.advance(first.due_at - bot.app.clock.now())
    await bot.background.run_once()  # the needling day's: walking only, nothing to snooze
    [second] = await _pending_exercise(sqlite_url)
    mark = patient.mark()
    wall.advance(second.due_at - bot.app.clock.now())
    await bot.background.run_once()
    reminder = await patient.wait_for(
        lambda m: m.reply_markup is not None and "Remind me in 1 h" in str(m.buttons()),
        after=mark,
    )
    snooze, stop = (
        reminder.button_data(b) for b in ("Remind me in 1 h", "Stop exercise reminders")
    )
    tapped_at = bot.app.clock.now()
    query = await patient.tap_data(reminder.message_id, snooze)
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "OK, I will remind you again in an hour."
    pending = await _pending_exercise(sqlite_url)
    snoozed = [r for r in pending if r.payload.get("snoozed")]
    assert len(pending) == 2 and len(snoozed) == 1  # the next day's, and the snoozed one
    assert snoozed[0].due_at == tapped_at + timedelta(hours=1)
    assert snoozed[0].expires_at == tapped_at + timedelta(hours=4)

    query = await patient.tap_data(reminder.message_id, stop)  # the buttons went: an old copy
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text", "").startswith("Exercise reminders are off.")
    assert await _pending_exercise(sqlite_url) == []
    cancelled = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "exercise")
    assert {r.last_error for r in cancelled if r.state == "cancelled"} == {"reminders switched off"}
    [stored] = await rows(sqlite_url, Patient)
    assert stored.exercise_reminders is False
    assert fake.refused == []
