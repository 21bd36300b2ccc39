"""The desk (Mini App) end to end with the real bot: who is given the desk, and one truth
for the chat and the desk — a red flag's card carries "Open desk" in the therapist's
private chat (never in the clinic group), and acknowledging in the desk edits the cards
in both chats, as the chat's own button does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.desk.api import DeskContext
from bot.desk.models import AlertDone, AlertQueue, ExportSent, PatientDetail
from bot.desk.web import make_desk_app, mount
from sandbox.botapi.webapp import sign_init_data
from scheduler.clock import Clock
from tests.fakebot import FakeBotAPI, SentMessage
from tests.support.e2e import (
    GROUP,
    PATIENT,
    STAFF,
    THERAPIST,
    enrolled_patient,
    report_symptom_red_flag,
)
from tests.support.harness import ADMIN_ID, ManualWall, Running, running_bot

DESK_URL = "https://clinic.example/desk/"


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str, wall: ManualWall) -> AsyncIterator[Running]:
    fake.group(GROUP)
    async with running_bot(
        fake,
        sqlite_url,
        clock=Clock(wall=wall),
        DISPATCH_INTERVAL_SECONDS="60",
        ALERT_CHAT_ID=str(GROUP),
        DESK_URL=DESK_URL,
    ) as running:
        yield running


@pytest.fixture
async def desk(bot: Running) -> AsyncIterator[TestClient[Any, Any]]:
    app = bot.app
    parent = web.Application()
    mount(
        parent,
        make_desk_app(
            lambda: DeskContext(
                app.sessions, app.settings, app.clock, app.bot, app.protocol, app.bot_username
            )
        ),
    )
    async with TestClient(TestServer(parent)) as client:
        yield client


def web_app_urls(message: SentMessage) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [b["web_app"]["url"] for row in rows for b in row if b.get("web_app")]


def as_therapist(fake: FakeBotAPI) -> dict[str, str]:
    user = {"id": THERAPIST, "first_name": "Theo", "last_name": "Rapist"}
    data = sign_init_data(fake.token, user, auth_date=datetime.now(UTC))
    return {"Authorization": f"tma {data}"}


async def test_staff_get_the_desk_menu_and_patients_do_not(bot: Running, fake: FakeBotAPI) -> None:
    await enrolled_patient(fake)
    desk = {"type": "web_app", "text": "Desk", "web_app": {"url": DESK_URL}}
    assert fake.menu_buttons.get(f"chat:{THERAPIST}") == desk
    assert fake.menu_buttons.get(f"chat:{ADMIN_ID}") == desk
    assert fake.menu_buttons.get(f"chat:{STAFF}") == desk  # the front desk: enrollment
    assert fake.menu_buttons.get(f"chat:{PATIENT}", {"type": "default"}) == {"type": "default"}
    assert "default" not in fake.menu_buttons  # never the bot's menu for everyone
    patient_messages = fake.user(PATIENT).inbox
    assert patient_messages and not any(web_app_urls(m) for m in patient_messages)


async def test_acknowledged_in_the_desk_the_chat_cards_are_edited_too(
    bot: Running, fake: FakeBotAPI, desk: TestClient[Any, Any]
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/symptom")
    questions = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await report_symptom_red_flag(bot, fake, patient, questions)
    therapist, group = fake.user(THERAPIST), fake.group(GROUP)
    card = next(m for m in reversed(therapist.inbox) if m.text.startswith("🔴 URGENT"))
    assert "URGENT" in card.text and web_app_urls(card) == [DESK_URL]
    assert card.buttons() == [["Acknowledge", "History"], ["Open desk"]]
    group_card = group.last()
    assert web_app_urls(group_card) == []  # Web App buttons exist only in private chats

    response = await desk.get("/desk/api/alerts", headers=as_therapist(fake))
    [alert] = AlertQueue.model_validate(await response.json()).alerts
    assert (alert.tier, alert.can_acknowledge) == ("urgent", True)
    assert any("chest pain" in reason.lower() for reason in alert.reasons)
    mark = fake.seq
    response = await desk.post(f"/desk/api/alerts/{alert.id}/ack", headers=as_therapist(fake))
    assert AlertDone.model_validate(await response.json()).message == "Acknowledged ✓"

    await bot.background.run_once()  # the outbox edits every copy of the card
    edited = await therapist.wait_for(
        lambda m: m.message_id == card.message_id and "Acknowledged by Theo" in m.text, after=mark
    )
    assert edited.buttons() == [["History"], ["Open desk"]]
    in_group = await group.wait_for(
        lambda m: m.message_id == group_card.message_id and "Acknowledged by Theo" in m.text,
        after=mark,
    )
    assert in_group.buttons() == [["History"]]
    assert fake.refused == []


async def test_export_from_the_desk_arrives_in_the_therapists_chat(
    bot: Running, fake: FakeBotAPI, desk: TestClient[Any, Any]
) -> None:
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/symptom")
    questions = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await report_symptom_red_flag(bot, fake, patient, questions)
    therapist = fake.user(THERAPIST)
    page = PatientDetail.model_validate(
        await (await desk.get("/desk/api/patients/1", headers=as_therapist(fake))).json()
    )
    assert {a.question for a in page.answers} == {"Q3", "Q4", "Q5"}
    assert len(page.sessions) == 1 and page.patient.open_alerts == 1
    mark = therapist.mark()
    response = await desk.post("/desk/api/patients/1/export", headers=as_therapist(fake))
    sent = ExportSent.model_validate(await response.json())
    assert sent.message == "CSV and FHIR files sent to your chat with the bot."
    csv_doc = await therapist.wait_for(lambda m: m.document is not None, after=mark)
    assert csv_doc.filename is not None and csv_doc.filename.endswith(".csv")
    assert csv_doc.document is not None and csv_doc.document.count(b"\n") == sent.rows + 1
    fhir_doc = await therapist.wait_for(
        lambda m: m.document is not None and m.message_id > csv_doc.message_id, after=mark
    )
    assert fhir_doc.filename is not None and fhir_doc.filename.endswith("-fhir.json")
    # the front desk has no desk: refused, nothing sent
    staff = sign_init_data(
        fake.token, {"id": STAFF, "first_name": "Sam"}, auth_date=datetime.now(UTC)
    )
    mark = fake.seq
    refused = await desk.post(
        "/desk/api/patients/1/export", headers={"Authorization": f"tma {staff}"}
    )
    assert refused.status == 403
    assert [m for m in fake.user(STAFF).inbox if m.seq > mark] == []
