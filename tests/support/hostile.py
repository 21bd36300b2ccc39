"""A small clinic for hostile-input tests, and a way to know the bot is done with an update.

`Clinic` holds an admin, two therapists, a front-desk member and two consented patients
(one per therapist), each with an open check-in. The first patient kept a note and has a
JSON copy of their data in their chat; the second passed a note to their therapist, who
so has an open alert. The first therapist has their patient list, the patient picker and
a patient card (a photo) in their chat. `Finished` tells, without sleeping, when the
dispatcher has completely handled an update (handlers, error handlers and all).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlmodel import select

from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import Alert, Checkin, Patient, PatientNote
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.harness import ADMIN_ID, START, ManualWall, Running, running_bot
from tests.support.journey import enroll, invite, join_and_consent

THERAPIST, OTHER_THERAPIST, STAFF = 2000, 2001, 3000
PATIENT, OTHER_PATIENT = 4000, 4001


class Finished:
    """An event per update id, set once the dispatcher has fed that update completely."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.done: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        original = dispatcher.feed_update

        async def feed_update(bot: Bot, update: Update, **kwargs: Any) -> Any:
            try:
                return await original(bot, update, **kwargs)
            finally:
                self.done[update.update_id].set()

        dispatcher.feed_update = feed_update  # type: ignore[method-assign]

    async def wait(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self.done[update_id].wait(), timeout)


class Clinic:
    """Who is who in the clinic, and the ids a forged button may point at."""

    bot: Running
    fake: FakeBotAPI
    finished: Finished
    admin: SimUser
    therapist: SimUser
    other_therapist: SimUser
    staff: SimUser
    patient: SimUser
    other_patient: SimUser
    patient_id: int
    other_patient_id: int
    checkin_id: int  # the patient's open check-in
    other_checkin_id: int  # the other patient's open check-in
    note_id: int  # the patient's note, not passed on
    other_note_id: int  # the other patient's note, passed on
    other_alert_id: int  # the other therapist's open alert
    therapist_ids: tuple[int, int]  # staff ids of the two therapists

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:  # short: Hypothesis prints it with every failing example
        return f"Clinic(patients={self.patient_id},{self.other_patient_id})"


async def _ids(db_url: str) -> dict[str, Any]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        patients = {p.tg_user_id: p for p in (await db.exec(select(Patient))).all()}
        checkins = (await db.exec(select(Checkin).where(Checkin.state == "open"))).all()
        notes = (await db.exec(select(PatientNote))).all()
        alerts = (await db.exec(select(Alert))).all()
    await engine.dispose()
    first, second = patients[PATIENT], patients[OTHER_PATIENT]
    return {
        "patient": first,
        "other_patient": second,
        "checkin": next(c.id for c in checkins if c.patient_id == first.id),
        "other_checkin": next(c.id for c in checkins if c.patient_id == second.id),
        "note": next(n.id for n in notes if n.patient_id == first.id),
        "other_note": next(n.id for n in notes if n.patient_id == second.id),
        "other_alert": next(a.id for a in alerts if a.patient_id == second.id),
    }


async def _pass_a_note(patient: SimUser, text: str, *, tap: bool) -> SentMessage:
    mark = patient.mark()
    await patient.send(text)
    reply = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    if tap:
        mark = patient.mark()
        await patient.tap(reply, reply.buttons()[0][0])
        reply = await patient.wait_for(lambda m: m.message_id == reply.message_id, after=mark)
    return reply


async def build_clinic(bot: Running, wall: ManualWall, db_url: str) -> Clinic:
    fake = bot.fake
    finished = Finished(bot.app.dispatcher)
    therapist = fake.user(THERAPIST, "Theo", last_name="Rapist")
    other_therapist = fake.user(OTHER_THERAPIST, "Tina", last_name="Second")
    staff = fake.user(STAFF, "Sam", last_name="Desk")
    await invite(fake, "Therapist", therapist)
    await invite(fake, "Therapist", other_therapist)
    await invite(fake, "Front-desk staff", staff)
    patient = fake.user(PATIENT, "Zoe")
    other_patient = fake.user(OTHER_PATIENT, "Omar")
    token, _, _ = await enroll(fake, staff)
    await join_and_consent(patient, token)
    token, _, _ = await enroll(fake, staff, name="Omar <b>Two</b>", therapist="Tina Second")
    await join_and_consent(other_patient, token)
    # the first check-in (3 h after the session) reaches both patients
    marks = {p.id: p.mark() for p in (patient, other_patient)}
    wall.advance(timedelta(hours=3))
    await bot.background.run_once()
    for person in (patient, other_patient):
        await person.wait_for(lambda m: m.reply_markup is not None, after=marks[person.id])
    # a note kept, and a note passed on: the other therapist gets an alert
    await _pass_a_note(patient, "my leg feels odd", tap=False)
    await _pass_a_note(other_patient, "me duele <mucho> & más", tap=True)
    alert_mark = other_therapist.mark()
    await bot.background.run_once()
    await other_therapist.wait_for(lambda m: m.reply_markup is not None, after=alert_mark)
    # the therapist's own desk messages, with buttons a forged callback may point at, and
    # media: the patient card (a photo) in the therapist's chat, a JSON copy in the patient's
    for command in ("/patients", "/patient"):
        mark = therapist.mark()
        await therapist.send(command)
        picker = await therapist.wait_for(after=mark)
    mark = therapist.mark()
    await therapist.tap(picker, picker.buttons()[0][0])
    await therapist.wait_for(lambda m: m.photo is not None, after=mark)
    mark = patient.mark()
    await patient.send("/mydata")
    await patient.wait_for(lambda m: m.document is not None, after=mark)
    await bot.background.run_once()
    ids = await _ids(db_url)
    assert ids["patient"].therapist_id != ids["other_patient"].therapist_id
    return Clinic(
        bot=bot,
        fake=fake,
        finished=finished,
        admin=fake.user(ADMIN_ID),
        therapist=therapist,
        other_therapist=other_therapist,
        staff=staff,
        patient=patient,
        other_patient=other_patient,
        patient_id=ids["patient"].id,
        other_patient_id=ids["other_patient"].id,
        checkin_id=ids["checkin"],
        other_checkin_id=ids["other_checkin"],
        note_id=ids["note"],
        other_note_id=ids["other_note"],
        other_alert_id=ids["other_alert"],
        therapist_ids=(ids["patient"].therapist_id, ids["other_patient"].therapist_id),
    )


@asynccontextmanager
async def clinic_at_rest(fake: FakeBotAPI, db_url: str) -> AsyncIterator[Clinic]:
    """A running bot with `build_clinic`'s people, on a manual wall clock: the background
    passes run only when a test asks (run_once), so nothing moves by itself; no pause
    between two messages to one chat (this fake does not limit rates)."""
    wall = ManualWall(START)
    async with running_bot(
        fake,
        db_url,
        clock=Clock(wall=wall),
        DISPATCH_INTERVAL_SECONDS="3600",
        SEND_RATE_PER_CHAT_PER_SECOND="1000",
    ) as bot:
        yield await build_clinic(bot, wall, db_url)
