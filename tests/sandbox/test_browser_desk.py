"""The desk Mini App in a real browser (Debian's headless chromium), inside the sandbox.

A patient reports a red flag in the Patient pane; the URGENT card reaches the therapist
with an "Open desk" button; the desk opens inside the pane as Telegram would (initData
signed by the sandbox's Bot API, the stand-in for window.Telegram.WebApp), the therapist
acknowledges the alert there, and the chat card is edited too: one truth for both.
Every wait is for text in the page, never a sleep. The screenshots it leaves in
docs/desk/ (the queue at 360 px, light and dark; the sandbox with the desk open) are
the ones the README shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from sandbox.people import ADMIN, PATIENT, STAFF, THERAPIST, sim_user
from tests.support.browser import exactly, needs_chromium, sandbox_in_browser
from tests.support.e2e import answer_all, chooser
from tests.support.harness import ROOT

SHOTS = ROOT / "docs" / "desk"
PHONE = {"width": 360, "height": 740}
DARK = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
    "section_bg_color": "#232e3c",
}
LIGHT = {
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#999999",
    "link_color": "#2481cc",
    "button_color": "#2481cc",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#efeff3",
    "section_bg_color": "#f4f4f7",
}

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright package")
expect = async_api.expect


async def _tap(pane, label: str) -> None:  # type: ignore[no-untyped-def]
    button = pane.locator("button.kb").filter(has_text=exactly(label)).last
    await expect(button).to_be_enabled()
    await button.click()


async def _report_chest_pain(patient) -> None:  # type: ignore[no-untyped-def]
    """/symptom from the menu, calm answers, then Yes to the chest question."""
    await patient.locator(".menu .chip").filter(has_text=exactly("/symptom")).click()
    report = patient.locator(".item").filter(has_text="Report a new symptom")
    for _ in range(6):
        await expect(report.locator("button.kb").first).to_be_enabled()
        question = (await report.locator(".text").inner_text()).splitlines()[-1]
        labels = [t.strip() for t in await report.locator("button.kb").all_inner_texts()]
        if "chest" in question.lower():
            await _tap(report, "Yes")
            return
        if "✅ Done" in labels:
            await _tap(report, "☐ Nothing new")
            await expect(
                report.locator("button.kb").filter(has_text="☑ Nothing new")
            ).to_be_visible()
            await _tap(report, "✅ Done")
        else:
            await _tap(report, "No" if "No" in labels else labels[0])
        await expect(report).not_to_contain_text(question)
    raise AssertionError("the symptom report never asked the chest question")


async def _phone_shot(
    browser,
    url: str,
    opened: dict[str, str],
    theme: dict[str, str],
    name: str,
    *,
    view: str = "alerts",
) -> None:  # type: ignore[no-untyped-def]
    """The desk alone at phone width, launched with `theme` as Telegram would."""
    fragment = urlencode(
        {
            "tgWebAppData": opened["init_data"],
            "tgWebAppVersion": "7.0",
            "tgWebAppPlatform": "sandbox",
            "tgWebAppThemeParams": json.dumps(theme),
        }
    )
    phone = await browser.new_page(viewport=PHONE)
    try:
        await phone.goto(f"{url}{opened['path']}#{fragment}")
        if view == "enroll":  # the front desk's screen, filled in, not sent
            await phone.locator("#enroll-name").fill("Ana Ruiz")
            await phone.locator("#enroll-regions label", has_text="Piriformis").click()
            await phone.locator("#enroll-legs label", has_text="No").click()
            await phone.locator(
                "#enroll-screening label", has_text="First-ever dry needling"
            ).click()
            await phone.locator("#enroll-baseline label").filter(has_text=exactly("7")).click()
            await expect(phone.locator("#enroll-baseline input:checked")).to_have_value("7")
            await phone.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top
            await phone.screenshot(path=str(SHOTS / name), full_page=True)
            return
        if view in ("followup", "session", "discharge"):  # the front desk's follow-up screens
            await phone.locator("#tab-followup").click()
            found = phone.locator("#followup .card")
            await expect(found).to_have_count(1)
            if view == "session":
                await found.locator("button", has_text="Record a session").click()
                await expect(phone.locator("#session-regions input:checked")).to_have_count(1)
            if view == "discharge":
                await found.locator("button", has_text="Discharge").click()
                await expect(phone.locator("#discharge-confirm")).to_be_enabled()
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"]
            await phone.screenshot(path=str(SHOTS / name), full_page=True)
            return
        await expect(phone.locator("#alerts .card")).to_have_count(1)
        if view != "alerts":
            await phone.locator("#tab-patients").click()
            await expect(phone.locator("#patients .card")).to_have_count(1)
        if view == "patient":
            await phone.locator("#patients .card").click()
            await expect(phone.locator("#chart circle").first).to_be_visible()
            await phone.locator("#chart circle").last.hover()
            await expect(phone.locator("#readout")).to_contain_text("/10 ·")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]  # nothing wider than the phone
        await phone.screenshot(path=str(SHOTS / name), full_page=True)
    finally:
        await phone.close()


async def test_the_therapist_acknowledges_in_the_desk_and_the_chat_card_follows(
    tmp_path: Path,
) -> None:
    async with sandbox_in_browser(tmp_path) as session:
        running, browser, page = session.running, session.browser, session.page
        fake = running.sandbox.fake
        patient = page.locator('[data-pane="patient"]')
        therapist = page.locator('[data-pane="therapist"]')
        front_desk = page.locator('[data-pane="staff"]')
        # the desk is the staff's menu button; the patient has none
        await expect(therapist.locator(".menu-button")).to_have_text("Desk")
        await expect(front_desk.locator(".menu-button")).to_have_text("Desk")
        await expect(patient.locator(".menu-button")).to_be_hidden()

        # the front desk enrolls on one screen, in the desk
        await front_desk.locator(".menu-button").click()
        form = front_desk.frame_locator(".webapp-frame")
        therapist_choice = form.locator("#enroll-therapist option:checked")
        await expect(therapist_choice).to_have_text("Theo Rapist")  # the only one
        await form.locator("#enroll-name").fill("Zoë <Navarro>")  # once the form is loaded
        await form.locator("#enroll-when label", has_text="30 min ago").click()
        await form.locator("#enroll-regions label", has_text="Upper back / chest wall").click()
        # the chat's /enroll questions: both must be answered
        await form.locator("#enroll-legs label", has_text="No").click()
        await form.locator("#enroll-screening label", has_text="Takes anticoagulants").click()
        await form.locator("#enroll-screening label", has_text="None of these").click()
        await expect(form.locator('#enroll-screening input[name="screen"]:checked')).to_have_count(
            0
        )  # "None of these" unticks the facts
        await form.locator("#enroll-screening label", has_text="Takes anticoagulants").click()
        await expect(form.locator("#enroll-screen-none")).not_to_be_checked()
        await form.locator("#enroll-baseline label").filter(has_text=exactly("6")).click()
        SHOTS.mkdir(parents=True, exist_ok=True)
        await front_desk.screenshot(path=str(SHOTS / "enroll-pane.png"))
        await expect(front_desk.locator(".webapp-main")).to_have_text("Enroll")
        await expect(form.locator("#enroll-submit")).to_be_hidden()  # the MainButton is it
        await front_desk.locator(".webapp-main").click()
        await expect(form.locator("#enrolled-title")).to_have_text("Zoë <Navarro> is enrolled")
        await expect(form.locator("#enrolled-qr")).to_be_visible()
        await expect(form.locator("#enrolled-link")).to_contain_text("?start=")
        await expect(front_desk.locator(".webapp-main")).to_be_hidden()
        await form.locator("#enrolled-send").click()
        await expect(form.locator("#toast")).to_have_text(
            "The join link and its QR code are in your chat with the bot."
        )
        await front_desk.locator(".webapp-close").click()

        # the patient opens the link from the front desk's chat and consents
        await expect(front_desk.locator(".kind-photo img")).to_be_visible()  # the QR code
        await front_desk.locator("a.deeplink").last.click()
        await _tap(patient, "I agree")
        await expect(patient.locator(".chat")).to_contain_text("Thank you")
        # the first check-in, answered (soreness 4), so the chart has a point to read
        zoe = sim_user(fake, PATIENT)
        # session 1's aftercare comes at once (consent); the jump is to the check-in
        await zoe.wait_for(lambda m: m.text.startswith("After your session 1"))
        mark = zoe.mark()
        await running.sandbox.jump()
        first = await zoe.wait_for(
            lambda m: m.reply_markup is not None and m.text.startswith("A quick check"),
            after=mark,
        )
        await answer_all(zoe, first, chooser({"sore": "4"}))

        # the front desk records session 2 in the desk: found by name, last regions ticked
        await front_desk.locator(".menu-button").click()
        fd = front_desk.frame_locator(".webapp-frame")
        await fd.locator("#tab-followup").click()
        await fd.locator("#followup-search").fill("zoe")
        found = fd.locator("#followup .card")
        await expect(found).to_have_count(1)
        await expect(found).to_contain_text("Zoë <Navarro> (#1)")
        await expect(found).to_contain_text("1 session(s)")
        await found.locator("button", has_text="Record a session").click()
        await expect(fd.locator("#session-name")).to_have_text("Zoë <Navarro> (#1)")
        ticked = fd.locator("#session-regions label:has(input:checked)")
        await expect(ticked).to_have_text([exactly("Upper back / chest wall")])
        await expect(front_desk.locator(".webapp-main")).to_have_text("Record session")
        await front_desk.locator(".webapp-main").click()
        await expect(fd.locator("#notice")).to_contain_text("Session 2 recorded for Zoë <Navarro>.")
        await expect(found).to_contain_text("2 session(s)")
        await front_desk.locator(".webapp-close").click()

        await _report_chest_pain(patient)
        await expect(patient.locator(".chat")).to_contain_text("112")
        card = therapist.locator(".item").filter(has_text="URGENT")
        await expect(card).to_contain_text("Zoë <Navarro>")
        await expect(card.locator("button.kb")).to_have_text(
            [exactly("Acknowledge"), exactly("History"), exactly("Open desk")]
        )
        await expect(patient.locator("button.kb.opens-web-app")).to_have_count(0)

        # the queue at phone width, light and dark, as the therapist's initData opens it
        opened = await page.evaluate(
            """async (chat_id) => (await fetch("/api/webapp", {method: "POST",
               headers: {"Content-Type": "application/json"},
               body: JSON.stringify({chat_id})})).json()""",
            THERAPIST.user_id,
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        await _phone_shot(browser, running.url, opened, LIGHT, "queue-light.png")
        await _phone_shot(browser, running.url, opened, DARK, "queue-dark.png")
        desk_opened = await page.evaluate(
            """async (chat_id) => (await fetch("/api/webapp", {method: "POST",
               headers: {"Content-Type": "application/json"},
               body: JSON.stringify({chat_id})})).json()""",
            STAFF.user_id,
        )
        for theme, suffix in ((LIGHT, "light"), (DARK, "dark")):
            await _phone_shot(
                browser, running.url, desk_opened, theme, f"enroll-{suffix}.png", view="enroll"
            )
            for view in ("patients", "patient"):
                shot = f"{view}-{suffix}.png"
                await _phone_shot(browser, running.url, opened, theme, shot, view=view)
        for view in ("followup", "session", "discharge"):
            shot = f"{view}-light.png"
            await _phone_shot(browser, running.url, desk_opened, LIGHT, shot, view=view)
        refused = await page.evaluate(
            """async (chat_id) => (await fetch("/api/webapp", {method: "POST",
               headers: {"Content-Type": "application/json"},
               body: JSON.stringify({chat_id})})).status""",
            PATIENT.user_id,
        )
        assert refused == 409  # a patient has no desk to open

        # Open desk, inside the pane; acknowledge there
        await _tap(card, "Open desk")
        desk = therapist.frame_locator(".webapp-frame")
        item = desk.locator("#alerts .card.urgent")
        await expect(item).to_contain_text("Zoë <Navarro> (#1)")
        await expect(item).to_contain_text("Chest pain")
        await expect(therapist.locator(".webapp-main")).to_have_text("My patients")
        await page.screenshot(path=str(SHOTS / "sandbox-desk.png"))
        await item.locator("button", has_text="Acknowledge").click()
        await expect(desk.locator("#toast")).to_have_text("Acknowledged ✓")
        await expect(desk.locator("#alerts-empty")).to_be_visible()

        # the MainButton and BackButton work through the pane, as in Telegram
        await therapist.locator(".webapp-main").click()
        await expect(desk.locator("#patients .card")).to_contain_text("Zoë <Navarro>")
        await expect(therapist.locator(".webapp-back")).to_be_visible()
        await therapist.locator(".webapp-back").click()
        await expect(desk.locator("#view-alerts")).to_be_visible()

        # the patient page: the chart reads an answer, the export goes to the chat
        await therapist.locator(".webapp-main").click()
        await desk.locator("#patients .card").click()
        await expect(desk.locator("#patient-name")).to_have_text("Zoë <Navarro> (#1)")
        await desk.locator("#chart circle.dot-soreness").first.hover()
        await expect(desk.locator("#readout")).to_contain_text("Soreness 4/10")
        await expect(desk.locator("#answers tbody tr").first).to_be_visible()
        main = therapist.locator(".webapp-main")
        await expect(main).to_have_text("Send CSV + FHIR to my chat")
        await main.click()
        await expect(desk.locator("#toast")).to_have_text(
            "CSV and FHIR files sent to your chat with the bot."
        )
        await therapist.locator(".webapp-back").click()
        await expect(desk.locator("#view-patients")).to_be_visible()
        await therapist.locator(".webapp-close").click()
        await expect(therapist.locator(".kind-document")).to_have_count(2)

        # one truth: the card in the chat was edited by the same acknowledgement
        await expect(card).to_contain_text("Acknowledged by Theo Rapist")
        await expect(card.locator(".edited")).to_be_visible()
        await expect(card.locator("button.kb")).to_have_text(
            [exactly("History"), exactly("Open desk")]
        )

        # the front desk discharges in the desk: what is still open, then a confirmation
        await front_desk.locator(".menu-button").click()
        fd = front_desk.frame_locator(".webapp-frame")
        await fd.locator("#tab-followup").click()
        await fd.locator("#followup .card button", has_text="Discharge").click()
        await expect(fd.locator("#discharge-name")).to_have_text("Discharge Zoë <Navarro> (#1)?")
        await expect(fd.locator("#discharge-lines")).to_contain_text("Still open:")
        await expect(fd.locator("#discharge-lines")).to_contain_text("planned")
        await expect(front_desk.locator(".webapp-main")).to_be_hidden()
        await fd.locator("#discharge-confirm").click()
        await expect(fd.locator("#notice")).to_have_text(
            "Zoë <Navarro> is discharged; they got a closing message with their exercises."
        )
        await expect(fd.locator("#followup-empty")).to_be_visible()
        await front_desk.locator(".webapp-close").click()
        await expect(patient.locator(".chat")).to_contain_text("Your follow-up with")
        assert session.errors == []
        assert fake.refused == []


# ------------------------------------------------------------------ the admin's screens


async def _admin_phone_shot(browser, url: str, opened: dict[str, str], view: str) -> None:  # type: ignore[no-untyped-def]
    """The admin's staff list or audit log alone at phone width, light, into docs/desk/."""
    fragment = urlencode(
        {
            "tgWebAppData": opened["init_data"],
            "tgWebAppVersion": "7.0",
            "tgWebAppPlatform": "sandbox",
            "tgWebAppThemeParams": json.dumps(LIGHT),
        }
    )
    phone = await browser.new_page(viewport=PHONE)
    try:
        await phone.goto(f"{url}{opened['path']}#{fragment}")
        await phone.locator(f"#tab-{view}").click()
        rows = "#staff .card" if view == "staff" else "#audit li"
        await expect(phone.locator(rows).first).to_be_visible()
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]  # nothing wider than the phone
        await phone.screenshot(path=str(SHOTS / f"{view}-light.png"), full_page=True)
    finally:
        await phone.close()


async def test_the_admin_invites_deactivates_and_reads_the_audit_log_in_the_desk(
    tmp_path: Path,
) -> None:
    async with sandbox_in_browser(tmp_path) as session:
        running, browser, page = session.running, session.browser, session.page
        fake = running.sandbox.fake
        await page.locator("#show-admin").check()  # the "Admin" switch
        admin = page.locator('[data-pane="admin"]')
        therapist = page.locator('[data-pane="therapist"]')
        await admin.locator(".menu-button").click()
        desk = admin.frame_locator(".webapp-frame")

        # a therapist's desk has no admin tabs; the admin's has both
        await therapist.locator(".menu-button").click()
        theirs = therapist.frame_locator(".webapp-frame")
        await expect(theirs.locator("#tab-alerts")).to_be_visible()
        await expect(theirs.locator("#tab-staff")).to_be_hidden()
        await expect(theirs.locator("#tab-audit")).to_be_hidden()
        await therapist.locator(".webapp-close").click()

        # the staff list: roles, state, last activity; no Deactivate for the admin
        await desk.locator("#tab-staff").click()
        staff = desk.locator("#staff .card")
        await expect(staff).to_have_count(3)
        sam = staff.filter(has_text="Sam Desk")
        await expect(sam).to_contain_text("front-desk staff member · active · last seen")
        ada = staff.filter(has_text="Ada Admin")
        await expect(ada.locator("button")).to_have_count(0)
        await expect(desk.locator("#reassign .card")).to_have_count(0)
        await expect(desk.locator("#reassign-empty")).to_be_visible()

        # an invitation: the one-time link shown, then sent to the admin's chat
        await desk.locator("#invite-roles button", has_text="Therapist").click()
        await expect(desk.locator("#invited-title")).to_have_text("Invitation for a new therapist")
        await expect(desk.locator("#invited-link")).to_contain_text("?start=")
        link = await desk.locator("#invited-link").inner_text()
        await desk.locator("#invited-send").click()
        await expect(desk.locator("#toast")).to_have_text(
            "The invitation link is in your chat with the bot."
        )

        # deactivating the front desk: the chat's confirmation, then done once
        await sam.locator("button", has_text="Deactivate").click()
        await expect(sam.locator(".confirm")).to_contain_text(
            "Turn off the access of Sam Desk (front-desk staff member)?"
        )
        await expect(sam.locator(".confirm")).to_contain_text(
            "0 open alert(s) go to the other therapists and the admins"
        )
        await sam.locator("button", has_text="Yes, deactivate").click()
        await expect(desk.locator("#toast")).to_have_text(
            "Sam Desk is deactivated. 0 open alerts: passed to the other therapists."
        )
        await expect(sam).to_contain_text("inactive since")
        await expect(sam.locator("button")).to_have_count(0)
        await _admin_phone_shot(browser, running.url, await _open_for(page, ADMIN.user_id), "staff")

        # the audit log: filtered by action; a bad filter is refused in words
        await desk.locator("#tab-audit").click()
        await expect(desk.locator("#audit li").first).to_be_visible()
        await desk.locator("#audit-action").select_option("staff_deactivated")
        await desk.locator("#audit-apply").click()
        rows = desk.locator("#audit li")
        await expect(rows).to_have_count(1)
        await expect(rows).to_contain_text("staff_deactivated · staff #")
        await expect(rows).not_to_contain_text("Sam")  # ids and actions only
        await desk.locator("#audit-actor").fill("Ada")
        await desk.locator("#audit-apply").click()
        await expect(desk.locator("#notice")).to_have_text("The actor must be a number, e.g. 12.")
        await expect(rows).to_have_count(1)  # the rows shown stay as they were
        await _admin_phone_shot(browser, running.url, await _open_for(page, ADMIN.user_id), "audit")
        await admin.locator(".webapp-close").click()
        # the invitation reached the admin's chat, as /invite words it
        await expect(admin.locator(".chat")).to_contain_text(link)
        assert session.errors == []
        assert fake.refused == []


async def _open_for(page, chat_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What the sandbox's Bot API hands a Mini App opened in `chat_id`'s chat."""
    opened: dict[str, str] = await page.evaluate(
        """async (chat_id) => (await fetch("/api/webapp", {method: "POST",
           headers: {"Content-Type": "application/json"},
           body: JSON.stringify({chat_id})})).json()""",
        chat_id,
    )
    return opened
