"""Language and time (issue 14 item 5): the patient chooses English or Spanish on the
consent message, and everything after is in that language; the time zone is chosen with
buttons or a typed city. Real dispatcher, strict fake Bot API, real database."""

from __future__ import annotations

import os
from pathlib import Path

from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import Patient, PatientStatus
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows, snapshot
from tests.support.e2e import (
    PATIENT,
    STAFF,
    THERAPIST,
    answered_callback,
    enrolled_patient,
    first_checkin,
)
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
    # the welcome is part of the consent message, so it changes language with it
    assert english.text.startswith(
        "Welcome! Your therapist Theo Rapist at Clínica Río & Mar has set up aftercare "
        "follow-up for you."
    )
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
    assert spanish.text.startswith(
        "¡Bienvenido/a! Su fisioterapeuta Theo Rapist, de Clínica Río & Mar, ha preparado su "
        "seguimiento"
    )
    assert "Welcome" not in spanish.text
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


async def _time_zone_step(patient: SimUser) -> SentMessage:
    """/settings → the time zone button; returns the message with the offered zones."""
    mark = patient.mark()
    await patient.send("/settings")
    menu = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(menu, "Zona horaria" if "Sus ajustes" in menu.text else "Time zone")
    return await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)


async def _stored_zone(db_url: str) -> str | None:
    [patient] = await rows(db_url, Patient)
    return patient.timezone


async def test_time_zone_buttons_and_typed_cities(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """The clinic's zone and its country's other zones as buttons; a typed city in either
    language, with or without accents, or an IANA name; several matches → buttons."""
    patient = await enrolled_patient(fake)
    ask = await _time_zone_step(patient)
    assert "type the city you are in" in ask.text
    assert ask.buttons() == [["Madrid (UTC+1)", "Canaries (UTC+0)"]]
    mark = patient.mark()
    await patient.tap(ask, "Canaries (UTC+0)")
    shown = await patient.wait_for(lambda m: "Your settings" in m.text, after=mark)
    assert "Canaries (Atlantic/Canary)" in shown.text
    assert await _stored_zone(sqlite_url) == "Atlantic/Canary"
    for typed, zone, words in (
        ("Ciudad de México", "America/Mexico_City", "Mexico City (America/Mexico_City)"),
        ("new york", "America/New_York", "New York (America/New_York)"),
        ("mexico city", "America/Mexico_City", "Mexico City (America/Mexico_City)"),
        ("MADRID", "Europe/Madrid", "Madrid (Europe/Madrid)"),
        ("Etc/GMT-3", "Etc/GMT-3", "Etc/GMT-3"),  # an IANA name no city names
        ("Europe/Lisbon", "Europe/Lisbon", "Lisbon (Europe/Lisbon)"),
    ):
        await _time_zone_step(patient)
        mark = patient.mark()
        await patient.send(typed)
        shown = await patient.wait_for(lambda m: "Your settings" in m.text, after=mark)
        assert words in shown.text, typed
        assert await _stored_zone(sqlite_url) == zone
    # the offered zones' buttons went once the typed city was saved
    tapped = next(m for m in patient.inbox if m.message_id == ask.message_id)
    assert tapped.reply_markup is None and tapped.text.endswith("✓ Canaries (UTC+0)")
    last_ask = [m for m in patient.inbox if "type the city you are in" in m.text][-1]
    assert last_ask.reply_markup is None
    # a country with two ways to tell the time: buttons to pick from
    offer = await _time_zone_step(patient)
    mark = patient.mark()
    await patient.send("Spain")
    pick = await patient.wait_for(lambda m: "Which one is yours?" in m.text, after=mark)
    assert pick.buttons() == [["Madrid (UTC+1)", "Canaries (UTC+0)"]]
    assert await _stored_zone(sqlite_url) == "Europe/Lisbon"  # nothing changed yet
    mark = patient.mark()
    await patient.tap(pick, "Madrid (UTC+1)")
    await patient.wait_for(lambda m: "Madrid (Europe/Madrid)" in m.text, after=mark)
    assert await _stored_zone(sqlite_url) == "Europe/Madrid"
    # chosen: neither the first offer nor the "which one?" keeps its buttons
    assert patient.message(offer.message_id).reply_markup is None  # type: ignore[union-attr]
    assert patient.message(pick.message_id).reply_markup is None  # type: ignore[union-attr]
    assert fake.refused == []


async def test_unknown_city_and_forged_zone_change_nothing(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/language")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await _tap_and_see(patient, ask, "Español")
    ask = await _time_zone_step(patient)
    assert "escriba la ciudad donde está" in ask.text
    assert ask.buttons() == [["Madrid (UTC+1)", "Canarias (UTC+0)"]]
    before = await snapshot(sqlite_url)
    mark = patient.mark()
    await patient.send("Atlántida")
    reply = await patient.wait_for(after=mark)
    assert reply.text.startswith("No he encontrado ninguna zona horaria para «Atlántida»")
    assert "No se ha cambiado nada" in reply.text
    for forged in ("tz:Mars/Olympus", "tz:../../etc/passwd", "tz:Europe"):
        query = await patient.tap_data(ask.message_id, forged)
        answer = await answered_callback(fake, patient, query)
        assert "No conozco esa zona horaria" in answer.get("text", "")
    assert await snapshot(sqlite_url) == before
    # still asked: a city typed now is taken, in Spanish words
    mark = patient.mark()
    await patient.send("Ciudad de Mexico")
    shown = await patient.wait_for(lambda m: "Sus ajustes" in m.text, after=mark)
    assert "Ciudad de México (America/Mexico_City)" in shown.text
    assert await _stored_zone(sqlite_url) == "America/Mexico_City"
    assert fake.refused == []


SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def _view(message: SentMessage) -> str:
    buttons = message.buttons() if message.reply_markup else []
    return f"{message.text}\n{buttons}\n" if buttons else f"{message.text}\n"


async def test_a_checkin_answered_in_spanish(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    """The whole first check-in as a Spanish-speaking patient reads it; with WRITE_SAMPLES=1
    it is written to docs/samples/checkin-es.txt."""
    token = await _clinic_and_link(fake)
    patient = fake.user(PATIENT, "Zoe", language_code="en")
    consent = await _consent_message(patient, token)
    spanish = await _tap_and_see(patient, consent, "Español")
    shown = [
        "The welcome and consent, first shown in the phone's language (English), after the "
        f"patient tapped «Español»:\n\n{_view(spanish)}"
    ]
    mark = patient.mark()
    await patient.tap(spanish, "Acepto")
    agreed = await patient.wait_for(lambda m: "Gracias" in m.text, after=mark)
    shown.append(f"After «Acepto» (I agree):\n\n{_view(agreed)}")
    mark = patient.mark()
    message = await first_checkin(bot, wall, patient)
    steps = [_view(message)]  # the message is edited in place: its look after each tap
    for label in ("3", "☐ Nada nuevo", "✅ Listo", "No"):
        message = await _tap_and_see(patient, message, label)
        steps.append(_view(message))
    assert steps[0].startswith("Un control rápido unas horas después de su tratamiento.")
    assert "1/3 ¿Cuánta molestia tiene ahora donde se pusieron las agujas?" in steps[0]
    assert "2/3 Desde el tratamiento, ¿ha notado algo nuevo?" in steps[1]
    assert "☑ Nada nuevo" in steps[2]
    assert "3/3 ¿Tiene dolor en el pecho" in steps[3]
    assert message.reply_markup is None
    done = message.text
    assert "✓ ¿Cuánta molestia tiene ahora donde se pusieron las agujas?" in done
    assert "— 3/10" in done and "— Nada nuevo" in done and "— No" in done
    # the reassurance comes after the last answer, as a new message
    await patient.wait_for(lambda m: "molestia es normal" in m.text, after=mark)
    after = [m for m in patient.inbox if m.seq > mark and m.message_id != message.message_id]
    for words in (*steps, *(m.text for m in after)):
        assert "Soreness" not in words and "check-in" not in words
    shown.append(
        "The first check-in («control»), question by question — one message, edited in place "
        "after each tap (soreness 3, «Nada nuevo» then «Listo», chest «No»):\n\n"
        + "\n---\n\n".join(steps)
    )
    shown += [f"Then, as a new message:\n\n{_view(m)}" for m in after]
    if os.environ.get("WRITE_SAMPLES"):  # docs/samples from this run
        (SAMPLES / "checkin-es.txt").write_text("\n---\n\n".join(shown), encoding="utf-8")
    assert fake.refused == []
