"""Q4 as a multi-select, end to end: ticks redrawn in place, Done, and a red flag left ticked.

The real dispatcher against the strict fake Bot API, protocol time moved by hand.
"""

from __future__ import annotations

from datetime import timedelta

from flows.loader import load_protocol
from store.models import Alert, Answer, AnswerDraft, OutboxKind, OutboxMessage
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import (
    DONE,
    THERAPIST,
    answered_callback,
    enrolled_patient,
    first_checkin,
    tick_and_done,
)
from tests.support.harness import ManualWall, Running

Q4 = load_protocol().questions["Q4"]
WEAKNESS = "New leg weakness or foot catching"
FEVER = "Fever or chills"
FAINTED = "Fainted"


def mask(*keys: str) -> int:
    return sum(1 << Q4.choice_index(k) for k in keys)


async def to_q4(bot: Running, wall: ManualWall, patient: SimUser) -> SentMessage:
    """The 3 h check-in, soreness 0 tapped: the message now asks Q4."""
    first = await first_checkin(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(first, "0")
    q4 = await patient.wait_for(lambda m: m.message_id == first.message_id, after=mark)
    assert "Tap everything that is new, then Done." in q4.text
    assert [row[0] for row in q4.buttons()] == [
        "☐ Nothing new",
        "☐ New numbness or tingling",
        f"☐ {WEAKNESS}",
        "☐ Felt faint (it has passed)",
        f"☐ {FAINTED}",
        f"☐ {FEVER}",
        DONE,
    ]
    return q4


async def test_weakness_and_fever_then_done_reach_the_therapist_with_the_emergency_text(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    q4 = await to_q4(bot, wall, patient)
    # Done with nothing ticked is refused kindly, and stores nothing
    query = await patient.tap(q4, DONE)
    refused = await answered_callback(fake, patient, query)
    assert refused["show_alert"] and "then Done" in refused["text"]
    assert await rows(sqlite_url, Answer, Answer.question_key == "Q4") == []
    # "Nothing new" is cleared by any other choice
    mark = patient.mark()
    await patient.tap(q4, "☐ Nothing new")
    q4 = await patient.wait_for(lambda m: m.message_id == q4.message_id, after=mark)
    assert q4.buttons()[0] == ["☑ Nothing new"]
    patient_mark, therapist_mark = patient.mark(), therapist.mark()
    done = await tick_and_done(patient, q4, WEAKNESS, FEVER)
    # the answer is one row, the mask of both choices, shown in words
    stored = await rows(sqlite_url, Answer, Answer.question_key == "Q4")
    assert [a.value for a in stored] == [mask("leg_weakness", "fever_chills")]
    assert f"{WEAKNESS}, {FEVER}" in done.text
    assert done.reply_markup is None  # URGENT: no further questions
    emergency = await patient.wait_for(lambda m: "112" in m.text, after=patient_mark)
    assert "emergency" in emergency.text.lower()
    await bot.background.run_once()
    (alert,) = await rows(sqlite_url, Alert)  # one card, both findings on it
    assert (alert.reason_key, alert.tier) == ("leg_weakness", "urgent")
    assert sorted(alert.reason_keys) == ["fever", "leg_weakness"]
    card = await therapist.wait_for(lambda m: "URGENT" in m.text, after=therapist_mark)
    assert WEAKNESS in card.text and "• Fever or chills 4 hours after session 1" in card.text
    assert await rows(sqlite_url, AnswerDraft) == []
    assert fake.refused == []


async def test_felt_faint_is_soon_with_lie_down_advice_and_the_checkin_goes_on(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    q4 = await to_q4(bot, wall, patient)
    mark = patient.mark()
    after = await tick_and_done(patient, q4, "Felt faint (it has passed)")
    assert "chest pain" in after.text.rsplit("\n", 1)[-1]  # SOON: the next question follows
    reply = await patient.wait_for(lambda m: m.text.startswith("⚠️"), after=mark)
    assert "contact the clinic today" in reply.text.lower()
    assert "lie down" in reply.text and "Do not drive" in reply.text
    assert "112" in reply.text  # "if you faint, call …", and the not-an-emergency line
    alerts = await rows(sqlite_url, Alert)
    assert [(a.reason_key, a.tier) for a in alerts] == [("felt_faint", "soon")]
    assert fake.refused == []


async def test_a_faint_left_ticked_counts_after_ten_minutes(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    q4 = await to_q4(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(q4, f"☐ {FAINTED}")
    q4 = await patient.wait_for(lambda m: m.message_id == q4.message_id, after=mark)
    patient_mark, therapist_mark = patient.mark(), therapist.mark()
    # the patient walks away: nothing yet at 9 minutes …
    wall.advance(timedelta(minutes=9, seconds=50))
    await bot.background.run_once()
    assert await rows(sqlite_url, Answer, Answer.question_key == "Q4") == []
    assert [m for m in patient.inbox if m.seq > patient_mark] == []
    # … at 10 minutes the sweep records the draft, the emergency text and the alert go out
    wall.advance(timedelta(seconds=10))
    await bot.background.run_once()
    stored = await rows(sqlite_url, Answer, Answer.question_key == "Q4")
    assert [a.value for a in stored] == [mask("fainted")]
    emergency = await patient.wait_for(lambda m: "112" in m.text, after=patient_mark)
    assert emergency.text.startswith("⚠️") and "emergency" in emergency.text.lower()
    replies = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == OutboxKind.SAFETY_REPLY)
    assert [(r.urgent, r.state) for r in replies] == [(True, "sent")]
    await bot.background.run_once()
    alerts = await rows(sqlite_url, Alert)
    assert [(a.reason_key, a.tier) for a in alerts] == [("fainted", "urgent")]
    await therapist.wait_for(
        lambda m: "URGENT" in m.text and "Fainted" in m.text, after=therapist_mark
    )
    assert await rows(sqlite_url, AnswerDraft) == []
    # a late tap on the old toggles stores nothing more
    query = await patient.tap(q4, DONE)
    late = await answered_callback(fake, patient, query)
    assert "Already recorded" in late["text"] and not late["show_alert"]
    assert len(await rows(sqlite_url, Answer, Answer.question_key == "Q4")) == 1
    assert fake.refused == []


async def test_nothing_new_left_ticked_is_recorded_quietly(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    q4 = await to_q4(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(q4, "☐ Nothing new")
    q4 = await patient.wait_for(lambda m: m.message_id == q4.message_id, after=mark)
    mark = patient.mark()
    wall.advance(timedelta(minutes=10))
    await bot.background.run_once()
    stored = await rows(sqlite_url, Answer, Answer.question_key == "Q4")
    assert [a.value for a in stored] == [mask("nothing_new")]
    assert await rows(sqlite_url, Alert) == []
    safety_replies = OutboxMessage.kind == OutboxKind.SAFETY_REPLY
    assert await rows(sqlite_url, OutboxMessage, safety_replies) == []
    assert [m for m in patient.inbox if m.seq > mark and "⚠️" in m.text] == []
    # the old toggles now lead on: a tap says it is recorded and shows the next question
    mark = patient.mark()
    await patient.tap(q4, "☑ Nothing new")
    moved = await patient.wait_for(lambda m: m.message_id == q4.message_id, after=mark)
    assert "chest pain" in moved.text.rsplit("\n", 1)[-1] and "— <b>Nothing new</b>" in moved.html
    assert moved.buttons() == [["Yes", "No"]]


def test_the_queued_reply_renders_the_texts_of_a_tap() -> None:
    """bot.delivery renders a safety_reply row like the reply at a tap: SOON + advice for a
    near-faint, the emergency text whenever a finding sends the patient there."""
    from bot.config import Settings
    from bot.delivery import safety_reply_text

    protocol = load_protocol()
    settings = Settings(bot_token="1:x", emergency_number="112", clinic_phone="+34 900 123 456")
    near = safety_reply_text(
        protocol, settings, "es", {"tier": "soon", "emergency": False, "advice": ["felt_faint"]}
    )
    assert near.startswith("⚠️") and "+34 900 123 456" in near and "No conduzca" in near
    urgent = safety_reply_text(protocol, settings, "en", {"tier": "soon", "emergency": True})
    assert "Call 112 or go to the nearest emergency department" in urgent
