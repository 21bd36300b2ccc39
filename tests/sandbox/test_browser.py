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

from tests.support.harness import ROOT
from tests.support.sandbox import running_sandbox, sandbox_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = ROOT / "docs" / "sandbox"
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright package")
expect = async_api.expect


def _exactly(label: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(label)}\s*$")


async def _type(pane, text: str) -> None:  # type: ignore[no-untyped-def]
    box = pane.locator(".composer input")
    await box.fill(text)
    await box.press("Enter")


async def _tap(pane, label: str) -> None:  # type: ignore[no-untyped-def]
    """Click the newest inline button labelled exactly `label` in this pane."""
    button = pane.locator("button.kb").filter(has_text=_exactly(label)).last
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


async def test_the_whole_journey_by_clicking(tmp_path: Path) -> None:
    async with (
        running_sandbox(sandbox_config(tmp_path)) as running,
        async_api.async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page_errors: list[object] = []
            page.on("pageerror", lambda error: page_errors.append(error))
            await page.goto(running.url)
            desk = page.locator('[data-pane="staff"]')
            patient = page.locator('[data-pane="patient"]')
            therapist = page.locator('[data-pane="therapist"]')
            await expect(desk.locator(".hint")).to_have_text("Front desk: type /enroll")
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
            await _tap(desk, "6")
            await expect(desk.locator(".chat")).to_contain_text("Zoë <Navarro> is enrolled")
            await expect(desk.locator(".kind-photo img")).to_be_visible()  # the QR code

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

            # the therapist gets the URGENT alert and acknowledges it
            alert = therapist.locator(".item").filter(has_text="URGENT")
            await expect(alert).to_contain_text("Zoë <Navarro>")
            await _tap(alert, "Acknowledge")
            await expect(alert).to_contain_text("Acknowledged by Theo Rapist")
            await expect(alert.locator(".edited")).to_be_visible()  # edited in place
            await expect(alert.locator("button.kb")).to_have_count(1)  # History only

            await expect(page.locator(".toast")).to_have_count(0)  # "Acknowledged ✓" faded
            SHOTS.mkdir(parents=True, exist_ok=True)
            await desk.screenshot(path=str(SHOTS / "front-desk.png"))
            await patient.screenshot(path=str(SHOTS / "patient.png"))
            await therapist.screenshot(path=str(SHOTS / "therapist.png"))
            await page.screenshot(path=str(SHOTS / "page.png"))
            assert page_errors == []
        finally:
            await browser.close()
        assert running.sandbox.fake.refused == []  # the bot made no call Telegram refuses
