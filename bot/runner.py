"""Start-up order for a live instance: protocol, migrations, bot identity, then updates by
long polling (the default) or by webhook (`WEBHOOK_URL`); and the orderly stop on SIGTERM.

Stopping, in both modes: stop taking updates, let the updates under way finish, let
the dispatcher finish its sends and give back the rows it claimed (Background.stop),
then close the Telegram and database sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import TelegramObject
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import ClientError, web

from bot.app import App, build_app
from bot.background import Background, make_background
from bot.commands import set_default_commands
from bot.config import Settings
from bot.desk.api import DeskContext
from bot.desk.menu import sync_desk_menus
from bot.desk.web import make_desk_app
from bot.desk.web import mount as mount_desk
from bot.metrics import Metrics
from bot.middlewares import HandledOnce
from bot.web import (
    UPDATES_GRACE_SECONDS,
    HealthCheck,
    WebhookHandler,
    health_max_age,
    make_public_app,
    make_web_app,
    serve,
    webhook_path,
)
from flows.loader import ProtocolError, load_protocol
from store.migrate import upgrade_async

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StartupError(Exception):
    """Something the operator must fix; the message is one line."""


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message.

    Only what the code logged goes in: the call sites log ids, never names or answers.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    """Switch the root handlers to JSON lines when `LOG_FORMAT=json`."""
    if settings.log_format != "json":
        return
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.log_level)
    formatter = JsonLogFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)
    logging.captureWarnings(True)  # warnings as log records, so every line stays JSON


class InFlightUpdates(BaseMiddleware):
    """Remembers the task handling each update, so a shutdown can wait for them.

    Waiting for the task, not for this middleware's call to return, also waits
    for the outer middlewares (the database session) to finish.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await handler(event, data)

    async def wait(self, grace: float) -> None:
        tasks = {t for t in self._tasks if t is not asyncio.current_task()}
        if not tasks:
            return
        log.info("waiting for %d update(s) being handled", len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=grace)
        if pending:
            log.warning("%d update(s) still running at shutdown", len(pending))


async def start_app(settings: Settings) -> App:
    try:
        load_protocol(settings.protocol_file)
    except ProtocolError as exc:
        raise StartupError(f"PROTOCOL_FILE: {exc}") from None
    try:
        await upgrade_async(settings.database_url)
    except Exception as exc:  # any driver error: say which setting to check
        raise StartupError(
            f"DATABASE_URL: cannot open or migrate the database ({type(exc).__name__}: {exc})"
        ) from None
    try:
        app = await build_app(settings)
    except TelegramUnauthorizedError:
        raise StartupError(
            "BOT_TOKEN: Telegram refused this token (check it with @BotFather)"
        ) from None
    except (TelegramAPIError, ClientError, OSError) as exc:
        raise StartupError(
            f"TELEGRAM_API_URL: cannot reach the Bot API at {settings.telegram_api_url} ({exc})"
        ) from None
    return app


async def run(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then stop in order; returns normally (exit code 0)."""
    configure_logging(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(sig, _stop_requested, sig, stop)
            installed.append(sig)
    try:
        await _run(settings, stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _stop_requested(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("received %s: stopping", sig.name)
    stop.set()


async def _run(settings: Settings, stop: asyncio.Event) -> None:
    app = await start_app(settings)
    metrics = Metrics()
    background = make_background(
        app.bot,
        app.sessions,
        app.protocol,
        settings,
        app.clock,
        wrap_delivery=lambda deliver: metrics.count_deliveries(deliver, app.clock),
    )
    health = HealthCheck(
        app.sessions,
        lambda: background.dispatcher.last_tick_ok,
        max_age=health_max_age(settings.dispatch_interval_seconds),
    )
    in_flight = InFlightUpdates()
    app.dispatcher.update.outer_middleware(in_flight)
    runner: web.AppRunner | None = None
    desk_runner: web.AppRunner | None = None
    desk = desk_app(app)
    try:
        if settings.health_port is not None:
            # the operator's server (/healthz, /metrics), never the public webhook port
            runner = await _listen(
                make_web_app(health, metrics, app.clock),
                settings.health_host,
                settings.health_port,
                "HEALTH_PORT",
            )
        public = make_public_app(health)
        if desk is not None and settings.webhook_url:
            mount_desk(public, desk)  # webhook mode: on the public server
        elif desk is not None:  # polling mode: a server of its own on DESK_PORT
            desk_site = web.Application()
            mount_desk(desk_site, desk)
            desk_runner = await _listen(
                desk_site, settings.desk_host, settings.desk_port, "DESK_PORT"
            )
        await sync_desk_menus(app.bot, app.sessions, settings.desk_url)
        if settings.webhook_url:
            await _run_webhook(app, background, public, metrics, stop)
        else:
            await _run_polling(app, background, stop)
        await in_flight.wait(UPDATES_GRACE_SECONDS)
    finally:
        if desk_runner is not None:
            await desk_runner.cleanup()
        await background.stop()
        if runner is not None:
            await runner.cleanup()
        await app.close()
        log.info("careloop stopped")


def desk_app(app: App) -> web.Application | None:
    """The desk (bot/desk/), when `DESK_URL` says where the clinic reaches it."""
    if app.settings.desk_url is None:
        return None
    return make_desk_app(
        lambda: DeskContext(
            app.sessions, app.settings, app.clock, app.bot, app.protocol, app.bot_username
        )
    )


async def _listen(web_app: web.Application, host: str, port: int, setting: str) -> web.AppRunner:
    try:
        return await serve(web_app, host, port)
    except OSError as exc:
        raise StartupError(f"{setting}: cannot listen on {host}:{port} ({exc})") from None


async def _run_polling(app: App, background: Background, stop: asyncio.Event) -> None:
    """Long polling until `stop`; returns once no more updates are being fetched."""
    await app.bot.delete_webhook(drop_pending_updates=False)
    await set_default_commands(app.bot)
    background.start()
    log.info("careloop started as @%s (polling)", app.bot_username)
    dp = app.dispatcher
    # the bot's session stays open: the dispatcher still sends while it drains
    polling = asyncio.create_task(
        dp.start_polling(app.bot, handle_signals=False, close_bot_session=False)
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not polling.done():
            try:
                await dp.stop_polling()
            except RuntimeError:  # stopped before polling had begun
                polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling


async def _run_webhook(
    app: App,
    background: Background,
    web_app: web.Application,
    metrics: Metrics,
    stop: asyncio.Event,
) -> None:
    """Serve the webhook (with /healthz) until `stop`; returns once the
    server has stopped listening and the updates it accepted have been handled."""
    settings = app.settings
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    handler = WebhookHandler(
        app.dispatcher,
        app.bot,
        secret_token=settings.webhook_secret,
        on_rejected=metrics.reject_webhook,
    )
    app.dispatcher["webhook_redelivers"] = True  # an outage answers 5xx: Telegram retries
    app.dispatcher.update.outer_middleware(HandledOnce(app.sessions))
    # registered before setup_application: on shutdown, updates under way finish
    # before the dispatcher's shutdown hooks close the FSM storage
    handler.register(web_app, path=webhook_path(settings.webhook_url))
    setup_application(web_app, app.dispatcher, bot=app.bot)
    await set_default_commands(app.bot)
    runner = await _listen(web_app, settings.webhook_host, settings.webhook_port, "WEBHOOK_PORT")
    try:
        try:
            await app.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=app.dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
            )
        except TelegramAPIError as exc:
            raise StartupError(f"WEBHOOK_URL: Telegram refused the webhook ({exc})") from None
        background.start()
        log.info(
            "careloop started as @%s (webhook, listening on %s:%d)",
            app.bot_username,
            settings.webhook_host,
            settings.webhook_port,
        )
        await stop.wait()
    finally:
        # stop listening first (Telegram keeps what it could not deliver), then wait
        # for the accepted updates; the webhook stays set for the other instances
        await runner.cleanup()
