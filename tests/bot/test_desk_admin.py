"""The admin's desk screens (bot/desk/admin.py): staff, invitations, deactivation,
reassignment and the audit log — only for an admin, through the chat's care/ operations.

Anyone else (a therapist, the front desk, a patient, a stranger) gets 403 on every
admin call and nothing changes. A deactivation through the desk moves the open alerts
to the other therapists and the admins as the chat's does, and a second copy of it acts
no more; the care rule's refusals (yourself, someone in ADMIN_IDS) are its sentences.
Bad audit filters are refused in words and leave every row as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp.test_utils import TestClient

from bot.desk.models import (
    AuditPage,
    DeactivatePreview,
    Invited,
    Reassigned,
    ReassignList,
    StaffDeactivated,
    StaffList,
)
from care import audit
from store.db import SessionFactory
from store.models import Alert, AuditEvent, LinkToken, Patient, Role, StaffMember
from tests.fakebot import FakeBotAPI
from tests.support.alerts import ADA, CALLBACK, MONDAY_10, OLGA, SOON, THEO, pushes, raise_
from tests.support.dbutil import rows, snapshot
from tests.support.desk import DESK_NOW, as_user, desk_client
from tests.support.harness import ADMIN_ID, running_bot

PATIENT_TG, STRANGER_TG, DESK_TG = 4000, 9999, 3000
THEO_ID, OLGA_ID, ADA_ID, SAM_ID = 1, 2, 3, 4  # the clinic's staff ids, in planting order
NOT_AVAILABLE = {"error": "Sorry, that is not available to you."}
ADMIN_CALLS = (
    ("GET", "/desk/api/admin/staff"),
    ("GET", f"/desk/api/admin/staff/{OLGA_ID}/deactivate"),
    ("POST", f"/desk/api/admin/staff/{OLGA_ID}/deactivate"),
    ("POST", "/desk/api/admin/invites"),
    ("POST", "/desk/api/admin/invites/send"),
    ("GET", "/desk/api/admin/reassign"),
    ("POST", "/desk/api/admin/patients/1/reassign"),
    ("GET", "/desk/api/admin/audit"),
)


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    b = Bot(
        fake.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)),
        default=DefaultBotProperties(parse_mode="HTML"),
    )
    yield b
    await b.session.close()


@pytest.fixture
async def desk(sessions: SessionFactory, bot: Bot) -> AsyncIterator[TestClient[Any, Any]]:
    async with desk_client(sessions, bot) as client:
        yield client


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


@pytest.mark.parametrize("who", [THEO, DESK_TG, PATIENT_TG, STRANGER_TG])
async def test_only_an_admin_reaches_the_admin_screens(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str, who: int
) -> None:
    await raise_(sessions, CALLBACK, now=MONDAY_10)
    before = await snapshot(db_url)
    body = {"role": "therapist", "therapist_id": OLGA_ID, "link": "https://t.me/x?start=y"}
    for method, path in ADMIN_CALLS:
        response = await desk.request(method, path, headers=as_user(who), json=body)
        assert await answer(response) == (403, NOT_AVAILABLE), path
    assert await snapshot(db_url) == before
    # and the admin does reach them
    response = await desk.get("/desk/api/admin/staff", headers=as_user(ADA))
    assert response.status == 200


async def test_the_staff_list_shows_roles_state_and_last_activity(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    async with sessions() as db:
        theo = await db.get(StaffMember, THEO_ID)
        assert theo is not None
        theo.last_seen_at = MONDAY_10 - timedelta(hours=2)
        await db.commit()
    listed = StaffList.model_validate(
        await (await desk.get("/desk/api/admin/staff", headers=as_user(ADA))).json()
    )
    by_name = {row.name: row for row in listed.staff}
    assert [(r.name, r.role_label, r.active) for r in listed.staff] == [
        ("Ada", "admin", True),
        ("Sam", "front-desk staff member", True),
        ("Olga", "therapist", True),
        ("Theo", "therapist", True),
    ]
    assert by_name["Theo"].last_seen_at == MONDAY_10 - timedelta(hours=2)
    assert by_name["Olga"].last_seen_at is None
    # no Deactivate for the admin reading it (care.staff refuses it too)
    assert [r.name for r in listed.staff if r.can_deactivate] == ["Sam", "Olga", "Theo"]
    assert [(r.key, r.label) for r in listed.invite_roles] == [
        ("staff", "Front-desk staff"),
        ("therapist", "Therapist"),
    ]


async def test_a_deactivation_through_the_desk_moves_the_open_alerts_once(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str
) -> None:
    """Theo has Zoë's open callback alert: it goes to Olga and Ada, as the chat's
    deactivation sends it; Zoë is listed to reassign; a second copy changes nothing."""
    await raise_(sessions, CALLBACK, now=MONDAY_10)
    ada = as_user(ADA)
    path = f"/desk/api/admin/staff/{THEO_ID}/deactivate"
    seen = DeactivatePreview.model_validate(await (await desk.get(path, headers=ada)).json())
    assert (seen.name, seen.role_label, seen.open_alerts, seen.patients) == (
        "Theo",
        "therapist",
        1,
        1,
    )
    first, second = await asyncio.gather(desk.post(path, headers=ada), desk.post(path, headers=ada))
    answers = sorted([await answer(first), await answer(second)], key=lambda a: a[0])
    assert answers[1] == (409, {"error": "This person is already deactivated."})
    status, body = answers[0]
    done = StaffDeactivated.model_validate(body)
    assert status == 200
    assert done.message == "Theo is deactivated. 1 open alert: passed to the other therapists."
    assert [(p.name, p.therapist, [t.name for t in p.targets]) for p in done.patients] == [
        ("Zoë", "Theo", ["Olga"])
    ]
    assert sorted(await pushes(sessions, DESK_NOW)) == sorted([OLGA, ADA])  # the alert, re-sent
    [deactivated] = await rows(db_url, AuditEvent, AuditEvent.action == "staff_deactivated")
    assert (deactivated.actor_id, deactivated.subject_id, deactivated.detail) == (
        ADA_ID,
        THEO_ID,
        {"alerts_moved": 1, "patients": 1},
    )
    [theo] = await rows(db_url, StaffMember, StaffMember.id == THEO_ID)
    assert (theo.active, theo.deactivated_by) == (False, ADA_ID)
    # a third copy, later: refused in the same words, nothing written
    before = await snapshot(db_url)
    assert await answer(await desk.post(path, headers=ada)) == answers[1]
    assert await snapshot(db_url) == before


async def test_the_care_rule_refuses_yourself_and_unknown_people_in_its_words(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str
) -> None:
    await raise_(sessions, SOON, now=MONDAY_10)
    before = await snapshot(db_url)
    ada = as_user(ADA)
    for method in ("GET", "POST"):
        mine = await desk.request(method, f"/desk/api/admin/staff/{ADA_ID}/deactivate", headers=ada)
        assert await answer(mine) == (409, {"error": "You cannot deactivate yourself."})
        for staff_id in ("999", "x", "99999999999999"):
            path = f"/desk/api/admin/staff/{staff_id}/deactivate"
            response = await desk.request(method, path, headers=ada)
            assert await answer(response) == (
                404,
                {"error": "Not found any more: reload the desk."},
            )
    assert await snapshot(db_url) == before


async def test_someone_in_admin_ids_cannot_be_deactivated(
    sessions: SessionFactory, bot: Bot, db_url: str
) -> None:
    async with desk_client(sessions, bot, admin_ids=f"{ADA},1100") as desk:
        async with sessions() as db:
            db.add(StaffMember(tg_user_id=1100, role=Role.ADMIN, name="Bea", created_at=MONDAY_10))
            await db.commit()
        listed = StaffList.model_validate(
            await (await desk.get("/desk/api/admin/staff", headers=as_user(ADA))).json()
        )
        assert [r.name for r in listed.staff if not r.can_deactivate] == ["Ada", "Bea"]
        before = await snapshot(db_url)
        response = await desk.post("/desk/api/admin/staff/5/deactivate", headers=as_user(ADA))
        assert await answer(response) == (
            409,
            {
                "error": "This person is in ADMIN_IDS, which makes them an admin at every "
                "contact. Remove them from ADMIN_IDS first (and restart the bot)."
            },
        )
        assert await snapshot(db_url) == before


async def test_an_admin_reassigns_a_patient_to_another_active_therapist(
    desk: TestClient[Any, Any], sessions: SessionFactory, db_url: str
) -> None:
    [alert] = await raise_(sessions, SOON, now=MONDAY_10)
    ada = as_user(ADA)
    listed = ReassignList.model_validate(
        await (await desk.get("/desk/api/admin/reassign", headers=ada)).json()
    )
    assert [(p.id, p.name, p.therapist, [t.id for t in p.targets]) for p in listed.patients] == [
        (1, "Zoë", "Theo", [OLGA_ID])
    ]
    before = await snapshot(db_url)
    for target, error in (
        (SAM_ID, "That therapist cannot take patients."),
        (999, "That therapist cannot take patients."),
        (THEO_ID, "That is already their therapist."),
    ):
        response = await desk.post(
            "/desk/api/admin/patients/1/reassign", headers=ada, json={"therapist_id": target}
        )
        assert await answer(response) == (409, {"error": error})
    bad = await desk.post("/desk/api/admin/patients/1/reassign", headers=ada, json={"x": 1})
    assert await answer(bad) == (
        400,
        {"error": "The form could not be read: reload the desk and try again."},
    )
    assert await snapshot(db_url) == before
    response = await desk.post(
        "/desk/api/admin/patients/1/reassign", headers=ada, json={"therapist_id": OLGA_ID}
    )
    done = Reassigned.model_validate(await response.json())
    assert done.message == "Zoë now has Olga as therapist; they were told."
    [zoe] = await rows(db_url, Patient, Patient.id == 1)
    [moved] = await rows(db_url, Alert, Alert.id == alert.id)
    assert (zoe.therapist_id, moved.therapist_id) == (OLGA_ID, OLGA_ID)  # the alert follows


async def test_an_invitation_is_shown_and_sent_to_the_admins_chat(
    desk: TestClient[Any, Any], fake: FakeBotAPI, db_url: str
) -> None:
    await fake.user(ADA, "Ada").start()  # Ada's chat with the bot is open
    ada = as_user(ADA)
    before = await snapshot(db_url)
    for body in ({"role": "admin"}, {"role": ""}, {}):
        response = await desk.post("/desk/api/admin/invites", headers=ada, json=body)
        assert await answer(response) == (
            400,
            {"error": "Choose whom to invite: a therapist or front-desk staff."},
        )
    assert await snapshot(db_url) == before
    response = await desk.post("/desk/api/admin/invites", headers=ada, json={"role": "therapist"})
    invited = Invited.model_validate(await response.json())
    assert (invited.role_label, invited.link_hours) == ("therapist", 72)
    assert invited.link.startswith("https://t.me/careloop_test_bot?start=")
    [link] = await rows(db_url, LinkToken, LinkToken.kind == "invite")
    assert (link.role, link.created_by) == ("therapist", ADA_ID)
    [created] = await rows(db_url, AuditEvent, AuditEvent.action == "invite_created")
    assert (created.actor_id, created.subject_id) == (ADA_ID, link.id)

    sent = await desk.post("/desk/api/admin/invites/send", headers=ada, json={"link": invited.link})
    assert await answer(sent) == (
        200,
        {"message": "The invitation link is in your chat with the bot."},
    )
    [message] = [m for m in fake.sent_messages() if m.chat_id == ADA]
    assert message.text.startswith("Send this one-time link to the new therapist.")
    assert invited.link in message.text
    forged = await desk.post(
        "/desk/api/admin/invites/send",
        headers=ada,
        json={"link": "https://t.me/careloop_test_bot?start=not-a-token"},
    )
    assert await answer(forged) == (403, NOT_AVAILABLE)
    assert fake.refused == []


async def _plant_events(sessions: SessionFactory) -> None:
    """45 events over three days: Theo acknowledges (every other one), Ada views."""
    async with sessions() as db:
        for i in range(45):
            at = MONDAY_10 - timedelta(days=2) + timedelta(hours=i)
            if i % 2 == 0:
                audit.record(
                    db,
                    now=at,
                    action="alert_acknowledged",
                    actor_kind="staff",
                    actor_id=THEO_ID,
                    subject_kind="alert",
                    subject_id=100 + i,
                )
            else:
                audit.record(
                    db,
                    now=at,
                    action="patient_viewed",
                    actor_kind="staff",
                    actor_id=ADA_ID,
                    subject_kind="patient",
                    subject_id=1,
                )
        await db.commit()


async def test_the_audit_log_filters_and_pages(
    desk: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    await _plant_events(sessions)
    ada = as_user(ADA)

    async def log(**query: str) -> AuditPage:
        response = await desk.get("/desk/api/admin/audit", headers=ada, params=query)
        assert response.status == 200, await response.text()
        return AuditPage.model_validate(await response.json())

    first = await log()
    assert (len(first.events), first.page_size) == (30, 30)
    assert first.events[0].at > first.events[-1].at  # newest first, as /audit
    rest = await log(before=str(first.next_before))
    assert len(rest.events) == 15 and rest.next_before is None
    assert {"alert_acknowledged", "patient_viewed"} <= set(first.actions)
    acks = await log(action="alert_acknowledged")
    assert len(acks.events) == 23
    assert {(e.actor_kind, e.actor_id, e.subject_kind) for e in acks.events} == {
        ("staff", THEO_ID, "alert")
    }
    assert [e.subject_id for e in (await log(actor_kind="staff", actor=str(ADA_ID))).events][
        :2
    ] == [1, 1]
    one = await log(subject_kind="alert", subject="110")
    assert [(e.action, e.subject_id) for e in one.events] == [("alert_acknowledged", 110)]
    # Saturday 21 November in Madrid: 10:00 to midnight, events at 10:00 … 23:00
    saturday = await log(**{"from": "2026-11-21", "to": "2026-11-21"})
    assert len(saturday.events) == 14
    hours = sorted(e.at.hour for e in saturday.events)
    assert (hours[0], hours[-1]) == (9, 22)  # UTC
    # the row carries ids and actions only: no detail, no names
    assert set(first.events[0].model_dump()) == {
        "id",
        "at",
        "action",
        "actor_kind",
        "actor_id",
        "subject_kind",
        "subject_id",
    }


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"action": "DROP TABLE"}, "Choose an action from the list."),
        ({"actor": "Theo"}, "The actor must be a number, e.g. 12."),
        ({"actor": "-1"}, "The actor must be a number, e.g. 12."),
        ({"subject": "1.5"}, "The subject must be a number, e.g. 12."),
        ({"before": "x"}, "The page must be a number, e.g. 12."),
        ({"actor_kind": "robot"}, "Choose who acted from the list: staff, patient or system."),
        ({"subject_kind": "name"}, "Choose the subject's kind from the list."),
        ({"from": "21/11/2026"}, "The start date must be a day written YYYY-MM-DD."),
        ({"to": "2026-13-01"}, "The end date must be a day written YYYY-MM-DD."),
        ({"from": "2026-11-22", "to": "2026-11-21"}, "The start date is after the end date."),
        ({"name": "Zoë"}, "The log cannot be filtered by that: reload the desk."),
    ],
)
async def test_a_bad_audit_filter_is_refused_in_words_and_rows_are_unchanged(
    desk: TestClient[Any, Any],
    sessions: SessionFactory,
    db_url: str,
    query: dict[str, str],
    error: str,
) -> None:
    await _plant_events(sessions)
    before = await snapshot(db_url)
    response = await desk.get("/desk/api/admin/audit", headers=as_user(ADA), params=query)
    assert await answer(response) == (400, {"error": error})
    assert await snapshot(db_url) == before


async def test_the_chats_audit_shows_the_newest_events_as_the_desk_log_does(
    fake: FakeBotAPI, sqlite_url: str
) -> None:
    """/audit and the desk read the log through one query (care.audit.events)."""
    admin = fake.user(ADMIN_ID, "Ada")
    async with running_bot(fake, sqlite_url) as running:
        await admin.start()  # registered: admin_registered is the log's first event
        await _plant_events(running.app.sessions)
        mark = admin.mark()
        await admin.send("/audit")
        shown = await admin.wait_for(lambda m: m.text.startswith("Last audit events"), after=mark)
        async with running.app.sessions() as db:
            newest = await audit.events(db, limit=30)
    lines = shown.text.splitlines()[1:]
    assert len(lines) == 30
    assert [line.split(" · ")[1] for line in lines] == [e.action for e in newest]
    assert fake.refused == []
