"""The sandbox page in a real browser (Debian's headless chromium), driven by clicking.

The whole first journey, as someone trying the sandbox would play it: the front desk
enrolls a patient, the patient opens the link and consents, time skips to the first
check-in, the patient reports a red flag, and the therapist acknowledges the URGENT
alert. Every wait is for text in the page (Playwright's ``expect``), never a sleep.
The screenshots it leaves in docs/sandbox/ are the ones the README shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.browser import exactly, needs_chromium, sandbox_in_browser
from tests.support.harness import ROOT

SHOTS = ROOT / "docs" / "sandbox"

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright package")
expect = async_api.expect


async def _type(pane, text: str) -> None:  # type: ignore[no-untyped-def]
    box = pane.locator(".composer input")
    await box.fill(text)
    await box.press("Enter")


async def _tap(pane, label: str) -> None:  # type: ignore[no-untyped-def]
    """Click the newest inline button labelled exactly `label` in this pane."""
    button = pane.locator("button.kb").filter(has_text=exactly(label)).last
    await expect(button).to_be_enabled()
    await button.click()


def _choose(question: str, labels: list[str]) -> str:
    """Calm answers, except the chest question: the red flag under test."""
    if "chest" in question.lower():
        return "Yes"
    for calm in ("Nothing new", "3", "No"):
        if calm in labels:
            return calm
    return labels[0]


async def _toolbar_and_reload(page, therapist) -> None:  # type: ignore[no-untyped-def]
    """A button answered by a toast only works again; a reload replays no old toast; the
    toolbar stays on one line at 1280 px."""
    card = therapist.locator(".item").filter(has_text="Acknowledged by").first
    history = card.locator("button.kb").filter(has_text=exactly("History"))
    items = therapist.locator(".chat > .item")
    before = await items.count()
    await history.click()  # answered with new messages: the card itself is not edited
    await expect(items).to_have_count(before + 2)  # the history card and its chart
    await expect(history).to_be_enabled()
    await history.click()
    await expect(items).to_have_count(before + 4)

    await expect(page.locator(".toast")).to_have_count(0)
    await page.reload()
    await expect(therapist.locator(".chat")).to_contain_text("Acknowledged by Theo Rapist")
    assert await page.locator(".toast").count() == 0  # the "Acknowledged ✓" is not replayed

    await page.set_viewport_size({"width": 1280, "height": 800})
    boxes = await page.locator(".topbar > :not(.spacer)").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.top, r.bottom, Math.round(r.width), e.className]; })"
    )
    # one line: every item overlaps every other vertically
    assert max(box[0] for box in boxes) < min(box[1] for box in boxes), boxes


async def test_the_whole_journey_by_clicking(tmp_path: Path) -> None:
    async with sandbox_in_browser(tmp_path) as opened:
        running, page = opened.running, opened.page
        desk = page.locator('[data-pane="staff"]')
        patient = page.locator('[data-pane="patient"]')
        therapist = page.locator('[data-pane="therapist"]')
        await expect(desk.locator(".hint")).to_contain_text("Front desk: type /enroll")
        await expect(patient.locator(".hint")).to_contain_text("The front desk enrolls you")
        await expect(therapist.locator(".chat")).to_contain_text("registered as therapist")
        await expect(desk.locator(".menu")).to_contain_text("/enroll")  # the role's menu

        # the front desk enrolls a patient
        await _type(desk, "/enroll")
        await expect(desk.locator(".chat")).to_contain_text("What name should the messages use")
        await _type(desk, "Zoë <Navarro>")
        await _tap(desk, "Theo Rapist")
        await _tap(desk, "Just now")
        await _tap(desk, "Upper back / chest wall")
        await expect(
            desk.locator("button.kb").filter(has_text="✅ Upper back / chest wall")
        ).to_be_visible()
        await _tap(desk, "Done")
        # buttock or leg symptoms, then the screening facts (one multi-select step)
        await _tap(desk, "Yes")
        for fact in ("Takes anticoagulants", "First-ever dry needling"):
            await _tap(desk, f"☐ {fact}")
            await expect(desk.locator("button.kb").filter(has_text=f"☑ {fact}")).to_be_visible()
        await _tap(desk, "Done")
        await _tap(desk, "6")
        await expect(desk.locator(".chat")).to_contain_text("Zoë <Navarro> is enrolled")
        await expect(desk.locator(".kind-photo img")).to_be_visible()  # the QR code
        await expect(desk.locator(".hint")).to_contain_text("tap the join link")
        await expect(patient.locator(".who")).to_contain_text("enrolled as Zoë <Navarro>")

        # the patient opens the link with one click and consents
        await desk.locator("a.deeplink").last.click()
        await expect(patient.locator(".chat")).to_contain_text("/start ")
        await _tap(patient, "I agree")
        await expect(patient.locator(".chat")).to_contain_text("Thank you")
        # the welcome tells what the protocol promises (issue 14 item 1)
        await expect(patient.locator(".chat")).to_contain_text("3 to 6 needling sessions")
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.set_viewport_size({"width": 1440, "height": 1600})  # the whole message
        welcome = patient.locator(".item").filter(has_text="Thank you! You are all set")
        await welcome.scroll_into_view_if_needed()
        await welcome.screenshot(path=str(SHOTS / "welcome.png"))
        await page.set_viewport_size({"width": 1440, "height": 900})
        await expect(patient.locator(".menu")).to_contain_text("/pause")
        await expect(patient.locator(".hint")).to_contain_text("answer the check-ins")

        # skip to the first check-in and answer it; the chest question gets "Yes"
        await expect(page.locator("#next-due")).to_contain_text("13:00")
        await page.locator("#jump").click()
        await expect(page.locator("#clock-time")).to_contain_text("13:0")
        checkin = patient.locator(".item").filter(has_text="A quick check")
        for step in range(1, 6):
            await expect(checkin).to_contain_text(re.compile(rf"\b{step}/\d+ "))
            question = (await checkin.locator(".text").inner_text()).splitlines()[-1]
            labels = [t.strip() for t in await checkin.locator("button.kb").all_inner_texts()]
            answer = _choose(question, labels)
            if "✅ Done" in labels:  # Q4 takes several choices: tick "Nothing new", Done
                await _tap(checkin, "☐ Nothing new")
                await expect(
                    checkin.locator("button.kb").filter(has_text="☑ Nothing new")
                ).to_be_visible()
                answer = "✅ Done"
            await _tap(checkin, answer)
            if answer == "Yes":
                break
        else:
            raise AssertionError("the check-in never asked the chest question")
        await expect(patient.locator(".chat")).to_contain_text("112")  # emergency advice

        # the front desk starts a discharge: the confirmation says the URGENT alert is
        # still open (and the check-ins pending); the desk keeps the patient
        await _type(desk, "/discharge")
        await _tap(desk, "Zoë <Navarro> (#1)")
        confirm = desk.locator(".item").filter(has_text="Discharge Zoë <Navarro> (#1)?")
        await expect(confirm).to_contain_text("URGENT alert raised")
        await expect(confirm).to_contain_text("not acknowledged yet")
        await expect(page.locator(".toast")).to_have_count(0)
        SHOTS.mkdir(parents=True, exist_ok=True)
        await desk.screenshot(path=str(SHOTS / "discharge-confirm.png"))
        await _tap(desk, "No, keep in follow-up")
        await expect(desk.locator(".chat")).to_contain_text("stays in follow-up")

        # the therapist gets the URGENT alert and acknowledges it
        alert = therapist.locator(".item").filter(has_text="URGENT")
        await expect(alert).to_contain_text("Zoë <Navarro>")
        await expect(alert).to_contain_text("Screening: ⚠️ Takes anticoagulants")
        await expect(therapist.locator(".hint")).to_contain_text("Tap Acknowledge")
        await expect(page.locator("#next-due")).to_contain_text("13:1")  # its escalation
        # /alerts: a line per open alert with its buttons, not a repost of every card
        await _type(therapist, "/alerts")
        summary = therapist.locator(".item").filter(has_text="Open alerts (1)")
        await expect(summary).to_contain_text("1. 🔴 Zoë <Navarro> · Chest pain")
        await expect(summary.locator("button.kb")).to_have_count(2)  # open, ✅ 1
        await expect(page.locator(".toast")).to_have_count(0)
        SHOTS.mkdir(parents=True, exist_ok=True)
        await therapist.screenshot(path=str(SHOTS / "alerts.png"))
        await _tap(alert, "Acknowledge")
        await expect(alert).to_contain_text("Acknowledged by Theo Rapist")
        await expect(alert.locator(".edited")).to_be_visible()  # edited in place
        buttons = alert.locator("button.kb")  # History, and the desk (bot/desk/)
        await expect(buttons).to_have_text([exactly("History"), exactly("Open desk")])

        await expect(page.locator(".toast")).to_have_count(0)  # "Acknowledged ✓" faded
        SHOTS.mkdir(parents=True, exist_ok=True)
        await desk.screenshot(path=str(SHOTS / "front-desk.png"))
        await patient.screenshot(path=str(SHOTS / "patient.png"))
        await therapist.screenshot(path=str(SHOTS / "therapist.png"))
        await page.screenshot(path=str(SHOTS / "page.png"))

        # the therapist's card of the patient, with the screening facts
        await _type(therapist, "/patient")
        await _tap(therapist, "Zoë <Navarro> (#1)")
        card = therapist.locator(".kind-photo").last
        await expect(card).to_contain_text("Screening: ⚠️ Takes anticoagulants")
        await expect(page.locator(".toast")).to_have_count(0)
        await therapist.screenshot(path=str(SHOTS / "card-screening.png"))
        await _toolbar_and_reload(page, therapist)
        assert opened.errors == []
        assert running.sandbox.fake.refused == []  # the bot made no call Telegram refuses


async def test_a_checkin_answered_in_spanish_by_clicking(tmp_path: Path) -> None:
    """The patient chooses Español on the consent message and answers the first check-in
    in Spanish (issue 14 item 5); leaves docs/sandbox/checkin-es.png."""
    async with sandbox_in_browser(tmp_path) as opened:
        running, page = opened.running, opened.page
        desk = page.locator('[data-pane="staff"]')
        patient = page.locator('[data-pane="patient"]')
        await _type(desk, "/enroll")
        await expect(desk.locator(".chat")).to_contain_text("What name should the messages use")
        await _type(desk, "Lucía Navarro")
        await _tap(desk, "Theo Rapist")
        await _tap(desk, "Just now")
        await _tap(desk, "Piriformis")
        await expect(desk.locator("button.kb").filter(has_text="✅ Piriformis")).to_be_visible()
        await _tap(desk, "Done")
        await _tap(desk, "No")  # no buttock or leg symptoms
        await _tap(desk, "None of these")  # nothing to screen
        await _tap(desk, "6")
        await expect(desk.locator(".chat")).to_contain_text("Lucía Navarro is enrolled")

        # the consent comes in the phone's language; the patient chooses Español
        await desk.locator("a.deeplink").last.click()
        consent = patient.locator(".item").filter(has_text="Before we start")
        await _tap(consent, "Español")
        consent = patient.locator(".item").filter(has_text="Antes de empezar")
        await expect(consent.locator("button.kb").filter(has_text="✓ Español")).to_be_visible()
        await _tap(consent, "Acepto")
        await expect(patient.locator(".chat")).to_contain_text("Pronto le enviaré")

        # session 1's aftercare comes at once; then the first check-in, in Spanish:
        # soreness 3, "Nada nuevo", then Listo
        await expect(patient.locator(".chat")).to_contain_text("Después de su sesión 1")
        await expect(page.locator("#next-due")).to_contain_text("13:00")
        await page.locator("#jump").click()
        checkin = patient.locator(".item").filter(has_text="Un control rápido")
        await expect(checkin).to_contain_text("1/2 ¿Cuánta molestia tiene ahora")
        await _tap(checkin, "3")
        await expect(checkin).to_contain_text("2/2 Desde el tratamiento")
        await _tap(checkin, "☐ Nada nuevo")
        await expect(checkin.locator("button.kb").filter(has_text="☑ Nada nuevo")).to_be_visible()
        await _tap(checkin, "✅ Listo")
        await expect(checkin).to_contain_text("Gracias, sus respuestas se han guardado")
        await expect(checkin).to_contain_text("— Nada nuevo")
        await expect(checkin.locator("button.kb")).to_have_count(0)
        await expect(patient.locator(".chat")).not_to_contain_text("Soreness")

        await expect(page.locator(".toast")).to_have_count(0)
        SHOTS.mkdir(parents=True, exist_ok=True)
        await patient.screenshot(path=str(SHOTS / "checkin-es.png"))
        assert opened.errors == []
        assert running.sandbox.fake.refused == []
