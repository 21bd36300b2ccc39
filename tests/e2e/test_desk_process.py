"""The real `python -m bot` serves the desk: on DESK_PORT in polling mode, on the webhook
port in webhook mode; the page loads Telegram's script, and the API asks who is calling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from sandbox.botapi.webapp import sign_init_data
from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from store.models import Role, StaffMember
from tests.fakebot import FakeBotAPI
from tests.support.harness import bot_process
from tests.support.process import free_port

DESK_URL = "https://clinic.example/desk/"
SECRET = "careloop-Webhook_secret-42-0123456789abcdef"
STRANGER = 987654
THEO = 2000


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET, retried while the server is still coming up."""
    for _ in range(200):
        try:
            async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
                return r.status, await r.text()
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens at {url}")


async def _assert_desk_served(fake: FakeBotAPI, base: str) -> None:
    status, page = await _get(f"{base}/desk/")
    assert status == 200
    assert '<script src="https://telegram.org/js/telegram-web-app.js"></script>' in page
    status, script = await _get(f"{base}/desk/static/desk.js")
    assert status == 200 and "tma " in script
    assert (await _get(f"{base}/desk/api/alerts"))[0] == 401
    data = sign_init_data(
        fake.token, {"id": STRANGER, "first_name": "X"}, auth_date=datetime.now(UTC)
    )
    status, body = await _get(f"{base}/desk/api/alerts", {"Authorization": f"tma {data}"})
    assert (status, body) == (403, '{"error":"Sorry, that is not available to you."}')


async def test_polling_mode_serves_the_desk_on_desk_port(fake: FakeBotAPI, tmp_path: Path) -> None:
    """…and a therapist registered before the desk was configured gets its menu button
    at the start, without writing to the bot."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    await upgrade_async(db_url)
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        theo = StaffMember(
            tg_user_id=THEO, role=Role.THERAPIST, name="Theo", created_at=datetime.now(UTC)
        )
        db.add(theo)
        await db.commit()
    await engine.dispose()
    fake.user(THEO, "Theo")  # their chat with the bot exists
    port = free_port()
    extra = {"DESK_URL": DESK_URL, "DESK_PORT": str(port), "DESK_HOST": "127.0.0.1"}
    async with bot_process(fake, db_url, tmp_path, extra):
        await _assert_desk_served(fake, f"http://127.0.0.1:{port}")
        await fake.wait_until(lambda: f"chat:{THEO}" in fake.menu_buttons, timeout=30)
        assert fake.menu_buttons[f"chat:{THEO}"]["web_app"] == {"url": DESK_URL}


async def test_webhook_mode_serves_the_desk_on_the_webhook_port(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    await upgrade_async(db_url)
    port = free_port()
    extra = {
        "DESK_URL": DESK_URL,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/tg",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_HOST": "127.0.0.1",
    }
    async with bot_process(fake, db_url, tmp_path, extra):
        await _assert_desk_served(fake, f"http://127.0.0.1:{port}")
