"""Triage end to end: alerts raised from taps, deduplicated, acknowledged; the therapist's
chart and export; silence; stall in the digest; forged callbacks refused."""

from __future__ import annotations

import csv
import io
import json
import struct
from datetime import timedelta

from sqlmodel import select

from care.sessions import record_session
from flows.loader import load_protocol
from store.db import create_engine, session_factory
from store.models import Alert, Answer, StaffMember
from tests.fakebot import FakeBotAPI, SentMessage
from tests.support.dbutil import rows, snapshot
from tests.support.e2e import (
    STAFF,
    THERAPIST,
    advance_to_checkin,
    answer_all,
    chooser,
    enrolled_patient,
)
from tests.support.harness import ManualWall, Running


async def test_pain_rising_raises_one_soon_alert_then_updates_it(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake, baseline="5")
    therapist = fake.user(THERAPIST)
    h3 = await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    await answer_all(patient, h3)
    h24 = await advance_to_checkin(
        bot, wall, patient, "Your check-in one day", step=timedelta(hours=1)
    )
    await answer_all(patient, h24)
    h48 = await advance_to_checkin(
        bot, wall, patient, "Your check-in two days", step=timedelta(hours=1)
    )
    mark = therapist.mark()
    done = await answer_all(patient, h48, chooser({"usual pain": "8"}))  # baseline 5 + 3
    assert "Thank you" in done.text
    advice = [
        m
        for m in patient.inbox
        if m.text.startswith("⚠️") and "contact the clinic today" in m.text.lower()
    ]  # the SOON reply (the welcome lists the same-day signs too)
    assert len(advice) == 1 and "+34 900 123 456" in advice[0].text
    await bot.background.run_once()
    alert = await therapist.wait_for(lambda m: "SOON" in m.text, after=mark)
    assert "Zoë &lt;O'Brien&gt; &amp; 🦵" in alert.html
    assert "3 above their usual 5" in alert.text
    assert alert.buttons()[0][:2] == ["Acknowledge", "History"]
    # the 72 h check-in comes (pain ≥ baseline + 2): a second high rating (9/10: a callback
    # too) updates the same card — every finding of the answer on it — AND notifies
    h72 = await advance_to_checkin(
        bot, wall, patient, "One more check, three days", step=timedelta(hours=1)
    )
    mark = therapist.mark()
    await answer_all(patient, h72, chooser({"usual pain": "9"}))
    await bot.background.run_once()
    await bot.background.run_once()
    alerts = await rows(sqlite_url, Alert)
    assert len(alerts) == 1 and alerts[0].occurrences == 2
    assert alerts[0].tier == "urgent_callback" and "q2_above_baseline" in alerts[0].reason_keys
    new = [m for m in therapist.inbox if m.seq > mark and m.edits == 0]
    assert len(new) == 1 and new[0].reply_to_message_id is not None  # a notice, no new card
    assert "New for" in new[0].text and "9/10" in new[0].text and not new[0].reply_markup
    # the card it replies to (the newest copy: it was re-sent when the clinic opened) and
    # the first one are both edited
    for shown in (alert.message_id, new[0].reply_to_message_id):
        card = therapist.message(shown)
        assert card is not None and "seen ×2" in card.text and "URGENT — call back" in card.text
        assert "Call back done" in card.buttons()[0]
    assert fake.refused == []


async def test_red_flag_stops_the_checkin_and_alerts_at_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake, regions=("Hamstrings",))
    therapist = fake.user(THERAPIST)
    h3 = await advance_to_checkin(bot, wall, patient, "A quick check", step=timedelta(hours=1))
    await answer_all(patient, h3)
    h24 = await advance_to_checkin(
        bot, wall, patient, "Your check-in one day", step=timedelta(hours=1)
    )
    mark = therapist.mark()
    patient_mark = patient.mark()
    await answer_all(patient, h24, chooser({"genitals": "Yes", "since treatment": "Nothing new"}))
    emergency = await patient.wait_for(lambda m: "112" in m.text, after=patient_mark)
    assert "emergency" in emergency.text.lower()
    await bot.background.run_once()
    alert = await therapist.wait_for(lambda m: "URGENT" in m.text, after=mark)
    assert "Acknowledge" in alert.buttons()[0]
    mark = therapist.mark()
    await therapist.tap(alert, "Acknowledge")
    await bot.background.run_once()
    edited = await therapist.wait_for(
        lambda m: m.message_id == alert.message_id and "Acknowledged by" in m.text, after=mark
    )
    assert edited.buttons() == [["History"]]
    stored = (await rows(sqlite_url, Alert))[0]
    assert stored.state == "acknowledged" and stored.next_escalation_at is None
    assert fake.refused == []


async def test_two_ignored_checkins_make_one_soon_alert(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    mark = therapist.mark()
    for _ in range(60):  # two and a half days, answering nothing
        wall.advance(timedelta(hours=1))
        await bot.background.run_once()
    alerts = await rows(sqlite_url, Alert, Alert.reason_key == "missed_checkins")
    assert len(alerts) == 1
    silence = [m for m in therapist.inbox if m.seq > mark and "SOON" in m.text]
    cards = [m for m in silence if m.text.startswith("🟡 SOON")]
    assert len(cards) == 1  # one alert; left unacknowledged it is re-sent when the clinic opens
    resent = [m for m in silence if m.text.startswith("🔁 Re-sent")]
    assert len(resent) <= 1 and all(m.seq > cards[0].seq for m in resent)
    assert patient.inbox  # they were asked (and reminded)
    assert fake.refused == []


async def test_chart_export_and_forged_callbacks(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    for prefix in ("A quick check", "Your check-in one day", "Your check-in two days"):
        message = await advance_to_checkin(bot, wall, patient, prefix, step=timedelta(hours=1))
        await answer_all(patient, message, chooser({"usual pain": "4", "soreness": "3"}))
    mark = therapist.mark()
    await therapist.send("/patient")
    pick = await therapist.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = therapist.mark()
    await therapist.tap(pick, pick.buttons()[0][0])
    card = await therapist.wait_for(lambda m: m.photo is not None, after=mark)
    assert card.photo is not None and card.photo.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", card.photo[16:24])
    assert (width, height) == (1200, 700)
    assert "baseline 6/10" in card.text
    mark = therapist.mark()
    await therapist.send("/export")
    csv_doc = await therapist.wait_for(lambda m: m.document is not None, after=mark)
    fhir_doc = await therapist.wait_for(
        lambda m: m.document is not None and m.message_id != csv_doc.message_id, after=mark
    )
    answers = await rows(sqlite_url, Answer)
    assert csv_doc.document is not None and fhir_doc.document is not None
    table = list(csv.DictReader(io.StringIO(csv_doc.document.decode("utf-8-sig"))))
    assert len(table) == len(answers) > 0
    assert {r["patient_name"] for r in table} == {"Zoë <O'Brien> & 🦵"}
    bundle = json.loads(fhir_doc.document)
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert len(observations) == len(answers)
    pain = [o for o in observations if o["code"]["coding"][0]["code"] == "72514-3"]
    assert pain and all(o["valueInteger"] == 4 for o in pain)
    # forged callbacks: another therapist on this patient's alert, the staff on a check-in
    other = fake.user(2500, "Olga")
    await other.send("hi")
    await other.wait_for()
    before = await snapshot(sqlite_url)
    staff = fake.user(STAFF)
    checkin_data = (
        next(m.button_data(m.buttons()[0][0]) for m in patient.inbox if m.reply_markup)
        if any(m.reply_markup for m in patient.inbox)
        else "a:1:Q1:5"
    )
    for person, data in (
        (staff, checkin_data),
        (other, "al:ack:1"),
        (staff, "al:ack:1"),
        (staff, "pc:1"),
        (other, "pc:1"),
    ):
        query = await person.tap_data(1, data)
        await fake.wait_until(
            lambda q=query, p=person: any(
                a.get("callback_query_id") == q for a in p.callback_answers
            )
        )
    assert await snapshot(sqlite_url) == before
    assert fake.refused == []


async def test_a_course_without_improvement_shows_a_stall_in_the_digest(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Four weekly sessions, usual pain stuck at baseline: the next digest says so."""
    patient = await enrolled_patient(fake, baseline="6")
    therapist = fake.user(THERAPIST)
    choose = chooser({"usual pain": "6", "compared with": "No change"})
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    protocol = load_protocol()
    stall_digest: SentMessage | None = None
    for hour in range(1, 24 * 31):
        mark, therapist_mark = patient.mark(), therapist.mark()
        wall.advance(timedelta(hours=1))
        if hour % (24 * 7) == 30:  # sessions 2, 3 and 4, a week apart, mid-afternoon
            async with sessions() as db:
                staff = (
                    await db.exec(select(StaffMember).where(StaffMember.role == "staff"))
                ).one()
                await record_session(
                    db,
                    protocol,
                    staff=staff,
                    patient_id=1,
                    ended_at=bot.app.clock.now(),
                    regions=["piriformis"],
                    default_tz=bot.app.settings.clinic_timezone,
                    now=bot.app.clock.now(),
                )
        await bot.background.run_once()
        for message in [m for m in patient.inbox if m.seq > mark and m.reply_markup]:
            if "1/" in message.text:
                await answer_all(patient, message, choose)
        digests = [
            m for m in therapist.inbox if m.seq > therapist_mark and "Daily digest" in m.text
        ]
        stall_digest = next((d for d in digests if "review the plan" in d.text), None)
        if stall_digest is not None:
            break
    await engine.dispose()
    assert stall_digest is not None
    assert "Zoë &lt;O'Brien&gt; &amp; 🦵" in stall_digest.html
    assert "No sign of benefit after 4 sessions" in stall_digest.text
    local = wall.current.astimezone(bot.app.settings.clinic_timezone)
    assert local.hour == 8  # the digest goes out at 08:00 local
    assert fake.refused == []
