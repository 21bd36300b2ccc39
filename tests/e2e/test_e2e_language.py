"""Language and time (issue 14 item 5): the patient chooses English or Spanish on the
consent message, and everything after is in that language; the time zone is chosen with
buttons or a typed city. Real dispatcher, strict fake Bot API, real database."""

from __future__ import annotations

from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import Patient, PatientStatus
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows, snapshot
from tests.support.e2e import PATIENT, STAFF, THERAPIST, answered_callback, first_checkin
from tests.support.harness import ManualWall, Running
from tests.support.journey import enroll, invite


async def _clinic_and_link(fake: FakeBotAPI) -> str:
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF))
    return token


async def _consent_message(patient: SimUser, token: str) -> SentMessage:
    mark = patient.mark()
    await patient.start(token)
    return await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)


async def _tap_and_see(patient: SimUser, message: SentMessage, button: str) -> SentMessage:
    mark = patient.mark()
    await patient.tap(message, button)
    return await patient.wait_for(lambda m: m.message_id == message.message_id, after=mark)


async def _stored_language(db_url: str) -> str:
    [patient] = await rows(db_url, Patient)
    return patient.language


async def test_spanish_phone_chooses_english_at_consent_and_keeps_it(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """The phone's language only preselects: a Spanish phone sees the consent in Spanish,
    taps English, and reads the consent, the reply and the check-ins in English."""
    token = await _clinic_and_link(fake)
    patient = fake.user(PATIENT, "Zoe", language_code="es")
    consent = await _consent_message(patient, token)
    assert "Antes de empezar" in consent.text
    assert consent.buttons() == [["Acepto", "No, gracias"], ["English", "✓ Español"]]
    english = await _tap_and_see(patient, consent, "English")
    assert "Before we start" in english.text and "Antes" not in english.text
    assert english.buttons() == [["I agree", "No, thanks"], ["✓ English", "Español"]]
    assert await _stored_language(sqlite_url) == "en"
    # the language already shown, tapped again: nothing changes, no edit is attempted
    before = await snapshot(sqlite_url)
    query = await patient.tap_data(english.message_id, english.button_data("✓ English"))
    await answered_callback(fake, patient, query)
    assert await snapshot(sqlite_url) == before
    mark = patient.mark()
    await patient.tap(english, "I agree")
    agreed = await patient.wait_for(lambda m: "Thank you" in m.text, after=mark)
    assert "You are all set" in agreed.text
    await fake.wait_until(lambda: f"chat:{PATIENT}" in fake.commands)
    assert fake.commands[f"chat:{PATIENT}"][0]["description"] == "Report a new symptom"
    checkin = await first_checkin(bot, wall, patient)
    assert checkin.text.startswith("A quick check a few hours after your treatment")
    assert fake.refused == []


async def test_english_phone_chooses_spanish_at_consent(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    token = await _clinic_and_link(fake)
    patient = fake.user(PATIENT, "Zoe", language_code="en")
    consent = await _consent_message(patient, token)
    assert "Before we start" in consent.text
    spanish = await _tap_and_see(patient, consent, "Español")
    assert "Antes de empezar" in spanish.text and "molestias" in spanish.text
    assert spanish.buttons() == [["Acepto", "No, gracias"], ["English", "✓ Español"]]
    mark = patient.mark()
    await patient.tap(spanish, "Acepto")
    agreed = await patient.wait_for(lambda m: "Gracias" in m.text, after=mark)
    assert "Pronto le enviaré su primer control" in agreed.text
    assert await _stored_language(sqlite_url) == "es"
    checkin = await first_checkin(bot, wall, patient)
    assert checkin.text.startswith("Un control rápido unas horas después de su tratamiento")
    assert "¿Cuánta molestia tiene ahora" in checkin.text
    assert fake.refused == []


async def test_forged_and_late_language_taps_change_nothing(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """A language the bot does not have, another patient's consent, a stranger, and a tap
    after consent was given: a clear answer, and the database is unchanged."""
    token = await _clinic_and_link(fake)
    patient = fake.user(PATIENT, "Zoe", language_code="en")
    consent = await _consent_message(patient, token)
    data = consent.button_data("Español")
    [stored] = await rows(sqlite_url, Patient)
    before = await snapshot(sqlite_url)
    forged = data.replace(":es", ":fr")
    query = await patient.tap_data(consent.message_id, forged)
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "This button has expired."
    query = await patient.tap_data(consent.message_id, data.replace(f":{stored.id}:", ":999:"))
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "Sorry, that is not available to you."
    stranger = fake.user(7777, "Mallory", language_code="es")
    await stranger.send("hola")
    await stranger.wait_for()
    query = await stranger.tap_data(consent.message_id, data)
    reply = await answered_callback(fake, stranger, query)
    assert reply.get("text") == "Lo sentimos, esa opción no está disponible para usted."
    assert await snapshot(sqlite_url) == before
    # consent given in English: the old language button no longer changes anything
    mark = patient.mark()
    await patient.tap(consent, "I agree")
    await patient.wait_for(lambda m: "Thank you" in m.text, after=mark)
    before = await snapshot(sqlite_url)
    query = await patient.tap_data(consent.message_id, data)
    reply = await answered_callback(fake, patient, query)
    assert reply.get("text") == "Your answer was already recorded."
    assert await snapshot(sqlite_url) == before
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        stored = (await db.exec(select(Patient))).one()
        assert (stored.status, stored.language) == (PatientStatus.ACTIVE, "en")
    await engine.dispose()
    assert fake.refused == []
