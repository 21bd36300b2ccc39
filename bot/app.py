"""Wiring: settings → engine, clock, protocol, bot, dispatcher (and later the scheduler)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import ErrorEvent
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.filters import IN_PRIVATE_CHAT, ON_PRIVATE_MESSAGE
from bot.middlewares import DbSessionMiddleware, IdentityMiddleware
from bot.resilience import FallbackStorage, WebhookOutage, is_outage, reply_try_again
from bot.response_types import pin_response_types
from bot.routers import (
    admin,
    checkin,
    consent,
    enroll,
    exercises,
    fallback,
    group,
    patient,
    programme,
    records,
    staff,
    start,
    therapist,
)
from bot.typed import ControlCharsMiddleware
from care.alerts import AlertPolicy
from flows.loader import load_protocol
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.db import SessionFactory, create_engine, session_factory

log = logging.getLogger(__name__)


@dataclass
class App:
    """Everything one running instance holds."""

    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    sessions: SessionFactory
    clock: Clock
    protocol: Protocol
    bot_username: str = ""
    extras: dict[str, object] = field(default_factory=dict)

    async def close(self) -> None:
        await self.bot.session.close()
        await self.engine.dispose()


def make_bot(settings: Settings) -> Bot:
    pin_response_types()
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        token=settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def alert_policy(settings: Settings, protocol: Protocol) -> AlertPolicy:
    return AlertPolicy.of(
        protocol,
        escalation_minutes=settings.escalation_minutes,
        alert_chat_id=settings.alert_chat_id,
        clinic_tz=settings.clinic_timezone,
    )


REDIS_TIMEOUT_SECONDS = 2.0
"""A Redis that stopped answering costs an update this long before memory takes over."""


def make_storage(settings: Settings) -> BaseStorage:
    """Conversation state: in memory for one instance, Redis for several (falling back to
    memory while Redis cannot be reached: bot/resilience.py says the trade-off)."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        redis = RedisStorage.from_url(
            settings.redis_url,
            connection_kwargs={
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            },
        )
        return FallbackStorage(redis)
    return MemoryStorage()


def make_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One update per person at a time: two copies of a tap (a double tap, regions at
    /enroll) would otherwise both read the conversation — and the database — before
    either wrote, and both act. In memory aiogram's lock per chat; with Redis a lock
    across all instances (a local one while Redis is down). The database still decides
    every once-only change (invariant 9): a lock does not reach a second account."""
    if isinstance(storage, FallbackStorage):
        return storage.create_isolation()
    return SimpleEventIsolation()


def private_routers() -> Router:
    """Every conversation of the bot, under one router that takes private chats only
    (invariant 10): a command, a typed word or a button in a group never reaches them, so
    nothing is answered into a group and nothing typed there is stored."""
    private = Router(name="private")
    private.message.filter(IN_PRIVATE_CHAT)
    private.callback_query.filter(ON_PRIVATE_MESSAGE)
    private.message.middleware(ControlCharsMiddleware())  # before any handler stores words
    private.include_routers(
        start.make_router(),
        programme.make_router(),  # before the others: a typed dosage is its state's
        exercises.make_router(),
        admin.make_router(),
        staff.make_router(),
        enroll.make_router(),
        consent.make_router(),
        checkin.make_router(),
        patient.make_router(),
        records.make_router(),
        therapist.make_router(),
        fallback.make_router(),
    )
    return private


def make_dispatcher(
    settings: Settings, sessions: SessionFactory, clock: Clock, protocol: Protocol
) -> Dispatcher:
    storage = make_storage(settings)
    dp = Dispatcher(
        storage=storage,
        events_isolation=make_isolation(storage),
        settings=settings,
        clock=clock,
        protocol=protocol,
        policy=alert_policy(settings, protocol),
    )
    dp.update.outer_middleware(DbSessionMiddleware(sessions))
    dp.update.outer_middleware(IdentityMiddleware(settings, clock))
    dp.include_routers(private_routers(), group.make_router())
    dp.errors.register(_on_outage, lambda event: is_outage(event.exception))
    dp.errors.register(_log_error)
    return dp


async def _on_outage(
    event: ErrorEvent,
    bot: Bot,
    webhook_redelivers: bool = False,
    webhook_outage: WebhookOutage | None = None,
) -> bool:
    """The database or Redis is down: never a silent loss. In webhook mode the webhook
    answers 503 (told through `webhook_outage`) and Telegram delivers the update again;
    otherwise the person is asked to send it again in a minute (a button gets that as its
    toast)."""
    log.warning(
        "update %s not handled: storage unavailable (%s)",
        event.update.update_id,
        type(event.exception).__name__,
    )
    if webhook_outage is not None:
        webhook_outage.seen = True
        return True
    if webhook_redelivers:  # fed without the webhook's handler: the error goes up
        raise event.exception
    await reply_try_again(event, bot)
    return True


async def _log_error(event: ErrorEvent) -> bool:
    """Log the failure with ids only: no message text, no names."""
    update = event.update
    log.error(
        "update %s failed: %s",
        update.update_id,
        type(event.exception).__name__,
    )
    return True


async def build_app(settings: Settings, *, clock: Clock | None = None) -> App:
    """Create and connect everything; the database must already be migrated."""
    protocol = load_protocol(settings.protocol_file)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    clock = clock or Clock(settings.time_scale)
    async with sessions() as db:
        await clock.anchor(db)
    bot = make_bot(settings)
    dp = make_dispatcher(settings, sessions, clock, protocol)
    me = await bot.me()
    assert me.username is not None
    dp["bot_username"] = me.username
    return App(
        settings=settings,
        bot=bot,
        dispatcher=dp,
        engine=engine,
        sessions=sessions,
        clock=clock,
        protocol=protocol,
        bot_username=me.username,
    )
