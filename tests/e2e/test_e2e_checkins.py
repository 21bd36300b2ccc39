"""Check-ins end to end: planned at consent, sent on time, answered by tapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import Answer, Checkin
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.harness import ManualWall, Running, running_bot
from tests.journey import enroll, invite, join_and_consent

THERAPIST, STAFF, PATIENT = 2000, 3000, 4000


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str, wall: ManualWall) -> AsyncIterator[Running]:
    async with running_bot(
        fake, sqlite_url, clock=Clock(wall=wall), DISPATCH_INTERVAL_SECONDS="0.05"
    ) as running:
        yield running


async def enrolled_patient(fake: FakeBotAPI, **kwargs: object) -> SimUser:
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF), **kwargs)  # type: ignore[arg-type]
    patient = fake.user(PATIENT, "Zoe")
    await join_and_consent(patient, token)
    return patient


BOXES = ("☐ ", "☑ ")
DONE = "✅ Done"


def calm_choice(message: SentMessage) -> str:
    """The answer of a patient who is doing fine (a multi question's choice without its box)."""
    labels = [_unboxed(b) for row in message.buttons() for b in row]
    for calm in ("0", "No", "Fine", "Nothing new"):
        if calm in labels:
            return calm
    return labels[0]


def _unboxed(label: str) -> str:
    for box in BOXES:
        label = label.removeprefix(box)
    return label


async def tick_and_done(patient: SimUser, message: SentMessage, *choices: str) -> SentMessage:
    """A multi question (Q4): tick each choice (the keyboard is redrawn in place), then Done."""
    for choice in choices:
        mark = patient.mark()
        await patient.tap(message, f"☐ {choice}")
        message = await patient.wait_for(
            lambda m, mid=message.message_id: m.message_id == mid, after=mark
        )
        assert f"☑ {choice}" in [b for row in message.buttons() for b in row]
    mark = patient.mark()
    await patient.tap(message, DONE)
    return await patient.wait_for(lambda m, mid=message.message_id: m.message_id == mid, after=mark)


async def answer_step(patient: SimUser, message: SentMessage, choose=calm_choice) -> SentMessage:
    """Answer the question on screen (a multi question: tick, then Done); the message after."""
    labels = [b for row in message.buttons() for b in row]
    chosen = choose(message)
    if DONE in labels:
        picks = (chosen,) if isinstance(chosen, str) else tuple(chosen)
        return await tick_and_done(patient, message, *(_unboxed(p) for p in picks))
    mark = patient.mark()
    await patient.tap(message, chosen)
    return await patient.wait_for(lambda m, mid=message.message_id: m.message_id == mid, after=mark)


async def answer_all(patient: SimUser, first: SentMessage, choose=calm_choice) -> SentMessage:
    """Tap through a check-in until its buttons are gone (a multi question: tick, then Done)."""
    message = first
    while message.reply_markup:
        message = await answer_step(patient, message, choose)
    return message


async def rows(db_url: str, model, *where):  # type: ignore[no-untyped-def]
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        found = list((await db.exec(select(model).where(*where))).all())
    await engine.dispose()
    return found


async def test_first_checkin_arrives_at_three_hours_and_is_answered(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    wall.advance(timedelta(hours=2, minutes=29))  # session ended 09:30 local: h3 at 12:30
    await bot.background.run_once()
    assert not [m for m in patient.inbox if m.seq > mark]  # not a minute early
    wall.advance(timedelta(minutes=2))
    first = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "1/" in first.text
    done = await answer_all(patient, first)
    assert "Thank you" in done.text and done.reply_markup is None
    answers = await rows(sqlite_url, Answer)
    assert {a.question_key for a in answers} == {"Q1", "Q4", "Q5"}  # TRUNK: Q5 asked
    checkin = (await rows(sqlite_url, Checkin, Checkin.key == "h3"))[0]
    assert checkin.state == "done"
    assert fake.refused == []


def intro_of(message: SentMessage) -> str:
    return message.text.split("\n", 1)[0]


async def test_first_72_hours_in_order_with_nudge_and_reminders(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Walk protocol time hour by hour through three days, answering what arrives."""
    patient = await enrolled_patient(fake)
    seen: list[str] = []
    reminders = 0
    nudged = False
    for _hour in range(75):
        mark = patient.mark()
        wall.advance(timedelta(hours=1))
        await bot.background.run_once()  # everything due by now has been handled
        arrived = [m for m in patient.inbox if m.seq > mark]
        for message in arrived:
            if "exercise" in message.text.lower() or "walk" in message.text.lower():
                reminders += 1
            elif message.text.startswith("⏰"):
                nudged = True
                await answer_all(patient, message)
            elif message.reply_markup and "1/" in message.text:
                seen.append(intro_of(message))
                if len(seen) == 2 and not nudged:
                    continue  # leave the 24 h check-in unanswered: a reminder must come
                await answer_all(patient, message)
    assert seen == [
        "A quick check a few hours after your treatment. One tap per question.",
        "Your check-in one day after treatment.",
        "Your check-in two days after treatment.",
    ]  # calm answers: no 72 h check-in
    assert nudged  # the unanswered 24 h check-in got its one reminder
    assert reminders == 3  # 18:00 on days 0, 1 and 2 (day 0: walking only)
    done = await rows(sqlite_url, Checkin, Checkin.state == "done")
    assert [c.key for c in sorted(done, key=lambda c: c.due_at)][:3] == ["h3", "h24", "h48"]
    assert fake.refused == []


async def test_new_session_supersedes_what_is_pending(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    wall.advance(timedelta(days=2, hours=1))
    await bot.background.run_once()  # the 48 h check-in is out, unanswered
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
    await staff.tap(regions, "Hamstrings")
    await staff.wait_for(lambda m: "✅ Hamstrings" in str(m.buttons()), after=mark)
    mark = staff.mark()
    await staff.tap(regions, "Done")
    done = await staff.wait_for(lambda m: "Session 2 recorded" in m.text, after=mark)
    assert "Zoë &lt;O'Brien&gt;" in done.html
    checkins = await rows(sqlite_url, Checkin)
    first = {c.key: c.state for c in checkins if c.session_id == 1}
    second = {c.key: c.state for c in checkins if c.session_id == 2}
    assert first["h48"] == "cancelled"  # open from session 1: closed, not left hanging
    assert first["h72"] == "cancelled"  # still pending from session 1: replaced
    assert second["h3"] == "scheduled" and second["h24"] == "scheduled"
    mark = patient.mark()
    wall.advance(timedelta(hours=3, minutes=5))
    await bot.background.run_once()
    await bot.background.run_once()
    arrived = await patient.wait_for(
        lambda m: m.text.startswith("A quick check a few hours"), after=mark
    )
    assert "1/" in arrived.text
    assert fake.refused == []
