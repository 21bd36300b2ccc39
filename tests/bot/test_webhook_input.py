"""What the webhook does with a body that is not a Telegram update (issue 11, item 6).

The request carries the right secret — a misconfigured proxy, a replay tool, a bug on
the caller's side — so it gets past the 401. Before: malformed JSON answered 500 with a
traceback in the log; JSON that is not an update answered 200 and left "Task exception
was never retrieved" behind. Now: 400, one log line without the body, nothing handled,
the database unchanged — and a real update on the same server is still handled.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.app import App, build_app
from bot.metrics import Metrics
from bot.web import SECRET_HEADER, HealthCheck, WebhookHandler, make_public_app, serve
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import snapshot
from tests.support.harness import ADMIN_ID, settings_for
from tests.support.process import forged_start

SECRET = "careloop-webhook-input-secret-0123456789"


class Server:
    def __init__(self, app: App, handler: WebhookHandler, url: str) -> None:
        self.app, self.handler, self.url = app, handler, url

    async def post(self, body: bytes) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                self.url,
                data=body,
                headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
            ) as resp:
                return resp.status, await resp.text()

    async def settled(self) -> None:
        """Every background update finished, and collected: an exception nobody
        retrieved is reported to the loop's handler when its task is garbage."""
        tasks = set(self.handler._background_feed_update_tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        await asyncio.sleep(0)
        gc.collect()


@pytest.fixture
async def server(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Server]:
    """The webhook route on the public app, in this loop, against the strict fake."""
    settings = settings_for(fake, sqlite_url, WEBHOOK_URL="https://bot.example.org/tg",
                            WEBHOOK_SECRET=SECRET)
    app = await build_app(settings)
    health = HealthCheck(app.sessions, lambda: None, max_age=60)
    handler = WebhookHandler(
        app.dispatcher, app.bot, secret_token=SECRET, on_rejected=Metrics().reject_webhook
    )
    web_app = make_public_app(health)
    handler.register(web_app, path="/tg")
    runner = await serve(web_app, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        yield Server(app, handler, f"http://127.0.0.1:{port}/tg")
    finally:
        await runner.cleanup()
        await app.close()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler during the test."""
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


def help_from_admin(update_id: int) -> dict[str, Any]:
    update = forged_start(ADMIN_ID)
    update["update_id"] = update_id
    update["message"]["text"] = "/help"
    update["message"]["entities"][0]["length"] = 5
    return update


NOT_JSON = [
    b"{not json",
    b'{"update_id": 1, "message": ',
    b"\xff\xfe\x00garbage",
    b"",
]
NOT_AN_UPDATE = [
    b"[]",
    b'{"foo": 1}',
    b'{"update_id": "x"}',
    b'"a string"',
    b'{"update_id": 7, "message": {"text": "Maria Lopez 555-1234"}}',
]


@pytest.mark.parametrize("body", NOT_JSON + NOT_AN_UPDATE)
async def test_a_body_that_is_not_an_update_gets_400_and_one_line(
    server: Server,
    fake: FakeBotAPI,
    sqlite_url: str,
    loop_errors: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    before = await snapshot(sqlite_url)
    sent_before = len(fake.requests)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    status, text = await server.post(body)
    await server.settled()

    assert status == 400
    assert "not a Telegram update" in text
    assert "Traceback" not in text
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].name == "bot.web" and lines[0].exc_info is None
    assert "Maria" not in lines[0].getMessage() and "555" not in lines[0].getMessage()
    assert loop_errors == []
    assert len(fake.requests) == sent_before  # nothing was sent to Telegram for it
    assert await snapshot(sqlite_url) == before


async def test_a_real_update_after_bad_ones_is_still_handled(
    server: Server, fake: FakeBotAPI, loop_errors: list[dict[str, Any]]
) -> None:
    admin = fake.user(ADMIN_ID, "Adelaide")
    admin.started = True  # the chat exists: the update below comes straight to the webhook
    for body in (b"[]", b"{broken"):
        assert (await server.post(body))[0] == 400
    status, _ = await server.post(json.dumps(help_from_admin(880_001)).encode())
    assert status == 200
    reply = await admin.wait_for(lambda m: "/invite" in m.text, timeout=30)
    assert reply.chat_id == ADMIN_ID
    await server.settled()
    assert loop_errors == []
    assert fake.refused == []
