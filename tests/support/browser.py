"""The sandbox page in Debian's headless Chromium, for the browser tests: the sandbox on
a free port, the page opened at desktop size with one timeout for every wait, and the
page's script errors collected (a test ends asserting there were none)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.sandbox import RunningSandbox, running_sandbox, sandbox_config

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
TIMEOUT_MS = 20_000

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)


def exactly(label: str) -> re.Pattern[str]:
    """A button's label, whole (not "☐ Nothing new" for "Nothing new")."""
    return re.compile(rf"^\s*{re.escape(label)}\s*$")


@dataclass
class OpenedSandbox:
    running: RunningSandbox
    browser: Any  # playwright's Browser
    page: Any  # playwright's Page, on the sandbox's page
    errors: list[object] = field(default_factory=list)  # the page's script errors


@asynccontextmanager
async def sandbox_in_browser(tmp_path: Path) -> AsyncIterator[OpenedSandbox]:
    """A fresh sandbox, and its page open in Chromium at 1440 × 900."""
    async_api = pytest.importorskip("playwright.async_api", reason="needs playwright")
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
            async_api.expect.set_options(timeout=TIMEOUT_MS)
            opened = OpenedSandbox(running, browser, page)
            page.on("pageerror", lambda error: opened.errors.append(error))
            await page.goto(running.url)
            yield opened
        finally:
            await browser.close()
