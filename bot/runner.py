"""Start-up order for a live instance: protocol, migrations, bot identity, polling."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiohttp import ClientError

from bot.app import App, build_app
from bot.background import make_background
from bot.commands import set_default_commands
from bot.config import Settings
from flows.loader import ProtocolError, load_protocol
from store.migrate import upgrade_async

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something the operator must fix; the message is one line."""


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
    app = await start_app(settings)
    log.info("careloop started as @%s (polling)", app.bot_username)
    background = make_background(app.bot, app.sessions, app.protocol, settings, app.clock)
    try:
        await app.bot.delete_webhook(drop_pending_updates=False)
        await set_default_commands(app.bot)
        background.start()
        await app.dispatcher.start_polling(app.bot, handle_signals=True)
    finally:
        await background.stop()
        await app.close()
