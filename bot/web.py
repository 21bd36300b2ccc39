"""The instance's HTTP side (aiohttp): Telegram's webhook, `/healthz` and `/metrics`.

Two servers, two apps:

* the public one (`make_public_app`, webhook mode only) on `WEBHOOK_HOST:WEBHOOK_PORT`:
  the webhook route and `/healthz` for the load balancer's probe; other public routes
  are added to it the same way;
* the operator's one (`make_web_app`) on `HEALTH_HOST:HEALTH_PORT` (127.0.0.1 unless
  said otherwise), in either mode: `/healthz` and `/metrics`. The metrics tell how
  many alerts a clinic has open and how fast they are answered, which is nobody's
  business on the public port.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import text

from bot.metrics import CONTENT_TYPE, Metrics
from bot.resilience import WebhookOutage
from scheduler.clock import Clock
from scheduler.dispatcher import DB_ERRORS
from store.db import SessionFactory

log = logging.getLogger(__name__)

_UNAVAILABLE: tuple[type[BaseException], ...] = (*DB_ERRORS, TimeoutError)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_DB_TIMEOUT = 5.0
UPDATES_GRACE_SECONDS = 20.0
"""How long a shutdown waits for updates already being handled."""

LastTick = Callable[[], datetime | None]


def health_max_age(dispatch_interval_seconds: float) -> float:
    """How old the last dispatch pass may be for the instance to count as healthy."""
    return max(30.0, 10.0 * dispatch_interval_seconds)


def webhook_path(webhook_url: str) -> str:
    """The path Telegram will POST to: the path of `WEBHOOK_URL`."""
    return urlsplit(webhook_url).path or "/"


class HealthCheck:
    """Healthy = the database answers `SELECT 1` and dispatch passes keep succeeding.

    Before its first pass a new instance gets the same grace counted from its
    start, so a probe does not kill it while it is still coming up.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        last_tick: LastTick,
        *,
        max_age: float,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.last_tick = last_tick
        self.max_age = max_age
        self._wall = wall
        self._started = wall()

    async def database_ok(self) -> bool:
        try:
            async with asyncio.timeout(HEALTH_DB_TIMEOUT), self.sessions() as db:
                await (await db.connection()).execute(text("SELECT 1"))
        except _UNAVAILABLE as exc:
            log.warning("healthz: database unavailable (%s)", type(exc).__name__)
            return False
        return True

    async def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body)."""
        database = await self.database_ok()
        now, tick = self._wall(), self.last_tick()
        age = (now - tick).total_seconds() if tick is not None else None
        waited = age if age is not None else (now - self._started).total_seconds()
        healthy = database and waited <= self.max_age
        body = {
            "database": "ok" if database else "down",
            "dispatcher_last_tick": tick.isoformat() if tick is not None else None,
            "dispatcher_age_seconds": round(age, 3) if age is not None else None,
        }
        return (200 if healthy else 503), body


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler, answering Telegram only once the update has been handled.

    Handling before answering (not in the background) means a 200 promises the work is
    done: an instance killed mid-update never answered, so Telegram delivers the update
    again (to this instance restarted, or another one), and an update that met a database
    or Redis outage is answered 503 for the same reason (one warning line, no traceback).
    No inbox table is needed — Telegram already is the durable inbox — and the
    `update_id` record (`HandledOnce`), written only once the update was handled, makes
    the redelivery of an update that was in fact finished harmless; a handler met again
    after a kill must finish what the dead instance began (a stored answer's next
    question: bot/routers/checkin.py). Telegram waits up to 60 s for an answer; aiogram
    moves an update still running after 55 s to the background.

    A request without the right secret token gets 401 before its body is read,
    and is counted. A body that is not a Telegram update (not JSON, or JSON that
    does not validate as an `Update`) gets 400 and one log line, and nothing is
    started for it: aiogram's own handler would answer 500 with a traceback. Closing waits for the
    updates under way instead of closing the bot's session: the dispatcher still
    needs it to finish its sends.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        secret_token: str,
        on_rejected: Callable[[], None],
        **data: Any,
    ) -> None:
        super().__init__(
            dispatcher, bot, handle_in_background=False, secret_token=secret_token, **data
        )
        self._on_rejected = on_rejected

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        expected = (self.secret_token or "").encode()
        # bytes: compare_digest refuses non-ASCII str, and a forged header may carry some
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        if expected and secrets.compare_digest(given, expected):
            return True
        self._on_rejected()
        log.warning("webhook: refused a request without the right secret token")
        return False

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        update = await self._read_update(bot, request)
        if update is None:
            return web.json_response(
                {"ok": False, "description": "Bad Request: the body is not a Telegram update"},
                status=400,
            )
        outage = WebhookOutage()  # the outage handler (bot/app.py) notes one here
        result: TelegramMethod[Any] | None = await self.dispatcher.feed_webhook_update(
            bot, update, webhook_outage=outage, **self.data
        )
        if outage.seen:  # not handled: a 5xx, and Telegram delivers the update again
            return web.json_response(
                {"ok": False, "description": "Service Unavailable: send the update again"},
                status=503,
            )
        return web.Response(body=self._build_response_writer(bot=bot, result=result))

    async def _read_update(self, bot: Bot, request: web.Request) -> Update | None:
        """The request's update, or None (logged once, without the body: it may carry
        what a person typed)."""
        try:
            raw = await request.read()
            payload = bot.session.json_loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError: ValueError
            log.warning("webhook: refused a request whose body is not JSON")
            return None
        if not isinstance(payload, dict):
            log.warning("webhook: refused a JSON body that is not an object")
            return None
        try:
            return Update.model_validate(payload, context={"bot": bot})
        except ValidationError as exc:
            log.warning("webhook: refused a JSON body that is not an update (%d errors)",
                        exc.error_count())
            return None

    async def close(self) -> None:
        tasks = set(self._background_feed_update_tasks)
        if not tasks:
            return
        log.info("webhook: waiting for %d update(s) being handled", len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=UPDATES_GRACE_SECONDS)
        if pending:
            log.warning("webhook: %d update(s) still running at shutdown", len(pending))


def _healthz(health: HealthCheck) -> Callable[[web.Request], Any]:
    async def healthz(request: web.Request) -> web.Response:
        status, body = await health.report()
        return web.json_response(body, status=status)

    return healthz


def make_public_app(health: HealthCheck) -> web.Application:
    """The app on the public port: `/healthz` only; the webhook route (and any other
    public route) is added to it. Never `/metrics`."""
    app = web.Application()
    app.router.add_get("/healthz", _healthz(health))
    return app


def make_web_app(health: HealthCheck, metrics: Metrics, clock: Clock) -> web.Application:
    """The operator's app, on `HEALTH_HOST:HEALTH_PORT`: `/healthz` and `/metrics`."""

    async def scrape(request: web.Request) -> web.Response:
        await metrics.refresh(health.sessions, clock, health.last_tick)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/healthz", _healthz(health))
    app.router.add_get("/metrics", scrape)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start listening; `await runner.cleanup()` stops (listening first, then the app)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
