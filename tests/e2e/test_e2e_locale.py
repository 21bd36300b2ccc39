"""/alerts as a one-line-per-alert summary, and the staff's screens in the clinic's locale
(issue 14, items 12–14), through the real dispatcher against the strict fake Bot API.

The clinic (Theo and Olga, therapists; Ada, admin; one patient of Theo) is written by the
shared care-test helper; the alerts are raised with the care operation the check-ins use,
with the facts triage gives them; everything a therapist reads is the product's own path.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.callbacks import AlertsAction, AlertsCb
from care.alerts import raise_findings
from flows.triage import Finding
from scheduler.clock import Clock
from store.models import Alert, Patient, PatientStatus, StaffMember
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.alerts import (
    ADA,
    CAUDA_URGENT,
    MONDAY_10,
    OLGA,
    PAIN_CALLBACK,
    SITE_SOON,
    THEO,
    clinic,
)
from tests.support.e2e import answered_callback
from tests.support.harness import ManualWall, Running, running_bot

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


@asynccontextmanager
async def clinic_bot(
    fake: FakeBotAPI, url: str, wall: ManualWall, locale: str
) -> AsyncIterator[tuple[Running, SimUser, SimUser]]:
    """The bot in `locale`; Theo and Olga have opened their chats with it."""
    async with running_bot(
        fake, url, clock=Clock(wall=wall), DISPATCH_INTERVAL_SECONDS="60", CLINIC_LOCALE=locale
    ) as bot:
        await clinic(bot.app.sessions)
        people = []
        for tg, name in ((THEO, "Theo"), (OLGA, "Olga"), (ADA, "Ada")):
            person = fake.user(tg, name)
            mark = person.mark()
            await person.send("/help")
            await person.wait_for(lambda m: "/alerts" in m.text, after=mark)
            people.append(person)
        yield bot, people[0], people[1]


async def raise_for(bot: Running, patient_id: int, finding: Finding) -> None:
    async with bot.app.sessions() as db:
        patient = await db.get(Patient, patient_id)
        assert patient is not None
        policy = bot.app.dispatcher["policy"]
        now = bot.app.clock.now()
        await raise_findings(db, policy, patient=patient, findings=[finding], now=now)
        await db.commit()


async def more_patients(bot: Running, count: int) -> list[int]:
    """Patients #2 … of Theo, named "Patient 2" …"""
    async with bot.app.sessions() as db:
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THEO))).one()
        added = [
            Patient(
                display_name=f"Patient {n}",
                therapist_id=theo.id or 0,
                status=PatientStatus.ACTIVE,
                tg_user_id=5000 + n,
                baseline_pain=5,
                created_at=MONDAY_10,
            )
            for n in range(2, 2 + count)
        ]
        db.add_all(added)
        await db.commit()
        return [p.id or 0 for p in added]


async def settle(bot: Running) -> None:
    for _ in range(4):
        await bot.background.run_once()


async def summary_of(person: SimUser) -> SentMessage:
    mark = person.mark()
    await person.send("/alerts")
    return await person.wait_for(after=mark)


def write_sample(name: str, message: SentMessage) -> None:
    """docs/samples/ from a real run: `WRITE_SAMPLES=1 pytest tests/e2e/test_e2e_locale.py`."""
    if os.environ.get("WRITE_SAMPLES"):
        (SAMPLES / name).write_text(f"{message.text}\n{message.buttons()}\n", encoding="utf-8")


async def test_alerts_is_a_paged_one_line_summary_with_open_and_acknowledge(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall
) -> None:
    async with clinic_bot(fake, sqlite_url, wall, "en-GB") as (bot, theo, olga):
        others = await more_patients(bot, 9)
        await raise_for(bot, 1, PAIN_CALLBACK)
        for pid in others[:-1]:
            await raise_for(bot, pid, SITE_SOON)
        await raise_for(bot, others[-1], CAUDA_URGENT)
        await settle(bot)
        wall.advance(timedelta(minutes=16))  # the URGENT one climbs its ladder twice
        await settle(bot)
        wall.advance(timedelta(minutes=45))
        await settle(bot)
        wall.advance(timedelta(minutes=59))
        cards_before = len([m for m in theo.inbox if "review today" in m.text])

        summary = await summary_of(theo)
        lines = summary.text.split("\n")
        assert lines[0] == "Open alerts (10) · page 1 of 2"
        assert len(lines) == 9  # eight a page, one line each: not a repost of every card
        # most severe first: tier, name, a short reason, its age, the escalations
        assert lines[1] == (
            "1. 🔴 Patient 10 · Possible cauda equina signs (saddle numbness, bladder or bowel "
            "change, or both… · 2 hr ago · ⏫ 2 escalations"
        )
        assert lines[2] == (
            "2. 🟠 Zoë · Pain 9/10 2 days after session 1, 4 above their usual 5 · 2 hr ago"
        )
        assert lines[3] == (
            "3. 🟡 Patient 2 · Swelling or pus at a needle site 26 hours after session 1, "
            "no fever reported · 2 hr ago"
        )
        assert summary.buttons()[0] == ["1. Patient 10", "✅ 1"]
        assert summary.buttons()[1] == ["2. Zoë", "✅ 2"]
        assert summary.buttons()[-1] == ["Next »"]
        assert len([m for m in theo.inbox if "review today" in m.text]) == cards_before
        write_sample("alerts-summary.txt", summary)

        await theo.tap(summary, "Next »")
        page2 = await theo.wait_for(
            lambda m: m.message_id == summary.message_id and "page 2 of 2" in m.text, after=0
        )
        assert page2.text.count("\n") == 2 and "9. 🟡 Patient 8" in page2.text
        assert page2.buttons()[-1] == ["« Previous"]
        await theo.tap(page2, "« Previous")
        page1 = await theo.wait_for(
            lambda m: m.message_id == summary.message_id and "page 1 of 2" in m.text, after=0
        )

        mark = theo.mark()  # opening a line shows the full card, below
        await theo.tap(page1, "2. Zoë")
        card = await theo.wait_for(lambda m: m.text.startswith("🟠 URGENT — call back"), after=mark)
        assert "• Pain 9/10 2 days after session 1, 4 above their usual 5" in card.text
        assert "Raised Mon 23 Nov, 10:00" in card.text
        assert card.buttons() == [["Acknowledge", "History", "Call back done"]]

        query = await theo.tap(page1, "✅ 3")  # acknowledge a SOON one from the list
        assert (await answered_callback(fake, theo, query))["text"] == "Acknowledged ✓"
        after = await theo.wait_for(
            lambda m: m.message_id == summary.message_id and "Open alerts (9)" in m.text, after=0
        )
        assert "Patient 2" not in after.text
        async with bot.app.sessions() as db:
            acked = (await db.exec(select(Alert).where(Alert.patient_id == others[0]))).one()
        assert acked.state == "acknowledged"

        # another therapist's list and taps: nothing of Theo's patients
        mine = await summary_of(olga)
        assert mine.text == "No open alerts. 🎉"
        assert acked.id is not None
        forged = AlertsCb(action=AlertsAction.open, alert_id=acked.id + 1).pack()
        mark = olga.mark()
        query = await olga.tap_data(mine.message_id, forged)
        answer = await answered_callback(fake, olga, query)
        assert answer["text"] == "Sorry, that is not available to you."
        assert [m for m in olga.inbox if m.seq > mark] == []
        assert fake.refused == []


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en-GB",
            {
                "header": "Open alerts (1) · page 1 of 1",
                "line": "1. 🟠 Zoë · Pain 9/10 2 days after session 1, 4 above their usual 5 "
                "· 2 hr ago",
                "card": "🟠 URGENT — call back · Zoë (#1)",
                "raised": "Raised Mon 23 Nov, 10:00",
                "buttons": [["Acknowledge", "History", "Call back done"]],
                "acked": "Acknowledged ✓",
                "help": "/alerts — Open alerts",
            },
        ),
        (
            "en-US",
            {
                "header": "Open alerts (1) · page 1 of 1",
                "line": "1. 🟠 Zoë · Pain 9/10 2 days after session 1, 4 above their usual 5 "
                "· 2 hr. ago",
                "card": "🟠 URGENT — call back · Zoë (#1)",
                "raised": "Raised Mon, Nov 23, 10:00\u202fAM",  # month/day
                "buttons": [["Acknowledge", "History", "Call back done"]],
                "acked": "Acknowledged ✓",
                "help": "/alerts — Open alerts",
            },
        ),
        (
            "es-ES",
            {
                "header": "Alertas abiertas (1) · página 1 de 1",
                "line": "1. 🟠 Zoë · Dolor 9/10 2 días después de la sesión 1, 4 por encima de "
                "su habitual 5 · hace 2 h",
                "card": "🟠 URGENTE — devolver la llamada · Zoë (#1)",
                "raised": "Abierta lun, 23 nov, 10:00",
                "buttons": [["Confirmar", "Historial", "Llamada hecha"]],
                "acked": "Confirmada ✓",
                "help": "/alerts — Alertas abiertas",
            },
        ),
    ],
)
async def test_a_therapist_reads_alerts_in_the_clinics_locale(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall, locale: str, expected: dict[str, object]
) -> None:
    async with clinic_bot(fake, sqlite_url, wall, locale) as (bot, theo, _):
        assert expected["help"] in theo.inbox[0].text  # /help for staff, in that language
        await raise_for(bot, 1, PAIN_CALLBACK)
        await settle(bot)
        wall.advance(timedelta(hours=2))
        summary = await summary_of(theo)
        assert summary.text.split("\n") == [expected["header"], expected["line"]]
        mark = theo.mark()
        await theo.tap(summary, "1. Zoë")
        card = await theo.wait_for(lambda m: m.reply_markup is not None, after=mark)
        assert card.text.startswith(str(expected["card"]))
        assert expected["raised"] in card.text
        assert card.buttons() == expected["buttons"]
        query = await theo.tap(summary, "✅ 1")
        assert (await answered_callback(fake, theo, query))["text"] == expected["acked"]
        assert fake.refused == []


async def test_a_spanish_clinic_invites_and_registers_staff_in_spanish(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall
) -> None:
    async with clinic_bot(fake, sqlite_url, wall, "es-MX") as (_, _, _):
        ada = fake.user(ADA, "Ada")
        mark = ada.mark()
        await ada.send("/invite")
        choose = await ada.wait_for(lambda m: m.reply_markup is not None, after=mark)
        assert choose.text == "¿A quién quiere invitar?"
        assert choose.buttons() == [["Personal de recepción", "Fisioterapeuta"]]
        mark = ada.mark()
        await ada.tap(choose, "Personal de recepción")
        link = await ada.wait_for(lambda m: "start=" in m.text, after=mark)
        assert link.text.startswith("Envíe este enlace de un solo uso al nuevo")
        desk = fake.user(3500, "Rosa", language_code="en")  # an English phone
        mark = desk.mark()
        await desk.start(link.text.rsplit("start=", 1)[1])
        hello = await desk.wait_for(after=mark)
        assert hello.text.startswith("¡Bienvenido/a a careloop, Rosa!")
        assert "Use /enroll después de una visita para registrar a un paciente." in hello.text
        mark = desk.mark()
        await desk.send("/enroll")
        ask = await desk.wait_for(after=mark)
        assert ask.text.startswith("Registrar a un paciente. ¿Qué nombre")
        assert fake.refused == []


async def test_the_card_the_digest_and_the_patient_card_read_as_sentences(
    fake: FakeBotAPI, sqlite_url: str, wall: ManualWall
) -> None:
    """What docs/samples/ show: a card, the next morning's digest and the patient card,
    written from facts with real plurals and the clinic's date format."""
    async with clinic_bot(fake, sqlite_url, wall, "en-GB") as (bot, theo, _):
        mark = theo.mark()
        await raise_for(bot, 1, SITE_SOON)
        await settle(bot)
        card = await theo.wait_for(lambda m: "review today" in m.text, after=mark)
        assert card.text.split("\n")[1:] == [
            "• Swelling or pus at a needle site 26 hours after session 1, no fever reported",
            "Screening: not recorded",  # her first alert: what the desk screened
            "Raised Mon 23 Nov, 10:00",
        ]
        write_sample("alert.txt", card)
        wall.advance(timedelta(hours=22))  # Tuesday 08:00 in Madrid
        mark = theo.mark()
        await settle(bot)
        digest = await theo.wait_for(lambda m: "Daily digest" in m.text, after=mark)
        assert digest.text.split("\n") == [
            "Daily digest · Tue 24 Nov",
            "• Zoë (#1): ⚠️ SOON alert not acknowledged for 22 hours: Swelling or pus at a "
            "needle site 26 hours after session 1, no fever reported",
        ]
        write_sample("digest.txt", digest)
        mark = theo.mark()
        await theo.tap(card, "History")
        photo = await theo.wait_for(lambda m: m.photo is not None, after=mark)
        assert photo.text.split("\n")[0] == "Zoë (#1) · baseline 5/10 · 0 sessions"
        assert fake.refused == []
