"""What the front desk records and does (issue 14, items 7–11), end to end: the real
dispatcher against the strict fake Bot API, reading what the receptionist, the therapist
and the patient read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC

import pytest
from sqlmodel import col

from care.context import build_context, latest_session
from flows.engine import questions_for
from flows.loader import load_protocol
from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import (
    Alert,
    AlertState,
    AuditEvent,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
)
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows, snapshot
from tests.support.harness import START, ManualWall, Running, running_bot
from tests.support.hostile import Clinic, clinic_at_rest
from tests.support.journey import (
    PATIENT_NAME,
    enroll,
    enroll_to_baseline,
    invite,
    join_and_consent,
)
from tests.support.population import THERAPIST_TG, populate
from tests.support.samples import write_sample

STRANGER = 5000


async def data_of(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row a tap could change: the snapshot without app_state, where the background
    jobs keep their own bookkeeping (the clock's anchor, a digest already sent today)."""
    tables = await snapshot(db_url)
    tables.pop("app_state", None)
    return tables


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Running]:
    async with running_bot(fake, sqlite_url) as running:
        yield running


async def test_unknown_person_sending_a_staff_command_is_told_to_ask_an_admin(
    bot: Running, sqlite_url: str
) -> None:
    """Item 11: /enroll, /invite, /session … from someone not registered: where an
    invitation comes from, in their language; not the patients' "ask the front desk"."""
    fake = bot.fake
    before = await data_of(sqlite_url)
    eve = fake.user(STRANGER, "Eve")
    for command in ("/enroll", "/invite", "/session", "/discharge", "/patients", "/alerts"):
        mark = eve.mark()
        await eve.send(command)
        reply = await eve.wait_for(after=mark)
        assert "ask a clinic admin for an invitation link" in reply.text, command
        assert "front desk" not in reply.text
    eva = fake.user(STRANGER + 1, "Eva", language_code="es")
    mark = eva.mark()
    await eva.send("/enroll@careloop_bot")
    reply = await eva.wait_for(after=mark)
    assert "Pida a un administrador de la clínica un enlace de invitación" in reply.text
    # a patient's kind of message still gets the introduction with the front desk
    mark = eve.mark()
    await eve.send("hello")
    assert "ask the front desk for your personal link" in (await eve.wait_for(after=mark)).text
    assert await data_of(sqlite_url) == before
    assert fake.refused == []


# ---------------------------------------------------------------- item 8: discharge


@pytest.fixture
async def clinic(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Clinic]:
    async with clinic_at_rest(fake, sqlite_url) as clinic:
        yield clinic


async def callback_reply(fake: FakeBotAPI, user: SimUser, query_id: str) -> str:
    await fake.wait_until(
        lambda: any(a.get("callback_query_id") == query_id for a in user.callback_answers)
    )
    answer = next(a for a in user.callback_answers if a.get("callback_query_id") == query_id)
    return str(answer.get("text") or "")


async def urgent_callback_open(clinic: Clinic) -> None:
    """Zoë rates her soreness 9/10: an URGENT call-back alert is open for her therapist."""
    checkin = next(
        m for m in clinic.patient.inbox if m.reply_markup is not None and "10" in str(m.buttons())
    )
    mark = clinic.patient.mark()
    await clinic.patient.tap(checkin, "9")
    await clinic.patient.wait_for(after=mark)
    mark = clinic.therapist.mark()
    await clinic.bot.background.run_once()
    await clinic.therapist.wait_for(lambda m: "URGENT" in m.text, after=mark)


async def test_discharge_asks_first_says_what_is_open_and_discharges_once(
    clinic: Clinic, sqlite_url: str
) -> None:
    """Item 8: a tap on a name asks to confirm, listing the open URGENT call-back and the
    pending check-ins; "No" keeps the patient; a double "Yes" discharges once; an old
    confirmation tapped afterwards says so and changes nothing."""
    fake, desk = clinic.fake, clinic.staff
    await urgent_callback_open(clinic)
    mark = desk.mark()
    await desk.send("/discharge")
    picker = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "Discharge which patient?" in picker.text
    assert "2 patients, page 1 of 1" in picker.text
    before = await data_of(sqlite_url)
    mark = desk.mark()
    await desk.tap(picker, f"{PATIENT_NAME} (#{clinic.patient_id})")
    confirm = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert f"Discharge {PATIENT_NAME} (#{clinic.patient_id})?" in confirm.text
    assert "Still open:" in confirm.text
    assert "URGENT callback alert raised" in confirm.text
    assert "not acknowledged yet" in confirm.text
    assert "• 1 check-in sent and not answered yet\n• 5 check-ins planned" in confirm.text
    assert "Open alerts stay with the therapist until answered." in confirm.text
    write_sample("discharge-confirm.txt", confirm)
    assert await data_of(sqlite_url) == before  # asking changes nothing
    # "No, keep"
    mark = desk.mark()
    await desk.tap(confirm, "No, keep in follow-up")
    kept = await desk.wait_for(lambda m: "Nothing changed" in m.text, after=mark)
    assert "stays in follow-up" in kept.text
    assert await data_of(sqlite_url) == before
    # ask again; "Yes" twice before the first answer arrives: one discharge
    mark = desk.mark()
    await desk.tap(picker, f"{PATIENT_NAME} (#{clinic.patient_id})")
    confirm = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = desk.mark()
    first = await desk.tap(confirm, "Yes, discharge")
    second = await desk.tap(confirm, "Yes, discharge")
    await desk.wait_for(lambda m: "is discharged" in m.text, after=mark)
    replies = {await callback_reply(fake, desk, first), await callback_reply(fake, desk, second)}
    assert replies == {"", "This patient is already discharged; nothing changed."}
    patient = (await rows(sqlite_url, Patient, col(Patient.id) == clinic.patient_id))[0]
    assert patient.status == PatientStatus.DISCHARGED
    closing = await rows(
        sqlite_url,
        OutboxMessage,
        col(OutboxMessage.patient_id) == clinic.patient_id,
        col(OutboxMessage.kind) == OutboxKind.DISCHARGE,
    )
    audits = await rows(sqlite_url, AuditEvent, col(AuditEvent.action) == "patient_discharged")
    assert len(closing) == 1 and len(audits) == 1
    # the alert is still open for the therapist
    alerts = await rows(sqlite_url, Alert, col(Alert.patient_id) == clinic.patient_id)
    assert [a.state for a in alerts] == [AlertState.OPEN]
    # an old confirmation (or a forged one) tapped later: told, nothing changes
    after = await data_of(sqlite_url)
    query = await desk.tap_data(confirm.message_id, f"dcc:y:{clinic.patient_id}")
    assert await callback_reply(fake, desk, query) == (
        "This patient is already discharged; nothing changed."
    )
    query = await desk.tap_data(picker.message_id, f"dc:{clinic.patient_id}")
    assert await callback_reply(fake, desk, query) == (
        "This patient is already discharged; nothing changed."
    )
    assert await data_of(sqlite_url) == after
    # nobody but the desk may discharge: a therapist's or a patient's forged tap
    for user in (clinic.therapist, clinic.other_patient):
        query = await user.tap_data(1, f"dcc:y:{clinic.other_patient_id}")
        assert await callback_reply(fake, user, query)
    assert await data_of(sqlite_url) == after
    # the therapist still finds her: /patients' Ended page, /patient's list and search
    theo = clinic.therapist
    mark = theo.mark()
    await theo.send("/patients")
    listing = await theo.wait_for(lambda m: "Your patients" in m.text, after=mark)
    assert "Your patients</b> (0)" in listing.html and PATIENT_NAME not in listing.text
    mark = theo.mark()
    await theo.tap(listing, "Ended courses 🏁")
    ended = await theo.wait_for(lambda m: "Ended courses" in m.text, after=mark)
    assert "Ended courses (1): discharged, stopped or declined 🏁" in ended.text
    assert PATIENT_NAME in ended.text
    label = f"{PATIENT_NAME} (#{clinic.patient_id}) 🏁"
    assert [b for row in ended.buttons() for b in row] == [label, "« In follow-up"]
    mark = theo.mark()
    await theo.send("/patient")
    picker = await theo.wait_for(lambda m: "Which patient?" in m.text, after=mark)
    assert label in str(picker.buttons())
    mark = theo.mark()
    await theo.send("/patient zoe o'brien")
    found = await theo.wait_for(after=mark)
    assert found.text == "1 patient matches “zoe o'brien”:"
    mark = theo.mark()
    await theo.tap(found, label)
    card = await theo.wait_for(lambda m: m.photo is not None, after=mark)
    assert PATIENT_NAME in (card.caption or "")
    assert fake.refused == []


# ---------------------------------------------------------------- item 10: long lists


async def rename(db_url: str, patient_id: int, name: str) -> None:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        patient = await db.get(Patient, patient_id)
        assert patient is not None
        patient.display_name = name
        await db.commit()
    await engine.dispose()


def names_on(message: SentMessage) -> list[str]:
    return [b for row in message.buttons() for b in row if "(#" in b]


async def test_sixty_patients_are_all_reachable_by_page_and_by_typed_name(
    fake: FakeBotAPI, sqlite_url: str
) -> None:
    """Item 10: /session and /discharge page through all 60 patients in follow-up (they
    showed 50); typing part of a name finds it, case and accents ignored; no match says
    so; searching and paging change nothing."""
    await populate(fake, sqlite_url, count=60, now=START, session_hours_ago=0.5)
    await rename(sqlite_url, 7, "José Muñoz")
    desk = fake.user(THERAPIST_TG + 1, "Sam")
    # time stands still: no check-in falls due while the desk searches
    async with running_bot(fake, sqlite_url, clock=Clock(wall=ManualWall(START))) as bot:
        # what is due now (each patient's aftercare after their session, the digest) goes
        # first, also what the scheduler's own pass has claimed: the rows compared below
        # are then the desk's alone
        while any(
            r.state in ("pending", "claimed") and r.due_at.replace(tzinfo=UTC) <= START
            for r in await rows(sqlite_url, OutboxMessage)
        ):
            await bot.background.run_once()
        before = await data_of(sqlite_url)
        for command, question in (("/discharge", "Discharge which"), ("/session", "New session")):
            mark = desk.mark()
            await desk.send(command)
            picker = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
            assert question in picker.text and "60 patients, page 1 of 8" in picker.text
            seen = names_on(picker)
            for page in range(2, 9):
                mark = desk.mark()
                await desk.tap(picker, "Next »")
                picker = await desk.wait_for(
                    lambda m, p=page: f"page {p} of 8" in m.text,  # type: ignore[misc]
                    after=mark,
                )
                seen += names_on(picker)
            assert len(seen) == len(set(seen)) == 60
            assert "Patient 0 (#1)" in seen and "José Muñoz (#7)" in seen
            assert [b for row in picker.buttons() for b in row][-1] == "« Previous"
            for typed, expected in (
                ("josé", "1 patient matches “josé”:"),
                ("JOSE munoz", "1 patient matches “JOSE munoz”:"),
                ("MUÑOZ", "1 patient matches “MUÑOZ”:"),
            ):
                mark = desk.mark()
                await desk.send(typed)
                found = await desk.wait_for(after=mark)
                assert found.text == expected and names_on(found) == ["José Muñoz (#7)"]
            mark = desk.mark()
            await desk.send("PATIENT 1")  # every word: Patient 1, 10 … 19, 21, 31, 41, 51
            many = await desk.wait_for(after=mark)
            assert many.text.startswith("15 patients match “PATIENT 1”; here are the first 8.")
            assert len(names_on(many)) == 8
            mark = desk.mark()
            await desk.send("Zacarías")
            none = await desk.wait_for(after=mark)
            assert none.text == (
                "No patient's name contains “Zacarías”. Type another part of the name."
            )
            assert none.reply_markup is None
        # the session flow goes on from a found name
        mark = desk.mark()
        await desk.send("jose")
        found = await desk.wait_for(after=mark)
        mark = desk.mark()
        await desk.tap(found, "José Muñoz (#7)")
        await desk.wait_for(lambda m: "When did the session end" in m.text, after=mark)
        assert await data_of(sqlite_url) == before
    assert fake.refused == []


# ---------------------------------------------------------------- item 9: returning patients

THERAPIST, STAFF, PATIENT = 2000, 3000, 4000


async def end_course(fake: FakeBotAPI, patient: SimUser, how: str) -> None:
    """Bring Zoë's first course to `how`: discharged, stopped, paused (or leave it active)."""
    desk = fake.user(STAFF)
    if how == "discharged":
        mark = desk.mark()
        await desk.send("/discharge")
        picker = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = desk.mark()
        await desk.tap(picker, picker.buttons()[0][0])
        confirm = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = desk.mark()
        await desk.tap(confirm, "Yes, discharge")
        await desk.wait_for(lambda m: "is discharged" in m.text, after=mark)
    elif how in ("stopped", "paused"):
        mark = patient.mark()
        await patient.send("/stop" if how == "stopped" else "/pause")
        ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = patient.mark()
        await patient.tap(ask, ask.buttons()[0][0])
        await patient.wait_for(after=mark)


@pytest.mark.parametrize("before", ["discharged", "stopped", "declined", "active", "paused"])
async def test_a_returning_patient_joins_a_new_course_unless_one_is_live(
    bot: Running, sqlite_url: str, before: str
) -> None:
    """Item 9: after a discharge, a /stop or a declined invitation, the person's new link
    starts a new course (the old one keeps its data, still on the therapist's Ended page);
    only an active or paused follow-up refuses it ("already follows another care plan"),
    changing nothing."""
    fake = bot.fake
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    desk, patient = fake.user(STAFF), fake.user(PATIENT, "Zoe")
    token, _, _ = await enroll(fake, desk)
    await join_and_consent(patient, token, agree=before != "declined")
    await end_course(fake, patient, before)
    first = (await rows(sqlite_url, Patient, col(Patient.tg_user_id) == PATIENT))[0]
    new_token, _, _ = await enroll(fake, desk, name="Zoë again", baseline="4")
    if before in ("active", "paused"):
        snap = await data_of(sqlite_url)
        mark = patient.mark()
        await patient.start(new_token)
        refused = await patient.wait_for(after=mark)
        assert "already follows another care plan" in refused.text
        assert await data_of(sqlite_url) == snap
        return
    mark = patient.mark()
    await patient.start(new_token)
    consent = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert "already follows" not in " ".join(m.text for m in patient.inbox if m.seq > mark)
    mark = patient.mark()
    await patient.tap(consent, "I agree")
    await patient.wait_for(lambda m: "Thank you" in m.text, after=mark)
    old = (await rows(sqlite_url, Patient, col(Patient.id) == first.id))[0]
    new = (await rows(sqlite_url, Patient, col(Patient.tg_user_id) == PATIENT))[0]
    assert new.id != old.id and new.status == PatientStatus.ACTIVE and new.baseline_pain == 4
    assert old.status == before and old.display_name == PATIENT_NAME  # kept, not erased
    assert len(await rows(sqlite_url, NeedlingSession, col(NeedlingSession.patient_id) == old.id))
    # the therapist sees both: the new course in follow-up, the old one on the Ended page
    theo = fake.user(THERAPIST)
    mark = theo.mark()
    await theo.send("/patients")
    listing = await theo.wait_for(lambda m: "Your patients" in m.text, after=mark)
    assert "Zoë again" in listing.text and PATIENT_NAME not in listing.text
    mark = theo.mark()
    await theo.tap(listing, "Ended courses 🏁")
    ended = await theo.wait_for(lambda m: "Ended courses" in m.text, after=mark)
    assert f"{PATIENT_NAME} (#{old.id}) 🏁" in str(ended.buttons())
    # the patient's /mydata holds both courses, and /delete erases both
    mark = patient.mark()
    await patient.send("/mydata")
    copy = await patient.wait_for(lambda m: m.document is not None, after=mark)
    assert copy.document is not None
    document = json.loads(copy.document)
    assert document["patient"]["name"] == "Zoë again"
    assert [c["patient"]["name"] for c in document["earlier_courses"]] == [PATIENT_NAME]
    mark = patient.mark()
    await patient.send("/delete")
    ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(ask, "Yes, erase my data")
    await patient.wait_for(lambda m: "erased" in m.text, after=mark)
    for pid in (old.id, new.id):
        gone = (await rows(sqlite_url, Patient, col(Patient.id) == pid))[0]
        assert gone.status == PatientStatus.DELETED and gone.display_name is None
    assert fake.refused == []


# ---------------------------------------------------------------- item 7: what enrollment records

TRUNK_ONLY = ("Upper back / chest wall",)
SCREENED = ("Takes anticoagulants", "First-ever dry needling")
SCREENING_LINE = (
    "Screening: ⚠️ Takes anticoagulants, First-ever dry needling · buttock or leg symptoms"
)


async def h24_questions(db_url: str, patient_id: int) -> list[str]:
    """The questions the patient's 24 h check-in asks, as the engine decides them."""
    protocol = load_protocol()
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        patient = await db.get(Patient, patient_id)
        assert patient is not None
        session = await latest_session(db, patient_id)
    await engine.dispose()
    assert session is not None
    ctx = build_context(protocol, patient, session, {})
    return [ref.key for ref in questions_for(protocol.checkins["h24"], ctx)]


async def test_enrollment_records_leg_symptoms_and_screening_for_the_therapist(
    bot: Running, sqlite_url: str
) -> None:
    """Item 7: /enroll asks about buttock or leg symptoms (which turns Q6 on) and the
    screening facts in one multi-select step; the desk's confirmation, the therapist's
    card and the patient's first alert show them; /session starts from the last regions."""
    fake = bot.fake
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    desk, patient = fake.user(STAFF), fake.user(PATIENT, "Zoe")
    token, done, _ = await enroll(fake, desk, regions=TRUNK_ONLY, legs="Yes", screening=SCREENED)
    assert SCREENING_LINE in done.text
    # a second patient: Done with nothing ticked asks for "None of these"; never a bar
    baseline_q = await enroll_to_baseline(desk, name="Omar Dos", regions=TRUNK_ONLY)
    screening_q = next(m for m in desk.inbox if "Screening for the therapist" in m.text)
    assert screening_q.text.endswith("\n✓ Takes anticoagulants, First-ever dry needling")
    screening_q = [m for m in desk.inbox if "tick what applies to Omar Dos" in m.text][-1]
    assert screening_q.text.endswith("\n✓ none of these")  # the step reads as a record
    mark = desk.mark()
    await desk.tap(baseline_q, "5")
    second = await desk.wait_for(lambda m: "is enrolled" in m.text, after=mark)
    assert "Screening: none of these · no buttock or leg symptoms" in second.text
    zoe, omar = sorted(await rows(sqlite_url, Patient), key=lambda p: p.id or 0)
    assert zoe.leg_symptoms is True and zoe.screening == ["anticoagulants", "first_needling"]
    assert omar.leg_symptoms is False and omar.screening == []
    # Q6 (cauda equina) is asked at 24 h because of the leg symptoms, not for trunk alone
    assert "Q6" in await h24_questions(sqlite_url, zoe.id or 0)
    assert "Q6" not in await h24_questions(sqlite_url, omar.id or 0)
    # the therapist's card
    await join_and_consent(patient, token)
    theo = fake.user(THERAPIST)
    mark = theo.mark()
    await theo.send(f"/patient {PATIENT_NAME[:3]}")
    found = await theo.wait_for(after=mark)
    mark = theo.mark()
    await theo.tap(found, found.buttons()[0][0])
    card = await theo.wait_for(lambda m: m.photo is not None, after=mark)
    assert SCREENING_LINE in (card.caption or "")
    write_sample("patient-card.txt", card)
    # the patient's first alert
    mark = patient.mark()
    await patient.send("my leg feels odd")
    offer = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await patient.tap(offer, offer.buttons()[0][0])
    mark = theo.mark()
    await bot.background.run_once()
    alert = await theo.wait_for(lambda m: "Acknowledge" in str(m.buttons()), after=mark)
    assert SCREENING_LINE in alert.text
    # /session starts from the last session's regions, ticked
    mark = desk.mark()
    await desk.send("/session")
    picker = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = desk.mark()
    await desk.tap(picker, f"{PATIENT_NAME} (#{zoe.id})")
    time_q = await desk.wait_for(lambda m: "session end" in m.text, after=mark)
    mark = desk.mark()
    await desk.tap(time_q, "Just now")
    regions_q = await desk.wait_for(lambda m: "regions" in m.text, after=mark)
    ticked = [b for row in regions_q.buttons() for b in row if b.startswith("✅")]
    assert ticked == ["✅ Upper back / chest wall"]
    assert fake.refused == []


async def test_screening_done_with_nothing_ticked_asks_for_none_and_changes_nothing(
    bot: Running, sqlite_url: str
) -> None:
    fake = bot.fake
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    desk = fake.user(STAFF)
    mark = desk.mark()
    await desk.send("/enroll")
    await desk.wait_for(after=mark)
    mark = desk.mark()
    await desk.send("Ana")
    therapist_q = await desk.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = desk.mark()
    await desk.tap(therapist_q, "Theo Rapist")
    time_q = await desk.wait_for(lambda m: "session end" in m.text, after=mark)
    mark = desk.mark()
    await desk.tap(time_q, "Just now")
    regions_q = await desk.wait_for(lambda m: "regions" in m.text, after=mark)
    mark = desk.mark()
    await desk.tap(regions_q, "Piriformis")
    regions_q = await desk.wait_for(lambda m: "✅ Piriformis" in str(m.buttons()), after=mark)
    mark = desk.mark()
    await desk.tap(regions_q, "Done")
    legs_q = await desk.wait_for(lambda m: "buttock or leg" in m.text, after=mark)
    mark = desk.mark()
    await desk.tap(legs_q, "No")
    screening_q = await desk.wait_for(lambda m: "Screening" in m.text, after=mark)
    assert [b for row in screening_q.buttons() for b in row] == [
        "☐ Takes anticoagulants",
        "☐ Pregnant",
        "☐ Diabetes or immunosuppression",
        "☐ First-ever dry needling",
        "None of these",
        "Done",
    ]
    before = await data_of(sqlite_url)
    query = await desk.tap(screening_q, "Done")
    assert await callback_reply(fake, desk, query) == "Tick what applies, or tap “None of these”."
    # ticking and unticking: the keyboard follows, nothing is stored before the last step
    mark = desk.mark()
    await desk.tap(screening_q, "☐ Pregnant")
    screening_q = await desk.wait_for(lambda m: "☑ Pregnant" in str(m.buttons()), after=mark)
    mark = desk.mark()
    await desk.tap(screening_q, "☑ Pregnant")
    await desk.wait_for(lambda m: "☐ Pregnant" in str(m.buttons()), after=mark)
    assert await data_of(sqlite_url) == before
    assert fake.refused == []
