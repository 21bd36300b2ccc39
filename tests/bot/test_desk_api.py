"""The desk's API (bot/desk/): who is asking, and acting on alerts through care/.

initData signed by the local Bot API's signer (sandbox/botapi/webapp.py, as Telegram
signs it) is checked by aiogram's helper on the desk's side: correct, tampered, another
bot's token, too old, a patient, a stranger. A therapist acting on another therapist's
patient's alert is refused and nothing changes; one acting on their own edits the chat
cards through the outbox, as the chat's button does.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.desk.auth import BAD_SIGNATURE
from bot.desk.models import (
    AlertDone,
    AlertQueue,
    Enrolled,
    EnrollForm,
    Me,
    PatientDetail,
    PatientList,
)
from care.alerts import record_copy
from store.db import SessionFactory
from store.models import Alert, AlertState, AuditEvent, OutboxMessage, Patient, Role, StaffMember
from tests.support.alerts import ADA, CALLBACK, MONDAY_10, OLGA, SOON, THEO, raise_
from tests.support.desk import DESK_TG, PATIENT_TG, STRANGER_TG, desk_client, init_data

OTHER_TOKEN = "654321:OTHER-TOKEN-0123456789abcdefghij"


def header(data: str) -> dict[str, str]:
    """The Authorization header carrying `data` as it is (signed or tampered with)."""
    return {"Authorization": f"tma {data}"}


@pytest.fixture
async def desk(sessions: SessionFactory) -> AsyncIterator[TestClient[Any, Any]]:
    """The desk mounted at /desk/ as on the bot's server (tests/support/desk.py), with a
    bot that is never reached: no call below may send anything."""
    async with desk_client(sessions) as client:
        yield client


async def snapshot(sessions: SessionFactory) -> tuple[list[tuple[Any, ...]], int, int]:
    """Every alert's state, and how many outbox rows and audit events there are."""
    async with sessions() as db:
        alerts = (await db.exec(select(Alert).order_by(col(Alert.id)))).all()
        state = [
            (a.id, a.state, a.acknowledged_by, a.called_back_by, a.next_escalation_at)
            for a in alerts
        ]
        outbox = len((await db.exec(select(OutboxMessage.id))).all())
        audits = len((await db.exec(select(AuditEvent.id))).all())
        return state, outbox, audits


async def test_a_therapist_is_recognised_from_correct_init_data(
    desk: TestClient[Any, Any],
) -> None:
    response = await desk.get("/desk/api/me", headers=header(init_data(THEO)))
    assert response.status == 200
    me = Me.model_validate(await response.json())
    assert (me.name, me.role, me.timezone) == ("Theo", "therapist", "Europe/Madrid")


@pytest.mark.parametrize(
    "field, value", [("user", '{"id":2500,"first_name":"Someone"}'), ("auth_date", "1")]
)
async def test_a_tampered_field_is_refused(
    desk: TestClient[Any, Any], field: str, value: str
) -> None:
    fields = dict(parse_qsl(init_data(THEO)))
    fields[field] = value  # Theo's signature, another user (Olga) or another date
    response = await desk.get("/desk/api/me", headers=header(urlencode(fields)))
    assert response.status == 401
    assert await response.json() == {"error": BAD_SIGNATURE}


async def test_init_data_signed_with_another_bot_token_is_refused(
    desk: TestClient[Any, Any],
) -> None:
    response = await desk.get(
        "/desk/api/alerts", headers=header(init_data(THEO, token=OTHER_TOKEN))
    )
    assert response.status == 401


async def test_init_data_older_than_an_hour_is_refused(desk: TestClient[Any, Any]) -> None:
    fresh = MONDAY_10 + timedelta(minutes=5) - timedelta(minutes=59)
    stale = MONDAY_10 + timedelta(minutes=5) - timedelta(minutes=61)
    assert (await desk.get("/desk/api/me", headers=header(init_data(THEO, at=fresh)))).status == 200
    response = await desk.get("/desk/api/me", headers=header(init_data(THEO, at=stale)))
    assert response.status == 401
    assert await response.json() == {
        "error": "The desk was opened more than an hour ago: close it and open it again."
    }


async def test_no_init_data_is_refused(desk: TestClient[Any, Any]) -> None:
    assert (await desk.get("/desk/api/alerts")).status == 401
    assert (await desk.get("/desk/api/alerts", headers={"Authorization": "Bearer x"})).status == 401


FORM = {
    "enroll_key": "k" * 32,
    "name": "Ana <Ruiz>",
    "therapist_id": 1,
    "minutes_ago": 30,
    "regions": ["piriformis"],
    "baseline_pain": 6,
    "leg_symptoms": False,
    "screening_none": True,
}
THERAPIST_CALLS = (
    ("GET", "/desk/api/alerts"),
    ("GET", "/desk/api/patients"),
    ("POST", "/desk/api/alerts/1/ack"),
    ("GET", "/desk/api/patients/1"),
    ("POST", "/desk/api/patients/1/export"),
)
ENROLL_CALLS = (("GET", "/desk/api/enroll/form"), ("POST", "/desk/api/enroll"))


@pytest.mark.parametrize("who", [PATIENT_TG, STRANGER_TG])
async def test_patients_and_strangers_get_403_for_everything(
    desk: TestClient[Any, Any], sessions: SessionFactory, who: int
) -> None:
    await raise_(sessions, SOON, now=MONDAY_10)
    before = await snapshot(sessions)
    for method, path in (("GET", "/desk/api/me"), *THERAPIST_CALLS, *ENROLL_CALLS):
        response = await desk.request(method, path, headers=header(init_data(who)), json=FORM)
        assert response.status == 403, path
        assert await response.json() == {"error": "Sorry, that is not available to you."}
    assert await snapshot(sessions) == before


async def test_the_front_desk_enrolls_and_a_therapist_does_not(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    await raise_(sessions, SOON, now=MONDAY_10)
    before = await snapshot(sessions)
    front_desk, theo = header(init_data(DESK_TG)), header(init_data(THEO))
    for method, path in THERAPIST_CALLS:
        response = await desk.request(method, path, headers=front_desk, json={})
        assert response.status == 403, path
    for method, path in ENROLL_CALLS:
        assert (await desk.request(method, path, headers=theo, json=FORM)).status == 403, path
    assert await snapshot(sessions) == before
    me = Me.model_validate(await (await desk.get("/desk/api/me", headers=front_desk)).json())
    assert (me.name, me.role) == ("Sam", "staff")


async def test_another_therapists_patient_is_refused_and_nothing_changes(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    """Zoë is Theo's patient: Olga may neither see nor act on her alert."""
    [alert] = await raise_(sessions, CALLBACK, now=MONDAY_10)
    before = await snapshot(sessions)
    olga = header(init_data(OLGA))
    for action in ("ack", "called-back"):
        response = await desk.post(f"/desk/api/alerts/{alert.id}/{action}", headers=olga)
        assert response.status == 403
    for method, path in (("GET", "/desk/api/patients/1"), ("POST", "/desk/api/patients/1/export")):
        response = await desk.request(method, path, headers=olga)
        assert response.status == 403
        assert await response.json() == {"error": "Sorry, that is not available to you."}
    queue = AlertQueue.model_validate(
        await (await desk.get("/desk/api/alerts", headers=olga)).json()
    )
    patients = PatientList.model_validate(
        await (await desk.get("/desk/api/patients", headers=olga)).json()
    )
    assert (queue.alerts, patients.patients) == ([], [])
    state, outbox, audits = await snapshot(sessions)
    assert (state, outbox) == before[:2]  # the alert as it was, no card edit queued
    assert audits == before[2] + 2  # only Olga's two (empty) views are audited


async def test_acknowledging_in_the_desk_edits_every_chat_card(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    [alert] = await raise_(sessions, CALLBACK, now=MONDAY_10)
    assert alert.id is not None
    async with sessions() as db:  # the card as shown in Theo's chat
        await record_copy(db, alert_id=alert.id, chat_id=THEO, message_id=41)
        await db.commit()
    theo = header(init_data(THEO))
    queue = AlertQueue.model_validate(
        await (await desk.get("/desk/api/alerts", headers=theo)).json()
    )
    [item] = queue.alerts
    assert (item.id, item.patient_name, item.tier, item.age_minutes) == (
        alert.id,
        "Zoë",
        "urgent_callback",
        5,
    )
    assert item.reasons == ["Usual pain 9/10", "Call back in 2 h"]
    assert (item.can_acknowledge, item.can_call_back) == (True, True)

    response = await desk.post(f"/desk/api/alerts/{alert.id}/ack", headers=theo)
    done = AlertDone.model_validate(await response.json())
    assert (done.outcome, done.message) == ("acknowledged", "Acknowledged ✓")
    assert (done.alert.acknowledged_by, done.alert.can_call_back) == ("Theo", True)
    again = AlertDone.model_validate(
        await (await desk.post(f"/desk/api/alerts/{alert.id}/ack", headers=theo)).json()
    )
    assert (again.outcome, again.message) == ("already", "Already acknowledged by Theo.")
    called = AlertDone.model_validate(
        await (await desk.post(f"/desk/api/alerts/{alert.id}/called-back", headers=theo)).json()
    )
    assert (called.outcome, called.message) == ("called_back", "Call back recorded ✓")
    async with sessions() as db:
        stored = await db.get(Alert, alert.id)
        assert stored is not None and stored.state == AlertState.CLOSED
        edits = (
            await db.exec(
                select(OutboxMessage).where(
                    OutboxMessage.alert_id == alert.id, OutboxMessage.chat_id == THEO
                )
            )
        ).all()
        assert sum(1 for row in edits if row.kind == "alert_edit") == 2  # ack, then call back
        actions = (
            await db.exec(
                select(AuditEvent.action).where(AuditEvent.actor_id == stored.therapist_id)
            )
        ).all()
        assert {"alert_acknowledged", "alert_called_back", "desk_alerts_viewed"} <= set(actions)
    assert (await (await desk.get("/desk/api/alerts", headers=theo)).json()) == {"alerts": []}


async def test_my_patients_lists_the_therapists_own_with_their_numbers(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    await raise_(sessions, SOON, now=MONDAY_10)
    response = await desk.get("/desk/api/patients", headers=header(init_data(THEO)))
    [row] = PatientList.model_validate(await response.json()).patients
    assert (row.name, row.baseline_pain, row.last_pain, row.trend, row.open_alerts) == (
        "Zoë",
        5,
        None,
        "·",
        1,
    )
    assert (row.response_rate, row.next_checkin_at) == (None, None)
    admin = await desk.get("/desk/api/patients", headers=header(init_data(ADA)))
    assert [p.name for p in PatientList.model_validate(await admin.json()).patients] == ["Zoë"]


async def test_the_patient_page_is_audited_and_unknown_patients_are_refused(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    theo = header(init_data(THEO))
    response = await desk.get("/desk/api/patients/1", headers=theo)
    detail = PatientDetail.model_validate(await response.json())
    assert (detail.patient.name, detail.patient.baseline_pain, detail.responder_ceiling) == (
        "Zoë",
        5,
        3,  # clinical.md: at least −2 points and −30 % from 5
    )
    assert (detail.usual_pain, detail.soreness, detail.answers) == ([], [], [])
    async with sessions() as db:
        viewed = (
            await db.exec(select(AuditEvent).where(AuditEvent.action == "patient_viewed"))
        ).one()
    assert (viewed.subject_kind, viewed.subject_id, viewed.detail) == (
        "patient",
        1,
        {"via": "desk"},
    )
    before = await snapshot(sessions)
    for path in (
        "/desk/api/patients/2",
        "/desk/api/patients/x",
        "/desk/api/patients/99999999999999",
    ):
        assert (await desk.get(path, headers=theo)).status in (403, 404)
    assert await snapshot(sessions) == before


async def patients_named(sessions: SessionFactory, name: str) -> list[Patient]:
    async with sessions() as db:
        return list((await db.exec(select(Patient).where(Patient.display_name == name))).all())


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"name": "   "}, "Type the patient's name."),
        ({"name": "x" * 65}, "The name is too long: 64 characters at most."),
        ({"regions": []}, "Choose at least one region needled."),
        ({"regions": ["elbow"]}, "Choose at least one region needled."),
        ({"baseline_pain": 11}, "Choose a baseline pain from 0 to 10."),
        ({"minutes_ago": 45}, "Choose when the session ended."),
        ({"therapist_id": 3}, "Choose an active therapist."),  # Ada: an admin
        ({"therapist_id": 999}, "Choose an active therapist."),
        ({"enroll_key": "short"}, "The form could not be read: reload the desk and try again."),
    ],
)
async def test_a_bad_form_is_refused_in_words_and_nothing_is_written(
    desk: TestClient[Any, Any], sessions: SessionFactory, change: dict[str, Any], error: str
) -> None:
    before = await snapshot(sessions)
    async with sessions() as db:
        count = len((await db.exec(select(Patient.id))).all())
    response = await desk.post(
        "/desk/api/enroll", headers=header(init_data(DESK_TG)), json={**FORM, **change}
    )
    assert (response.status, await response.json()) == (400, {"error": error})
    assert await snapshot(sessions) == before
    async with sessions() as db:
        assert len((await db.exec(select(Patient.id))).all()) == count


async def test_one_form_enrolls_one_patient_however_often_it_is_sent(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    front_desk = header(init_data(DESK_TG))
    form = EnrollForm.model_validate(
        await (await desk.get("/desk/api/enroll/form", headers=front_desk)).json()
    )
    assert [t.name for t in form.therapists] == ["Olga", "Theo"]  # by name, as /enroll
    assert "piriformis" in [r.key for r in form.regions] and form.minutes_ago == [0, 30, 60, 120]
    response = await desk.post("/desk/api/enroll", headers=front_desk, json=FORM)
    done = Enrolled.model_validate(await response.json())
    assert done.name == "Ana <Ruiz>"
    assert done.link.startswith("https://t.me/careloop_test_bot?start=")
    assert base64.b64decode(done.qr_png_base64).startswith(b"\x89PNG")
    again = await desk.post("/desk/api/enroll", headers=front_desk, json=FORM)
    assert (again.status, await again.json()) == (
        409,
        {"error": "This form was already sent: the patient is enrolled once."},
    )
    [ana] = await patients_named(sessions, "Ana <Ruiz>")
    assert (ana.therapist_id, ana.baseline_pain, ana.enrolled_by) == (1, 6, 4)
    # someone else's link, or a link of another patient, is not sent anywhere
    other = await desk.post(
        f"/desk/api/enroll/{done.patient_id}/send",
        headers=header(init_data(ADA)),
        json={"link": done.link},
    )
    assert other.status == 403
    wrong = await desk.post("/desk/api/enroll/1/send", headers=front_desk, json={"link": done.link})
    assert wrong.status == 403


async def test_a_deactivated_therapist_and_an_admin_no_longer_listed_are_refused(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    async with sessions() as db:
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THEO))).one()
        theo.active = False
        db.add(StaffMember(tg_user_id=1500, role=Role.ADMIN, name="Former", created_at=MONDAY_10))
        await db.commit()
    for who in (THEO, 1500):  # 1500: an admin record, but not in ADMIN_IDS
        for path in ("/desk/api/me", "/desk/api/alerts", "/desk/api/enroll/form"):
            response = await desk.get(path, headers=header(init_data(who)))
            assert response.status == 403, (who, path)
