"""What patients are told, in order, with no stale buttons (issue 14, items 1–4), end to end:
the real dispatcher and background jobs against the strict fake Bot API, on a hand-moved
clock. The clinic is "Clínica Río & Mar" (Europe/Madrid, +34 900 123 456, 112); session 1
ended Monday 23 Nov 2026, 09:30 local."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from care.records import discharge
from scheduler.clock import Clock
from store.models import OutboxMessage, Patient, StaffMember
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import (
    PATIENT,
    STAFF,
    THERAPIST,
    answer_step,
    answered_callback,
    enrolled_patient,
    enrolled_spanish_patient,
    first_checkin,
    record_session,
    tick_and_done,
)
from tests.support.harness import ManualWall, Running, running_bot
from tests.support.journey import enroll, invite

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"

# what the welcome and /help must say: items 2–7 of clinical.md and the course plan
PROMISES_EN = (
    "does not diagnose and gives no advice on medicines",  # 2
    "soreness for 1–3 days",  # 3
    "Call 112 now if you have: chest pain",  # 4
    "Contact the clinic today on +34 900 123 456",  # 5
    "reads them during opening hours",  # 6
    "Stop an exercise if you feel sharp or worsening pain",  # 7
    "3 to 6 needling sessions",
    "after 6 to 8 sessions, or sooner if you are getting worse",
)
PROMISES_ES = (
    "no hace diagnósticos ni da consejos sobre medicamentos",
    "molestias durante 1 a 3 días",
    "Llame ahora al 112 si tiene: dolor en el pecho",
    "Llame hoy a la clínica al +34 900 123 456",
    "las lee en horario de atención",
    "Pare el ejercicio si nota un dolor punzante o que va a más",
    "de 3 a 6 sesiones de punción",
    "después de 6 a 8 sesiones, o antes si empeora",
)
AFTERCARE_EN = (
    "Keep moving gently",
    "heat or cold",
    "drink water",
    "No hard training",
    "get up and move",  # sitting breaks (a seed)
    "running or training gradually",  # a gradual return (a seed)
)
AFTERCARE_ES = (
    "Siga moviéndose con suavidad",
    "calor o frío",
    "beba agua",
    "Nada de entrenamiento intenso",
    "levántese y muévase",
    "correr o a entrenar de forma gradual",
)
SIGNS_EN = "Call 112 now if you have"
REMINDER_STARTS = ("Time for today", "Needling day", "Es la hora de sus", "Hoy ha tenido punción")
SIGNS_ES = "Llame ahora al 112 si tiene"


def write_sample(name: str, message: SentMessage) -> None:
    """docs/samples/ from a real run: `WRITE_SAMPLES=1 pytest tests/e2e/test_e2e_promises.py`."""
    if os.environ.get("WRITE_SAMPLES"):
        (SAMPLES / name).write_text(f"{message.text}\n{message.buttons()}\n", encoding="utf-8")


def welcome_of(patient: SimUser, thanks: str) -> SentMessage:
    return next(m for m in patient.inbox if m.text.startswith(thanks))


def session_advice(patient: SimUser, heading: str) -> list[SentMessage]:
    return [m for m in patient.inbox if m.text.startswith(heading)]


async def settle(bot: Running, times: int = 3) -> None:
    for _ in range(times):
        await bot.background.run_once()


# -- item 1: the promises of the protocol ------------------------------------------------------


async def test_welcome_after_consent_tells_items_2_to_7_in_english(
    bot: Running, fake: FakeBotAPI
) -> None:
    patient = await enrolled_patient(fake)
    welcome = welcome_of(patient, "Thank you! You are all set.")
    for words in PROMISES_EN:
        assert words in welcome.text, words
    assert "not an emergency service" not in welcome.text  # item 1: the consent just said it
    assert welcome.reply_markup is None
    assert len(welcome.text) < 2000  # short: one paragraph per promise, not the consent again
    write_sample("welcome.txt", welcome)
    # the aftercare of session 1 follows once, without the signs the welcome just gave
    await settle(bot)
    [advice] = session_advice(patient, "After your session 1")
    for words in AFTERCARE_EN:
        assert words in advice.text, words
    assert SIGNS_EN not in advice.text
    assert advice.seq > welcome.seq
    assert fake.refused == []


async def test_welcome_after_consent_tells_items_2_to_7_in_spanish(
    bot: Running, fake: FakeBotAPI
) -> None:
    patient = await enrolled_spanish_patient(fake)
    welcome = welcome_of(patient, "¡Gracias! Todo listo.")
    for words in PROMISES_ES:
        assert words in welcome.text, words
    assert "agujetas" not in welcome.text
    await settle(bot)
    [advice] = session_advice(patient, "Después de su sesión 1")
    for words in AFTERCARE_ES:
        assert words in advice.text, words
    assert fake.refused == []


async def test_help_tells_the_promises_in_english_and_spanish(
    bot: Running, fake: FakeBotAPI
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/help")
    shown = await patient.wait_for(lambda m: "Your commands" in m.text, after=mark)
    for words in (*PROMISES_EN, "not an emergency service"):
        assert words in shown.text, words

    other = fake.user(4100, "Ana", language_code="es")
    token, _, _ = await enroll(fake, fake.user(STAFF), name="Ana")
    mark = other.mark()
    await other.start(token)
    consent = await other.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await other.tap(consent, "Acepto")
    await other.wait_for(lambda m: "¡Gracias!" in m.text, after=mark)
    mark = other.mark()
    await other.send("/help")
    shown = await other.wait_for(lambda m: "Sus comandos" in m.text, after=mark)
    for words in (*PROMISES_ES, "no es un servicio de urgencias"):
        assert words in shown.text, words


async def test_each_recorded_session_brings_the_signs_and_the_aftercare_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Session 2 and 3: the emergency signs and the aftercare, once each, even when the
    row is queued twice or the background passes run again."""
    patient = await enrolled_patient(fake)
    await settle(bot)
    wall.advance(timedelta(days=3))
    await settle(bot)
    mark = patient.mark()
    await record_session(fake)
    await settle(bot)
    [second] = session_advice(patient, "After your session 2")
    assert second.seq > mark
    assert SIGNS_EN in second.text and "chest pain" in second.text
    for words in AFTERCARE_EN:
        assert words in second.text, words
    # a second copy of its row (a double delivery): it is not sent again
    [row] = [
        r
        for r in await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "session_advice")
        if r.payload.get("session") == 2
    ]
    async with bot.app.sessions() as db:
        db.add(
            OutboxMessage(
                kind=row.kind,
                chat_id=row.chat_id,
                patient_id=row.patient_id,
                payload=dict(row.payload),
                due_at=bot.app.clock.now(),
                created_at=bot.app.clock.now(),
            )
        )
        await db.commit()
    await settle(bot)
    wall.advance(timedelta(days=1))
    await settle(bot)
    assert len(session_advice(patient, "After your session 2")) == 1
    copies = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "session_advice")
    assert sorted(r.state for r in copies) == ["cancelled", "sent", "sent"]
    assert fake.refused == []


async def test_a_recorded_session_in_spanish(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_spanish_patient(fake)
    wall.advance(timedelta(days=3))
    await settle(bot)
    await record_session(fake)
    await settle(bot)
    [second] = session_advice(patient, "Después de su sesión 2")
    assert SIGNS_ES in second.text
    for words in AFTERCARE_ES:
        assert words in second.text, words


# -- item 2: no wrong sentences ------------------------------------------------------------


async def test_a_lower_case_clinic_name_never_starts_a_sentence(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall
) -> None:
    """CLINIC_NAME "physio+": the welcome, the aftercare and the urgent reply name it inside
    their sentences ("at physio+", "alerted physio+"), never first."""
    async with running_bot(
        fake,
        sqlite_url,
        clock=Clock(wall=wall),
        DISPATCH_INTERVAL_SECONDS="60",
        CLINIC_NAME="physio+",
    ) as bot:
        patient = await enrolled_patient(fake)
        checkin = await first_checkin(bot, wall, patient)
        mark = patient.mark()
        await tick_and_done(
            patient,
            await answer_step(patient, checkin),  # soreness 0, then Q4: fainted
            "Fainted",
        )
        await patient.wait_for(lambda m: "We have also alerted physio+." in m.text, after=mark)
    welcome = next(m for m in patient.inbox if m.text.startswith("Welcome!"))
    assert "Your therapist Theo Rapist at physio+ has set up" in welcome.text
    for message in patient.inbox:
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", message.text):
            assert not sentence.lstrip("⚠️• ").startswith("physio+"), message.text


async def test_the_spanish_discharge_names_no_english_clinic(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall
) -> None:
    """No CLINIC_NAME: a Spanish patient's closing message reads "con la clínica", never
    "con our clinic"."""
    async with running_bot(
        fake, sqlite_url, clock=Clock(wall=wall), DISPATCH_INTERVAL_SECONDS="60", CLINIC_NAME=""
    ) as bot:
        patient = await enrolled_spanish_patient(fake)
        async with bot.app.sessions() as db:
            staff = (
                await db.exec(select(StaffMember).where(StaffMember.tg_user_id == STAFF))
            ).one()
            await discharge(db, patient_id=1, staff=staff, now=bot.app.clock.now())
        mark = patient.mark()
        await settle(bot)
        closing = await patient.wait_for(lambda m: "ha terminado" in m.text, after=mark)
    assert closing.text.startswith("Su seguimiento con la clínica ha terminado.")
    for message in patient.inbox:
        assert "our clinic" not in message.text and "the clinic" not in message.text


# -- item 3: order -----------------------------------------------------------------------------


async def test_reassurance_comes_after_the_last_answer(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_patient(fake)
    checkin = await first_checkin(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(checkin, "2")  # soreness 2/10: "some soreness is normal" is due
    q4 = await patient.wait_for(lambda m: m.message_id == checkin.message_id, after=mark)
    q5 = await tick_and_done(patient, q4, "Nothing new")
    last = patient.mark()
    done = await answer_step(patient, q5)
    assert "Thank you, your answers are saved." in done.text
    normal = await patient.wait_for(lambda m: "Some soreness is normal" in m.text, after=last)
    assert normal.seq > done.seq  # below the closed check-in, never between its questions
    assert len([m for m in patient.inbox if "Some soreness is normal" in m.text]) == 1


async def test_no_reassurance_before_an_urgent_reply(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    """Soreness 2/10, then "fainted": the emergency text, and no "soreness is normal"
    anywhere (English and Spanish)."""
    patient = await enrolled_patient(fake)
    checkin = await first_checkin(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(checkin, "2")
    q4 = await patient.wait_for(lambda m: m.message_id == checkin.message_id, after=mark)
    mark = patient.mark()
    await tick_and_done(patient, q4, "Fainted")
    await patient.wait_for(lambda m: "Call 112 or go to the nearest" in m.text, after=mark)
    await settle(bot)
    assert not [m for m in patient.inbox if "soreness is normal" in m.text.lower()]


async def test_no_reassurance_before_an_urgent_reply_in_spanish(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_spanish_patient(fake)
    checkin = await first_checkin(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(checkin, "2")
    q4 = await patient.wait_for(lambda m: m.message_id == checkin.message_id, after=mark)
    mark = patient.mark()
    for label in ("☐ Me he desmayado",):
        await patient.tap(q4, label)
        q4 = await patient.wait_for(lambda m: m.message_id == checkin.message_id, after=mark)
    mark = patient.mark()
    await patient.tap(q4, "✅ Listo")
    await patient.wait_for(lambda m: "Llame al 112" in m.text, after=mark)
    await settle(bot)
    assert not [m for m in patient.inbox if "es normal después de la punción" in m.text]


async def test_a_nudge_retires_the_old_bubble(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    """One answer, then silence: the nudge re-sends the check-in and the old message says
    "Continued below ↓" with no buttons (not a bare "2/3 …")."""
    patient = await enrolled_patient(fake)
    checkin = await first_checkin(bot, wall, patient)
    mark = patient.mark()
    await patient.tap(checkin, "1")
    await patient.wait_for(lambda m: m.message_id == checkin.message_id, after=mark)
    mark = patient.mark()
    wall.advance(timedelta(hours=1, minutes=5))
    await settle(bot)
    nudge = await patient.wait_for(lambda m: m.text.startswith("⏰"), after=mark)
    assert nudge.reply_markup is not None and "2/3" in nudge.text
    old = await patient.wait_for(
        lambda m: m.message_id == checkin.message_id and "Continued below ↓" in m.text,
        after=mark,
    )
    assert old.reply_markup is None
    assert "2/3" not in old.text
    assert fake.refused == []


async def test_a_nudge_retires_the_old_bubble_in_spanish(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_spanish_patient(fake)
    checkin = await first_checkin(bot, wall, patient)
    mark = patient.mark()
    wall.advance(timedelta(hours=1, minutes=5))
    await settle(bot)
    await patient.wait_for(lambda m: m.text.startswith("⏰"), after=mark)
    old = await patient.wait_for(
        lambda m: m.message_id == checkin.message_id and "Continúa abajo ↓" in m.text,
        after=mark,
    )
    assert old.reply_markup is None


# -- item 4: stale buttons ---------------------------------------------------------------------


async def exercise_reminder(
    bot: Running, wall: ManualWall, patient: SimUser, day: int
) -> SentMessage:
    """Move on to the exercise reminder of day `day` of the course (18:00 local)."""
    for _ in range(24 * 4):
        mark = patient.mark()
        wall.advance(timedelta(hours=1))
        await settle(bot, 1)
        for m in patient.inbox:
            if m.seq > mark and m.edits == 0 and m.text.startswith(REMINDER_STARTS):
                if day == 0:
                    return m
                day -= 1
    raise AssertionError("no exercise reminder")


async def test_needling_day_reminder_offers_no_snooze(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_patient(fake)
    reminder = await exercise_reminder(bot, wall, patient, 0)
    assert reminder.text.startswith("Needling day today")
    labels = [b for row in reminder.buttons() for b in row]
    assert "Remind me in 1 h" not in labels
    assert labels == ["Stop exercise reminders"]


async def test_a_snooze_from_an_earlier_day_changes_nothing(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    reminder = await exercise_reminder(bot, wall, patient, 1)  # Tuesday 18:00
    assert "Remind me in 1 h" in str(reminder.buttons())
    snooze = reminder.button_data("Remind me in 1 h")
    wall.advance(timedelta(days=2))
    await settle(bot)
    before = sorted((r.id, r.state, r.due_at) for r in await rows(sqlite_url, OutboxMessage))
    query = await patient.tap_data(reminder.message_id, snooze)
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "This reminder is from an earlier day, so it was not moved."
    after = sorted((r.id, r.state, r.due_at) for r in await rows(sqlite_url, OutboxMessage))
    assert after == before


async def test_a_snooze_works_the_same_day_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake, baseline="5")
    reminder = await exercise_reminder(bot, wall, patient, 1)
    snooze = reminder.button_data("Remind me in 1 h")
    query = await patient.tap_data(reminder.message_id, snooze)
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "OK, I will remind you again in an hour."
    query = await patient.tap_data(reminder.message_id, snooze)  # an old copy of the tap
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "Already recorded ✓"
    snoozed = [
        r
        for r in await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "exercise")
        if r.payload.get("snoozed")
    ]
    assert len(snoozed) == 1


async def test_a_snooze_from_an_earlier_day_in_spanish(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_spanish_patient(fake)
    reminder = await exercise_reminder(bot, wall, patient, 1)
    snooze = reminder.button_data("Recuérdemelo en 1 h")
    wall.advance(timedelta(days=2))
    await settle(bot)
    query = await patient.tap_data(reminder.message_id, snooze)
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "Este recordatorio es de un día anterior; no se ha aplazado."


async def test_the_next_reminder_retires_the_last_ones_buttons(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await enrolled_patient(fake)
    tuesday = await exercise_reminder(bot, wall, patient, 1)
    await exercise_reminder(bot, wall, patient, 0)
    old = next(m for m in patient.inbox if m.message_id == tuesday.message_id)
    assert old.reply_markup is None


async def test_a_typed_reminder_time_takes_the_time_buttons_away(
    bot: Running, fake: FakeBotAPI
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/settings")
    menu = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(menu, "Reminder time")
    ask = await patient.wait_for(lambda m: "07:30" in str(m.buttons()), after=mark)
    mark = patient.mark()
    await patient.send("19:15")
    await patient.wait_for(lambda m: "Exercise reminder: 19:15" in m.text, after=mark)
    shown = next(m for m in patient.inbox if m.message_id == ask.message_id)
    assert shown.reply_markup is None
    assert "19:15" in shown.text


async def test_a_typed_reminder_time_takes_the_time_buttons_away_in_spanish(
    bot: Running, fake: FakeBotAPI
) -> None:
    patient = await enrolled_spanish_patient(fake)
    mark = patient.mark()
    await patient.send("/settings")
    menu = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(menu, "Hora del recordatorio")
    ask = await patient.wait_for(lambda m: "07:30" in str(m.buttons()), after=mark)
    mark = patient.mark()
    await patient.send("19:15")
    await patient.wait_for(lambda m: "Recordatorio de ejercicios: 19:15" in m.text, after=mark)
    shown = next(m for m in patient.inbox if m.message_id == ask.message_id)
    assert shown.reply_markup is None
    assert "19:15" in shown.text


async def stop_following(patient: SimUser, ask: str, yes: str) -> None:
    mark = patient.mark()
    await patient.send("/stop")
    question = await patient.wait_for(lambda m: ask in m.text, after=mark)
    mark = patient.mark()
    await patient.tap(question, yes)
    await patient.wait_for(lambda m: m.message_id == question.message_id, after=mark)


async def test_a_pause_button_after_stop_is_refused_and_goes(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """/pause asked, then /stop: the old pause buttons answer that the follow-up is not
    active, change nothing, and are taken away (English and Spanish)."""
    for patient, days, stop_ask, yes, refusal in (
        (
            await enrolled_patient(fake),
            "1 day",
            "Stop the follow-up completely?",
            "Yes, stop",
            "Your follow-up is not active. If you need help, please contact Clínica Río & Mar",
        ),
        (
            await _second_spanish_patient(fake),
            "1 día",
            "¿Quiere terminar el seguimiento",
            "Sí, terminar",
            "Su seguimiento no está activo. Si necesita ayuda, contacte directamente con "
            "Clínica Río & Mar",
        ),
    ):
        mark = patient.mark()
        await patient.send("/pause")
        pause = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
        await stop_following(patient, stop_ask, yes)
        before = [(p.id, p.status, p.paused_until) for p in await rows(sqlite_url, Patient)]
        mark = patient.mark()
        query = await patient.tap(pause, days)
        reply = await answered_callback(fake, patient, query)
        assert reply.get("text", "").startswith(refusal)
        gone = await patient.wait_for(
            lambda m, mid=pause.message_id: m.message_id == mid, after=mark
        )
        assert gone.reply_markup is None
        after = [(p.id, p.status, p.paused_until) for p in await rows(sqlite_url, Patient)]
        assert after == before


async def _second_spanish_patient(fake: FakeBotAPI) -> SimUser:
    token, _, _ = await enroll(fake, fake.user(STAFF), name="Ana")
    other = fake.user(4200, "Ana", language_code="es")
    mark = other.mark()
    await other.start(token)
    consent = await other.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await other.tap(consent, "Acepto")
    await other.wait_for(lambda m: "¡Gracias!" in m.text, after=mark)
    return other


async def test_a_second_consent_message_loses_its_buttons_once_decided(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """The link opened twice shows the consent twice; once agreed on one, a tap on the
    other says the answer is recorded, changes nothing and takes its buttons away."""
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF))
    for user_id, lang, agree, recorded in (
        (PATIENT, "en", "I agree", "Your answer was already recorded."),
        (4300, "es", "Acepto", "Su respuesta ya estaba registrada."),
    ):
        if lang == "es":
            token, _, _ = await enroll(fake, fake.user(STAFF), name="Ana")
        patient = fake.user(user_id, "Zoe", language_code=lang)
        consents = []
        for _ in range(2):
            mark = patient.mark()
            await patient.start(token)
            consents.append(
                await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
            )
        mark = patient.mark()
        await patient.tap(consents[0], agree)
        await patient.wait_for(
            lambda m, mid=consents[0].message_id: m.message_id == mid, after=mark
        )
        before = [(p.id, p.status, p.consented_at) for p in await rows(sqlite_url, Patient)]
        mark = patient.mark()
        query = await patient.tap(consents[1], agree)
        reply = await answered_callback(fake, patient, query)
        assert reply.get("text") == recorded
        second = await patient.wait_for(
            lambda m, mid=consents[1].message_id: m.message_id == mid, after=mark
        )
        assert second.reply_markup is None
        assert [(p.id, p.status, p.consented_at) for p in await rows(sqlite_url, Patient)] == before
