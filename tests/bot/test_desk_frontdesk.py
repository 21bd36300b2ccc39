"""The front desk's screens in the desk (bot/desk/enroll.py, bot/desk/frontdesk.py).

Enrollment asks what the chat's /enroll records (buttock or leg symptoms, the screening
facts) and refuses a form without both answers; "Record a session" and "Discharge" go
through the care/ operations the chat's /session and /discharge call, for the same roles
(front-desk staff and admins): a therapist, a patient or a stranger gets 403 and nothing
changes; a bad answer is refused in words and nothing changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.desk.frontdesk import ALREADY_RECORDED
from bot.desk.models import (
    DischargeCheck,
    Discharged,
    EnrollForm,
    FollowedList,
    SessionForm,
    SessionRecorded,
)
from bot.texts import t
from care.enrollment import SCREENING_FACTS
from store.db import SessionFactory
from store.models import AuditEvent, NeedlingSession, Patient
from tests.support.alerts import ADA, CALLBACK, MONDAY_10, OLGA, SOON, THEO, raise_
from tests.support.dbutil import snapshot
from tests.support.desk import DESK_TG, PATIENT_TG, STRANGER_TG, as_user, desk_client

FORM: dict[str, Any] = {
    "enroll_key": "form-key-0123456789abcdef",
    "name": "Ana Ruiz",
    "therapist_id": 1,
    "minutes_ago": 30,
    "regions": ["piriformis"],
    "baseline_pain": 6,
    "leg_symptoms": True,
    "screening": ["first_needling", "anticoagulants"],
}
NOT_AVAILABLE = {"error": "Sorry, that is not available to you."}


@pytest.fixture
async def desk(sessions: SessionFactory) -> AsyncIterator[TestClient[Any, Any]]:
    async with desk_client(sessions) as client:
        yield client


async def zoe(sessions: SessionFactory) -> Patient:
    async with sessions() as db:
        return (await db.exec(select(Patient).where(Patient.display_name == "Zoë"))).one()


# ------------------------------------------------------------------ 1. enrollment


async def test_the_enrollment_form_offers_the_chats_screening_questions(
    desk: TestClient[Any, Any],
) -> None:
    response = await desk.get("/desk/api/enroll/form", headers=as_user(DESK_TG))
    form = EnrollForm.model_validate(await response.json())
    assert [(s.key, s.label) for s in form.screening] == [
        (fact, t(f"screen_{fact}", "en")) for fact in SCREENING_FACTS
    ]
    assert [s.label for s in form.screening] == [
        "Takes anticoagulants",
        "Pregnant",
        "Diabetes or immunosuppression",
        "First-ever dry needling",
    ]
    assert (form.legs_question, form.legs_yes, form.legs_no, form.screening_none) == (
        "Buttock or leg symptoms",
        "Yes",
        "No",
        "None of these",
    )


@pytest.mark.parametrize(
    ("answers", "legs", "screening"),
    [
        (
            {"leg_symptoms": True, "screening": ["first_needling", "anticoagulants"]},
            True,
            ["anticoagulants", "first_needling"],
        ),
        ({"leg_symptoms": False, "screening": [], "screening_none": True}, False, []),
    ],
)
async def test_the_form_records_legs_and_screening_as_the_chat_does(
    desk: TestClient[Any, Any],
    sessions: SessionFactory,
    answers: dict[str, Any],
    legs: bool,
    screening: list[str],
) -> None:
    response = await desk.post(
        "/desk/api/enroll", headers=as_user(DESK_TG), json={**FORM, **answers}
    )
    assert response.status == 200, await response.text()
    async with sessions() as db:
        ana = (await db.exec(select(Patient).where(Patient.display_name == "Ana Ruiz"))).one()
    assert (ana.leg_symptoms, ana.screening) == (legs, screening)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"leg_symptoms": None}, "Say whether the patient has buttock or leg symptoms: Yes or No."),
        ({"screening": []}, "Tick what applies, or tap “None of these”."),
        (
            {"screening": ["pregnancy"], "screening_none": True},
            "Tick what applies, or “None of these”, not both.",
        ),
        ({"screening": ["smoker"]}, "Tick what applies, or tap “None of these”."),
    ],
)
async def test_an_unanswered_screening_is_refused_in_words_and_writes_nothing(
    desk: TestClient[Any, Any], db_url: str, change: dict[str, Any], error: str
) -> None:
    before = await snapshot(db_url)
    form = {k: v for k, v in {**FORM, **change}.items() if v is not None}
    response = await desk.post("/desk/api/enroll", headers=as_user(DESK_TG), json=form)
    assert (response.status, await response.json()) == (400, {"error": error})
    assert await snapshot(db_url) == before


# ------------------------------------------------------------------ roles

FRONTDESK_CALLS = (
    ("GET", "/desk/api/frontdesk/patients"),
    ("GET", "/desk/api/frontdesk/patients/1/session"),
    ("POST", "/desk/api/frontdesk/patients/1/session"),
    ("GET", "/desk/api/frontdesk/patients/1/discharge"),
    ("POST", "/desk/api/frontdesk/patients/1/discharge"),
)
SESSION = {"last_number": 0, "minutes_ago": 30, "regions": ["piriformis"]}


@pytest.mark.parametrize("who", [THEO, OLGA, PATIENT_TG, STRANGER_TG])
async def test_therapists_patients_and_strangers_get_403_and_nothing_changes(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str, who: int
) -> None:
    """/session and /discharge are the front desk's and the admins' in the chat too."""
    await raise_(sessions, SOON, now=MONDAY_10)
    before = await snapshot(db_url)
    for method, path in FRONTDESK_CALLS:
        response = await desk.request(method, path, headers=as_user(who), json=SESSION)
        assert (response.status, await response.json()) == (403, NOT_AVAILABLE), path
    assert await snapshot(db_url) == before


# ------------------------------------------------------------------ 2. record a session


async def test_the_front_desk_finds_a_patient_and_records_sessions(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str
) -> None:
    front = as_user(DESK_TG)
    found = FollowedList.model_validate(
        await (await desk.get("/desk/api/frontdesk/patients?q=ZOE", headers=front)).json()
    )
    assert [(p.name, p.therapist, p.sessions) for p in found.patients] == [("Zoë", "Theo", 0)]
    none = await desk.get("/desk/api/frontdesk/patients?q=ana", headers=front)
    assert FollowedList.model_validate(await none.json()).patients == []
    pid = found.patients[0].id
    path = f"/desk/api/frontdesk/patients/{pid}/session"
    form = SessionForm.model_validate(await (await desk.get(path, headers=front)).json())
    assert (form.last_number, form.last_regions) == (0, [])
    chosen = ["piriformis", "hamstrings"]
    first = await desk.post(
        path, headers=front, json={"last_number": 0, "minutes_ago": 60, "regions": chosen}
    )
    done = SessionRecorded.model_validate(await first.json())
    assert done.number == 1
    assert done.message.startswith("Session 1 recorded for Zoë. Its check-ins are planned")
    # the form now starts from the last session's regions, as /session ticks them
    form = SessionForm.model_validate(await (await desk.get(path, headers=front)).json())
    assert (form.last_number, form.last_regions) == (1, chosen)
    # a second copy of the same submit records nothing more
    before = await snapshot(db_url)
    again = await desk.post(
        path, headers=front, json={"last_number": 0, "minutes_ago": 0, "regions": chosen}
    )
    assert (again.status, await again.json()) == (409, {"error": ALREADY_RECORDED})
    assert await snapshot(db_url) == before
    # an admin may record one too (as in the chat)
    second = await desk.post(
        path, headers=as_user(ADA), json={"last_number": 1, "minutes_ago": 0, "regions": chosen}
    )
    assert SessionRecorded.model_validate(await second.json()).number == 2
    async with sessions() as db:
        rows = (
            await db.exec(select(NeedlingSession).where(NeedlingSession.patient_id == pid))
        ).all()
        events = (
            await db.exec(select(AuditEvent.action).where(AuditEvent.action == "session_recorded"))
        ).all()
    assert sorted((s.number, s.regions) for s in rows) == [(1, chosen), (2, chosen)]
    assert len(events) == 2


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({**SESSION, "regions": []}, 400, "Please select at least one region."),
        ({**SESSION, "regions": ["elbow"]}, 400, "Please select at least one region."),
        ({**SESSION, "minutes_ago": 45}, 400, "Choose when the session ended."),
        (
            {"regions": ["piriformis"]},
            400,
            "The form could not be read: reload the desk and try again.",
        ),
    ],
)
async def test_a_bad_session_is_refused_in_words_and_nothing_is_written(
    desk: TestClient[Any, Any],
    sessions: SessionFactory,
    db_url: str,
    body: dict[str, Any],
    status: int,
    error: str,
) -> None:
    patient = await zoe(sessions)
    before = await snapshot(db_url)
    response = await desk.post(
        f"/desk/api/frontdesk/patients/{patient.id}/session", headers=as_user(DESK_TG), json=body
    )
    assert (response.status, await response.json()) == (status, {"error": error})
    assert await snapshot(db_url) == before


# ------------------------------------------------------------------ 3. discharge


async def test_discharge_shows_what_is_open_and_happens_once(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str
) -> None:
    front = as_user(DESK_TG)
    patient = await zoe(sessions)
    await raise_(sessions, CALLBACK, now=MONDAY_10)
    recorded = await desk.post(
        f"/desk/api/frontdesk/patients/{patient.id}/session", headers=front, json=SESSION
    )
    assert recorded.status == 200
    path = f"/desk/api/frontdesk/patients/{patient.id}/discharge"
    check = DischargeCheck.model_validate(await (await desk.get(path, headers=front)).json())
    [alert] = check.alerts
    assert (alert.tier, alert.waiting_for) == ("urgent_callback", "acknowledge")
    assert "URGENT" in alert.tier_label
    assert check.planned_checkins > 0 and check.open_checkins == 0
    assert check.lines[0] == f"Discharge Zoë (#{patient.id})?"
    assert check.lines[1] == "Still open:"
    [alert_line] = [line for line in check.lines if "alert raised" in line]
    assert alert_line.startswith("• ") and alert_line.endswith(", not acknowledged yet")
    assert "URGENT" in alert_line
    assert any(
        line.startswith(f"• {check.planned_checkins} check-in") and line.endswith("planned")
        for line in check.lines
    )
    assert check.lines[-1].startswith("If you discharge: the pending check-ins are cancelled")
    assert (check.confirm, check.keep) == ("Yes, discharge", "No, keep in follow-up")
    first = await desk.post(path, headers=front)
    done = Discharged.model_validate(await first.json())
    assert done.message == "Zoë is discharged; they got a closing message with their exercises."
    before = await snapshot(db_url)
    for again in (
        await desk.post(path, headers=front),
        await desk.post(path, headers=as_user(ADA)),
    ):
        assert (again.status, await again.json()) == (
            409,
            {"error": "This patient is already discharged; nothing changed."},
        )
    late = await desk.get(path, headers=front)  # the confirmation of a discharged patient
    assert (late.status, await late.json()) == (
        409,
        {"error": "This patient is already discharged; nothing changed."},
    )
    assert await snapshot(db_url) == before
    async with sessions() as db:
        events = (
            await db.exec(select(AuditEvent).where(col(AuditEvent.action) == "patient_discharged"))
        ).all()
        status = (await db.get(Patient, patient.id)).status  # type: ignore[union-attr]
    assert (len(events), status) == (1, "discharged")


async def test_a_discharged_patient_is_no_longer_offered(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    patient = await zoe(sessions)
    front = as_user(DESK_TG)
    await desk.post(f"/desk/api/frontdesk/patients/{patient.id}/discharge", headers=front)
    listed = await desk.get("/desk/api/frontdesk/patients", headers=front)
    assert FollowedList.model_validate(await listed.json()).patients == []
    form = await desk.get(f"/desk/api/frontdesk/patients/{patient.id}/session", headers=front)
    assert (form.status, await form.json()) == (
        409,
        {"error": "This patient is no longer in follow-up."},
    )


async def test_a_session_before_the_last_one_is_refused_and_nothing_is_written(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str
) -> None:
    patient = await zoe(sessions)
    path = f"/desk/api/frontdesk/patients/{patient.id}/session"
    first = await desk.post(path, headers=as_user(DESK_TG), json={**SESSION, "minutes_ago": 30})
    assert first.status == 200
    before = await snapshot(db_url)
    earlier = await desk.post(
        path,
        headers=as_user(DESK_TG),
        json={"last_number": 1, "minutes_ago": 120, "regions": ["piriformis"]},
    )
    assert (earlier.status, await earlier.json()) == (
        400,
        {"error": "That is not after the patient's previous session."},
    )
    assert await snapshot(db_url) == before
