"""Readable data (issue 14 item 6): /mydata and the CSV export say each question and each
answer in words, in the reader's language — the patient's for /mydata, the clinic's for
the CSV — with the stored codes kept beside them. Real dispatcher, strict fake Bot API."""

from __future__ import annotations

import csv
import io
import json

from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.e2e import (
    PATIENT,
    STAFF,
    THERAPIST,
    answer_all,
    chooser,
    first_checkin,
)
from tests.support.harness import ManualWall, Running
from tests.support.journey import enroll, invite

LEGACY_COLUMNS = [
    "patient_id",
    "patient_name",
    "session",
    "checkin",
    "question",
    "value",
    "answered_at",
]


async def _patient_who_answered(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, *, phone_language: str, soreness: str
) -> SimUser:
    """Enrolled, consented in the phone's language, and the first check-in answered."""
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF))
    patient = fake.user(PATIENT, "Zoe", language_code=phone_language)
    mark = patient.mark()
    await patient.start(token)
    consent = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(consent, consent.buttons()[0][0])  # I agree / Acepto
    await patient.wait_for(lambda m: "112" in m.text, after=mark)
    checkin = await first_checkin(bot, wall, patient)
    await answer_all(patient, checkin, chooser({"soreness": soreness, "molestia": soreness}))
    return patient


async def _document(person: SimUser, command: str) -> SentMessage:
    mark = person.mark()
    await person.send(command)
    return await person.wait_for(lambda m: m.document is not None, after=mark)


async def test_mydata_in_spanish_says_questions_and_answers_in_words(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    patient = await _patient_who_answered(bot, fake, wall, phone_language="es", soreness="3")
    sent = await _document(patient, "/mydata")
    assert sent.document is not None
    answers = json.loads(sent.document)["answers"]
    words = [(a["question"], a["value"], a["question_text"], a["answer_text"]) for a in answers]
    assert words == [
        (
            "Q1",
            3,
            "¿Cuánta molestia tiene ahora donde se pusieron las agujas? 0 = nada, 10 = la peor "
            "imaginable.",
            "3/10",
        ),
        (
            "Q4",
            1,
            "Desde el tratamiento, ¿ha notado algo nuevo? Toque todo lo que sea nuevo y "
            "después «Listo».",
            "Nada nuevo",
        ),
        (
            "Q5",
            0,
            "¿Tiene dolor en el pecho, dolor al respirar hondo, falta de aire o una tos seca "
            "nueva?",
            "No",
        ),
    ]
    assert fake.refused == []


async def test_mydata_in_english(bot: Running, fake: FakeBotAPI, wall: ManualWall) -> None:
    patient = await _patient_who_answered(bot, fake, wall, phone_language="en", soreness="7")
    sent = await _document(patient, "/mydata")
    assert sent.document is not None
    answers = json.loads(sent.document)["answers"]
    assert [(a["question_text"].split("?")[0], a["answer_text"]) for a in answers] == [
        ("Soreness where the needles went, right now", "7/10"),
        ("Since the treatment, have you noticed anything new", "Nothing new"),
        (
            "Do you have chest pain, pain on a deep breath, shortness of breath or a new dry cough",
            "No",
        ),
    ]
    assert fake.refused == []


async def test_csv_export_in_the_clinic_language_keeps_the_codes(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    """A Spanish-speaking patient's answers, read by the clinic's staff: the words are in
    the clinic's language (English here), and the code columns keep their names and places
    (existing spreadsheets and scripts read them), with the words appended."""
    await _patient_who_answered(bot, fake, wall, phone_language="es", soreness="3")
    sent = await _document(fake.user(THERAPIST), "/export")
    assert sent.document is not None
    table = list(csv.reader(io.StringIO(sent.document.decode("utf-8-sig"), newline="")))
    assert table[0] == [*LEGACY_COLUMNS, "question_text", "answer_text"]
    body = [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert [(r["question"], r["value"], r["answer_text"]) for r in body] == [
        ("Q1", "3", "3/10"),
        ("Q4", "1", "Nothing new"),
        ("Q5", "0", "No"),
    ]
    assert body[0]["question_text"].startswith("Soreness where the needles went, right now?")
    assert body[2]["question_text"].startswith("Do you have chest pain")
    assert fake.refused == []
