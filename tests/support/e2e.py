"""Journeys the end-to-end tests share: a registered clinic with one consented patient,
answering a check-in the way a patient taps it, moving protocol time to the next check-in,
and the red-flag path to the therapist and the clinic's alert group."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.harness import ManualWall, Running
from tests.support.journey import enroll, invite, join_and_consent

THERAPIST, STAFF, PATIENT = 2000, 3000, 4000


async def enrolled_patient(fake: FakeBotAPI, **kwargs: object) -> SimUser:
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF), **kwargs)  # type: ignore[arg-type]
    patient = fake.user(PATIENT, "Zoe")
    await join_and_consent(patient, token)
    return patient


BOXES = ("☐ ", "☑ ")
DONE = "✅ Done"
#: a multi question's Done button in each language (English, Spanish)
DONES = (DONE, "✅ Listo")


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
    labels = [b for row in message.buttons() for b in row]
    await patient.tap(message, next((d for d in DONES if d in labels), DONE))
    return await patient.wait_for(lambda m, mid=message.message_id: m.message_id == mid, after=mark)


async def answer_step(patient: SimUser, message: SentMessage, choose=calm_choice) -> SentMessage:
    """Answer the question on screen (a multi question: tick, then Done); the message after."""
    labels = [b for row in message.buttons() for b in row]
    chosen = choose(message)
    if any(done in labels for done in DONES):
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


async def advance_to_checkin(
    bot: Running, wall: ManualWall, patient: SimUser, prefix: str, *, step: timedelta
) -> SentMessage:
    """Move protocol time on until the check-in whose intro starts with `prefix` arrives."""
    for _ in range(200):
        mark = patient.mark()
        wall.advance(step)
        await bot.background.run_once()
        for message in patient.inbox:
            if message.seq > mark and message.reply_markup and message.text.startswith(prefix):
                return message
    raise AssertionError(f"no check-in starting {prefix!r}")


def chooser(values: dict[str, str]) -> Callable[[SentMessage], str]:
    """Tap `values[word]` when the question mentions `word`, else the calm answer."""

    def choose(message: SentMessage) -> str:
        question = message.text.rsplit("\n", 1)[-1].lower()
        for word, label in values.items():
            if word in question:
                return label
        return calm_choice(message)

    return choose


async def first_checkin(bot: Running, wall: ManualWall, patient: SimUser):  # type: ignore[no-untyped-def]
    mark = patient.mark()
    wall.advance(timedelta(hours=3))
    await bot.background.run_once()
    return await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)


async def answered_callback(fake: FakeBotAPI, patient: SimUser, query_id: str) -> dict:  # type: ignore[type-arg]
    await fake.wait_until(
        lambda: any(a.get("callback_query_id") == query_id for a in patient.callback_answers)
    )
    return next(a for a in patient.callback_answers if a.get("callback_query_id") == query_id)


GROUP = -100777


def current_question(message: SentMessage) -> str:
    return message.text.rsplit("\n", 1)[-1].lower()


async def answer_until(patient: SimUser, message: SentMessage, words: str) -> SentMessage:
    """Tap calm answers until the current question mentions `words`; that one stays open."""
    while words not in current_question(message):
        assert message.reply_markup, f"no question with {words!r}"
        labels = [b for row in message.buttons() for b in row]
        if DONE in labels:  # a multi-select: tick, then Done
            message = await answer_step(patient, message)
            continue
        mark = patient.mark()
        await patient.tap(message, calm_choice(message))
        # the same message edited; or, when Telegram refuses the edit, a new one
        message = await patient.wait_for(
            lambda m, mid=message.message_id: m.message_id == mid or m.reply_markup is not None,
            after=mark,
        )
    return message


async def assert_urgent_alert_reaches_therapist_and_group(
    bot: Running, fake: FakeBotAPI, therapist_mark: int, group_mark: int
) -> None:
    await bot.background.run_once()  # the outbox: the alert card
    therapist = fake.user(THERAPIST)
    card = await therapist.wait_for(lambda m: "URGENT" in m.text, after=therapist_mark)
    assert "Acknowledge" in card.buttons()[0]
    group = fake.group(GROUP)
    await group.wait_for(lambda m: "URGENT" in m.text, after=group_mark)


def is_emergency(message: SentMessage) -> bool:
    return "112" in message.text and "emergency" in message.text.lower()


async def report_symptom_red_flag(
    bot: Running, fake: FakeBotAPI, patient: SimUser, questions: SentMessage
) -> None:
    """Calm Q4 and Q3, then Q5 = Yes (a TRUNK session in the last 72 h)."""
    assert questions.text.startswith("Report a new symptom")
    q5 = await answer_until(patient, questions, "chest pain")
    therapist_mark = fake.user(THERAPIST).mark()
    group_mark = fake.group(GROUP).mark()
    mark = patient.mark()
    await patient.tap(q5, "Yes")
    await patient.wait_for(is_emergency, after=mark)
    await assert_urgent_alert_reaches_therapist_and_group(bot, fake, therapist_mark, group_mark)


H3_INTRO = "A quick check a few hours after your treatment."


def calm(message: SentMessage) -> str:
    labels = [b for row in message.buttons() for b in row]
    for choice in ("0", "No", "Fine", "Nothing new"):
        if choice in labels:
            return choice
    return labels[0]


async def enrolled_spanish_patient(fake: FakeBotAPI, **kwargs: object) -> SimUser:
    """`enrolled_patient` for a patient whose phone is set to Spanish: they consent with
    "Acepto" and read "¡Gracias!"."""
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF), **kwargs)  # type: ignore[arg-type]
    patient = fake.user(PATIENT, "Zoe", language_code="es")
    mark = patient.mark()
    await patient.start(token)
    consent = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(consent, "Acepto")
    await patient.wait_for(lambda m: "¡Gracias!" in m.text, after=mark)
    return patient


async def record_session(fake: FakeBotAPI, region: str = "Hamstrings") -> None:
    """The front desk records a new session that ended just now (/session)."""
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


ALL_DONE = "✅ All done"


async def next_exercise_reminder(bot: Running, wall: ManualWall, patient: SimUser) -> SentMessage:
    """Move time on, an hour at a time, to the next reminder that lists exercises (not a
    needling day's): a new message, not an earlier reminder edited by a tap."""
    known = {message.message_id for message in patient.inbox}
    for _ in range(100):
        wall.advance(timedelta(hours=1))
        await bot.background.run_once()
        for message in patient.inbox:
            if message.message_id not in known and ALL_DONE in str(message.buttons()):
                return message
    raise AssertionError("no exercise reminder with exercises")


async def open_card(person: SimUser, name: str = "") -> SentMessage:
    """/patient (the name's start, if given), tap the first patient: their card (photo)."""
    mark = person.mark()
    await person.send(f"/patient {name}".strip())
    pick = await person.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = person.mark()
    await person.tap(pick, pick.buttons()[0][0])
    return await person.wait_for(lambda m: m.photo is not None, after=mark)
