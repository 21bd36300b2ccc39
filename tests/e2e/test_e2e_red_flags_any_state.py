"""A red flag is never lost (issue 10, the patient side), end to end with the real
dispatcher, the strict fake and a hand-moved clock.

A red-flag tap counts from any state of its check-in — expired at 02:00, superseded by a
new session, a paused patient, a nudge's copy — and its emergency text goes out first, as
a new message, even when Telegram refuses every edit. A late tap that is no red flag gets
a kind word and loses its buttons. /symptom and the "Report a new symptom" button ask the
red-flag questions at any time; photos, voice notes and stickers get the safety line and
reach the therapist when passed on.

Taps on a closed check-in use the button's callback data read while it was still live
(``tap_data``): a phone that has not yet received the edit taking the buttons away sends
exactly that.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from care.sessions import record_session
from flows.loader import load_protocol
from sandbox.botapi import errors
from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import Alert, Answer, Checkin, OutboxMessage, PatientNote, StaffMember
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import (
    GROUP,
    PATIENT,
    THERAPIST,
    advance_to_checkin,
    answer_until,
    assert_urgent_alert_reaches_therapist_and_group,
    enrolled_patient,
    is_emergency,
    report_symptom_red_flag,
)
from tests.support.harness import ADMIN_ID, ManualWall, Running, running_bot

# Tuesday 24 November 2026, 02:00 in Madrid: the night after Monday's session
TWO_AM = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str, wall: ManualWall) -> AsyncIterator[Running]:
    fake.group(GROUP)
    async with running_bot(
        fake,
        sqlite_url,
        clock=Clock(wall=wall),
        DISPATCH_INTERVAL_SECONDS="60",
        ALERT_CHAT_ID=str(GROUP),
    ) as running:
        yield running


async def evening_checkin_at_chest_question(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> tuple[SimUser, SentMessage]:
    """Monday: the 3 h check-in (TRUNK session) answered up to Q5, which is left open."""
    patient = await enrolled_patient(fake)  # piriformis + upper back: Q5 is asked
    h3 = await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    return patient, await answer_until(patient, h3, "chest pain")


async def expire_at_two_am(bot: Running, wall: ManualWall, sqlite_url: str) -> None:
    wall.current = TWO_AM
    await bot.background.run_once()  # the sweep closes the 3 h check-in (22:00)
    (h3,) = await rows(sqlite_url, Checkin, Checkin.key == "h3")
    assert h3.state == "expired"


async def tap_red_flag_late(
    bot: Running, fake: FakeBotAPI, patient: SimUser, message: SentMessage, data: str
) -> SentMessage:
    """Tap a stale "Yes" and expect the emergency text and the URGENT alert."""
    therapist_mark = fake.user(THERAPIST).mark()
    group_mark = fake.group(GROUP).mark()
    mark = patient.mark()
    await patient.tap_data(message.message_id, data)
    emergency = await patient.wait_for(is_emergency, after=mark)
    await assert_urgent_alert_reaches_therapist_and_group(bot, fake, therapist_mark, group_mark)
    return emergency


async def test_red_flag_on_an_expired_checkin_at_two_in_the_night(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    evening = view(q5)
    yes = q5.button_data("Yes")
    await expire_at_two_am(bot, wall, sqlite_url)
    closed = patient.message(q5.message_id)
    assert closed is not None and "This check-in has closed" in closed.text
    assert closed.buttons() == [["Report a new symptom"]]
    night = view(closed)
    emergency = await tap_red_flag_late(bot, fake, patient, q5, yes)  # a phone that missed the edit
    (answer,) = await rows(sqlite_url, Answer, Answer.question_key == "Q5")
    assert answer.value == 1 and answer.late
    (alert,) = await rows(sqlite_url, Alert)
    assert alert.tier == "urgent"
    card = fake.user(THERAPIST).last()
    assert "URGENT" in card.text and "(tapped late, on a check-in that had closed)" in card.text
    assert patient.message(q5.message_id).reply_markup is None  # type: ignore[union-attr]
    assert fake.refused == []
    if os.environ.get("WRITE_SAMPLES"):  # docs/samples from this run
        (SAMPLES / "late-red-flag.txt").write_text(
            "The 3 h check-in, left open at the chest question on Monday evening:\n\n"
            f"{evening}\n---\n\nAt 22:00 it closes; its buttons are replaced:\n\n{night}\n---\n\n"
            'Tuesday 02:00: the patient\'s phone, which never got that edit, taps "Yes". '
            f"A new message comes first:\n\n{view(emergency)}\n---\n\n"
            f"The therapist's card (also in the clinic's alert group):\n\n{view(card)}",
            encoding="utf-8",
        )


SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def view(message: SentMessage | None) -> str:
    assert message is not None
    buttons = message.buttons() if message.reply_markup else []
    return f"{message.text}\n{buttons}\n"


async def test_repeated_red_tap_stores_and_says_it_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    yes = q5.button_data("Yes")
    await expire_at_two_am(bot, wall, sqlite_url)
    mark = patient.mark()
    first = await patient.tap_data(q5.message_id, yes)
    second = await patient.tap_data(q5.message_id, yes)
    await fake.wait_until(
        lambda: {first, second} <= {a["callback_query_id"] for a in patient.callback_answers}
    )
    await bot.background.run_once()
    assert len([m for m in patient.inbox if m.seq > mark and is_emergency(m)]) == 1
    assert len(await rows(sqlite_url, Answer, Answer.question_key == "Q5")) == 1
    assert len(await rows(sqlite_url, Alert)) == 1
    # both taps may try to take the buttons away; the slower one is told "not modified"
    assert all(
        r.method == "editMessageReplyMarkup" and "not modified" in (r.description or "")
        for r in fake.refused
    )


async def test_red_flag_on_a_superseded_checkin(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    yes = q5.button_data("Yes")
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        staff = (await db.exec(select(StaffMember).where(StaffMember.role == "staff"))).one()
        await record_session(
            db,
            load_protocol(),
            staff=staff,
            patient_id=1,
            ended_at=bot.app.clock.now(),
            regions=["piriformis"],
            default_tz=bot.app.settings.clinic_timezone,
            now=bot.app.clock.now(),
        )
    await engine.dispose()
    (h3, *_) = await rows(sqlite_url, Checkin, Checkin.key == "h3")
    assert h3.state != "open"  # the new session closed it
    await tap_red_flag_late(bot, fake, patient, q5, yes)
    late = await rows(sqlite_url, Answer, Answer.question_key == "Q5")
    assert [a.late for a in late] == [True]
    assert fake.refused == []


async def test_red_flag_from_a_paused_patient(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    yes = q5.button_data("Yes")
    mark = patient.mark()
    await patient.send("/pause")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "3 days")
    await patient.wait_for(lambda m: "Paused until" in m.text, after=mark)
    await expire_at_two_am(bot, wall, sqlite_url)
    await tap_red_flag_late(bot, fake, patient, q5, yes)
    assert len(await rows(sqlite_url, Answer, Answer.question_key == "Q5")) == 1
    assert fake.refused == []


async def test_red_flag_on_a_nudge_copy_after_expiry(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    mark = patient.mark()
    for _ in range(3):
        wall.advance(timedelta(minutes=30))
        await bot.background.run_once()
    nudge = await patient.wait_for(lambda m: m.text.startswith("⏰"), after=mark)
    q5 = await answer_until(patient, nudge, "chest pain")
    yes = q5.button_data("Yes")
    await expire_at_two_am(bot, wall, sqlite_url)
    await tap_red_flag_late(bot, fake, patient, q5, yes)
    assert fake.refused == []


async def test_emergency_text_first_even_when_every_edit_is_refused(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    h3 = await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    fake.faults.refuse_edits = errors.CANT_BE_EDITED
    # an ordinary answer: the next question comes as a new message when the edit fails
    mark = patient.mark()
    await patient.tap(h3, "0")
    q4 = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert q4.message_id != h3.message_id and "2/" in q4.text
    fake.faults.reset()  # Q4's ticks redraw their message in place
    q5 = await answer_until(patient, q4, "chest pain")
    fake.faults.refuse_edits = errors.CANT_BE_EDITED
    # the red flag: the emergency text arrives, and before any edit was even tried
    start = len(fake.requests)
    therapist_mark = fake.user(THERAPIST).mark()
    group_mark = fake.group(GROUP).mark()
    mark = patient.mark()
    await patient.tap(q5, "Yes")
    await patient.wait_for(is_emergency, after=mark)
    await fake.wait_until(
        lambda: any(r.method.startswith("edit") for r in fake.requests[start:]), timeout=5
    )
    calls = [r for r in fake.requests[start:] if str(r.chat_id) == str(PATIENT)]
    methods = [r.method for r in calls]
    first_edit = next(i for i, m in enumerate(methods) if m.startswith("edit"))
    emergency = next(
        i
        for i, r in enumerate(calls)
        if r.method == "sendMessage" and "112" in str(r.params.get("text"))
    )
    assert emergency < first_edit
    assert all(not r.ok for r in calls[first_edit:] if r.method.startswith("edit"))
    fake.faults.reset()
    await assert_urgent_alert_reaches_therapist_and_group(bot, fake, therapist_mark, group_mark)
    assert fake.refused == []  # the refusals were the injected ones


async def test_late_answer_that_is_no_red_flag_gets_a_kind_reply(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    h3 = await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    soreness = h3.button_data("3")
    await expire_at_two_am(bot, wall, sqlite_url)
    mark = patient.mark()
    await patient.tap_data(h3.message_id, soreness)
    reply = await patient.wait_for(lambda m: "has closed" in m.text, after=mark)
    assert "not recorded" in reply.text and reply.buttons() == [["Report a new symptom"]]
    await fake.wait_until(
        lambda: patient.message(h3.message_id).reply_markup is None  # type: ignore[union-attr]
    )
    assert await rows(sqlite_url, Answer) == []
    assert await rows(sqlite_url, Alert) == []
    # the button on the kind reply opens the red-flag questions
    mark = patient.mark()
    await patient.tap(reply, "Report a new symptom")
    questions = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert questions.text.startswith("Report a new symptom")
    assert fake.refused == []


async def test_symptom_command_while_paused_and_another_checkin_is_open(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    mark = patient.mark()
    await patient.send("/pause")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "1 day")
    await patient.wait_for(lambda m: "Paused until" in m.text, after=mark)
    mark = patient.mark()
    await patient.send("/symptom")
    questions = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await report_symptom_red_flag(bot, fake, patient, questions)
    symptom = await rows(sqlite_url, Checkin, Checkin.key == "symptom")
    assert [c.state for c in symptom] == ["done"] and symptom[0].session_id == 1
    stored = await rows(sqlite_url, Answer, Answer.checkin_id == symptom[0].id)
    assert {a.question_key for a in stored} == {"Q4", "Q3", "Q5"} and not any(
        a.late for a in stored
    )
    assert len(await rows(sqlite_url, Checkin, Checkin.state == "open")) == 1  # the 3 h one
    assert fake.refused == []


async def test_symptom_in_the_menu_and_help(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/help")
    help_text = await patient.wait_for(lambda m: "/pause" in m.text, after=mark)
    assert "/symptom — Report a new symptom" in help_text.text
    menus = [
        r
        for r in fake.requests
        if r.method == "setMyCommands" and str(PATIENT) in str(r.params.get("scope"))
    ]
    assert menus and "symptom" in str(menus[-1].params.get("commands"))


async def test_photo_gets_the_safety_line_and_reaches_the_therapist(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    mark = patient.mark()
    await patient.send_photo(caption="the redness is spreading")
    reply = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "not an emergency service" in reply.text and "112" in reply.text
    assert reply.buttons() == [["Pass this message to my therapist"], ["Report a new symptom"]]
    therapist_mark = therapist.mark()
    mark = patient.mark()
    await patient.tap(reply, "Pass this message to my therapist")
    await patient.wait_for(lambda m: m.message_id == reply.message_id, after=mark)
    await bot.background.run_once()
    await bot.background.run_once()
    card = await therapist.wait_for(lambda m: "SOON" in m.text, after=therapist_mark)
    assert "the redness is spreading" in card.text
    copy = await therapist.wait_for(lambda m: m.kind == "photo", after=therapist_mark)
    assert copy.seq > card.seq and copy.caption == "the redness is spreading"
    (note,) = await rows(sqlite_url, PatientNote)
    assert note.media_kind == "photo" and note.media_message_id is not None
    assert note.passed_at is not None
    assert fake.refused == []


async def test_two_passed_messages_are_two_notes_each_reaching_the_therapist(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    mark = patient.mark()
    await patient.send_voice()
    first = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.send_sticker("🤕")
    second = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    therapist_mark = therapist.mark()
    for reply in (first, second):
        mark = patient.mark()
        await patient.tap(reply, "Pass this message to my therapist")
        await patient.wait_for(lambda m, i=reply.message_id: m.message_id == i, after=mark)
        await bot.background.run_once()
        await bot.background.run_once()
    await therapist.wait_for(lambda m: m.kind == "voice", after=therapist_mark)
    await therapist.wait_for(lambda m: m.kind == "sticker", after=therapist_mark)
    notes = await rows(sqlite_url, PatientNote)
    assert [n.media_kind for n in notes] == ["voice", "sticker"]
    assert all(n.passed_at is not None for n in notes)
    assert fake.refused == []


async def test_late_tap_after_stop_is_not_taken(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """A patient who stopped the follow-up: no 'next one at its time', nothing stored."""
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    yes = q5.button_data("Yes")
    mark = patient.mark()
    await patient.send("/stop")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "Yes, stop")
    await patient.wait_for(lambda m: "has stopped" in m.text, after=mark)
    mark = patient.mark()
    query = await patient.tap_data(q5.message_id, yes)
    await fake.wait_until(
        lambda: any(a["callback_query_id"] == query for a in patient.callback_answers)
    )
    answer = next(a for a in patient.callback_answers if a["callback_query_id"] == query)
    assert "not active" in answer["text"] and answer["show_alert"]
    assert [m for m in patient.inbox if m.seq > mark and m.message_id != q5.message_id] == []
    assert await rows(sqlite_url, Answer, Answer.question_key == "Q5") == []
    assert fake.refused == []


async def test_media_of_an_absent_therapists_patient_reaches_whoever_gets_the_card(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """The voice note goes with the alert: when the treating therapist has left (inactive),
    the admin who gets the card also gets the voice note — it is not dropped."""
    patient = await enrolled_patient(fake)
    admin = fake.user(ADMIN_ID)
    async with bot.app.sessions() as db:
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THERAPIST))).one()
        theo.active = False
        await db.commit()
    mark = patient.mark()
    await patient.send_voice()
    reply = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    admin_mark = admin.mark()
    mark = patient.mark()
    await patient.tap(reply, "Pass this message to my therapist")
    await patient.wait_for(lambda m: m.message_id == reply.message_id, after=mark)
    await bot.background.run_once()
    await bot.background.run_once()
    card = await admin.wait_for(lambda m: "SOON" in m.text, after=admin_mark)
    copy = await admin.wait_for(lambda m: m.kind == "voice", after=admin_mark)
    assert copy.seq > card.seq
    assert not [m for m in fake.user(THERAPIST).inbox if m.kind == "voice"]
    assert fake.refused == []


async def test_a_red_flag_tapped_after_a_calm_answer_to_the_same_question_counts(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """ "No" to the chest question, then "Yes" on the same question a moment later (two
    taps before the edit arrived): the "Yes" is not dropped as a duplicate — the answer
    becomes Yes, the emergency text comes once, the alert says what happened. A calm
    change afterwards ("No" again) changes nothing."""
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    yes, no = q5.button_data("Yes"), q5.button_data("No")
    mark = patient.mark()
    await patient.tap(q5, "No")
    await patient.wait_for(lambda m: m.message_id == q5.message_id, after=mark)
    assert not [m for m in patient.inbox if m.seq > mark and is_emergency(m)]
    therapist_mark, group_mark = fake.user(THERAPIST).mark(), fake.group(GROUP).mark()
    mark = patient.mark()
    await patient.tap_data(q5.message_id, yes)  # the phone still showed the question
    await patient.wait_for(is_emergency, after=mark)
    await assert_urgent_alert_reaches_therapist_and_group(bot, fake, therapist_mark, group_mark)
    (answer,) = await rows(sqlite_url, Answer, Answer.question_key == "Q5")
    assert answer.value == 1
    card = fake.user(THERAPIST).last()
    assert "(changed by a second tap, after a calmer answer)" in card.text
    mark = patient.mark()
    await patient.tap_data(q5.message_id, no)
    await patient.tap_data(q5.message_id, yes)
    await bot.background.run_once()
    assert not [m for m in patient.inbox if m.seq > mark and is_emergency(m)]
    (answer,) = await rows(sqlite_url, Answer, Answer.question_key == "Q5")
    assert answer.value == 1  # a calmer value never replaces a red flag
    assert len(await rows(sqlite_url, Alert)) == 1
    assert fake.refused == []


async def test_an_emergency_text_telegram_refused_at_the_tap_comes_through_the_outbox(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Telegram fails the emergency text at the tap (a 5xx): it is not lost — the handler
    queues it, and the next dispatch pass delivers it."""
    patient, q5 = await evening_checkin_at_chest_question(bot, fake, wall)
    fake.faults.only_methods = {"sendMessage"}
    fake.faults.rate_5xx = 1.0
    mark = patient.mark()
    await patient.tap(q5, "Yes")
    queued: list[OutboxMessage] = []
    for _ in range(200):  # until the handler has given the reply to the outbox
        queued = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "safety_reply")
        if queued:
            break
        await asyncio.sleep(0.05)
    assert len(queued) == 1 and queued[0].urgent
    assert not [m for m in patient.inbox if m.seq > mark and is_emergency(m)]
    fake.faults.reset()
    for _ in range(3):
        if [m for m in patient.inbox if m.seq > mark and is_emergency(m)]:
            break
        await bot.background.run_once()
    emergency = [m for m in patient.inbox if m.seq > mark and is_emergency(m)]
    assert len(emergency) == 1
    (answer,) = await rows(sqlite_url, Answer, Answer.question_key == "Q5")
    assert answer.value == 1
