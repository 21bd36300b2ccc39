"""Outages: what an update gets when the database or Redis cannot be reached.

* An update that fails because PostgreSQL/SQLite or Redis is unreachable is not lost in
  silence: in polling mode the person gets "please send that again in a minute" (a
  button press gets it as the callback's toast) when Telegram can still be reached; in
  webhook mode the error goes back up as a 5xx, so Telegram delivers the update again.
* While Redis is down, conversations (aiogram's FSM) fall back to memory instead of
  failing: `FallbackStorage` and `FallbackIsolation`. The trade-off: a conversation
  step taken during the outage lives only in this instance's memory; once Redis answers
  again the conversation continues from what Redis held (a step may have to be
  repeated, or `/cancel`), and another instance cannot see the step. Nothing clinical
  lives in the FSM — answers and enrollments are in the database — so that is the
  cheaper failure than answering nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import ErrorEvent
from aiohttp import ClientError
from sqlalchemy import exc as sa_exc

from bot.texts import lang_of, t

log = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_RETRY_SECONDS = 5.0
"""After Redis failed, conversations stay in memory this long before Redis is tried again
(a dead Redis would otherwise cost every update a connection attempt)."""


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis import exceptions as redis_exc
    except ImportError:  # no redis package: no Redis either
        return ()
    return (redis_exc.ConnectionError, redis_exc.TimeoutError)


REDIS_DOWN: tuple[type[BaseException], ...] = (*_redis_errors(), OSError, TimeoutError)


def _asyncpg_errors() -> tuple[type[BaseException], ...]:
    try:
        import asyncpg
    except ImportError:
        return ()
    return (
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.InterfaceError,
        asyncpg.exceptions.CannotConnectNowError,
        asyncpg.exceptions.TooManyConnectionsError,
    )


_ASYNCPG_DOWN = _asyncpg_errors()


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says the database or Redis could not be reached (not a bug in us)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            (
                sa_exc.OperationalError,
                sa_exc.InterfaceError,
                sa_exc.DisconnectionError,
                sa_exc.TimeoutError,  # the pool could not give a connection in time
                *_ASYNCPG_DOWN,
                *REDIS_DOWN,
            ),
        ):
            return not _is_sqlite_logic_error(current)
        current = current.__cause__ or current.__context__
    return False


def _is_sqlite_logic_error(exc: BaseException) -> bool:
    """SQLite reports a missing table as OperationalError too; that one is a bug."""
    return isinstance(exc, sa_exc.OperationalError) and "no such" in str(exc.orig)


async def reply_try_again(event: ErrorEvent, bot: Bot) -> None:
    """Tell the person to send it again, if Telegram can be reached; ids only in logs."""
    update = event.update
    try:
        if update.callback_query is not None:
            query = update.callback_query
            await bot.answer_callback_query(
                query.id, text=t("try_again_soon", lang_of(query.from_user.language_code))
            )
        elif update.message is not None and update.message.chat.type == "private":
            user = update.message.from_user
            lang = lang_of(user.language_code if user else None)
            await bot.send_message(update.message.chat.id, t("try_again_soon", lang))
    except (TelegramAPIError, ClientError, OSError, TimeoutError) as exc:
        log.warning("update %s: could not say so either (%s)", update.update_id, type(exc).__name__)


class WebhookOutage:
    """One webhook request's note that its update met an outage (set by the outage
    handler). The webhook then answers 503 itself, so Telegram delivers the update again,
    with one warning line: raising through aiogram and aiohttp instead logged two
    tracebacks at ERROR for every redelivery, about one a second for the whole outage."""

    def __init__(self) -> None:
        self.seen = False


class _RedisBreaker:
    """Remembers that Redis failed, so the next few seconds go straight to memory."""

    def __init__(self, retry_after: float, monotonic: Callable[[], float]) -> None:
        self.retry_after = retry_after
        self._monotonic = monotonic
        self._down_since: float | None = None

    def open(self) -> bool:
        return (
            self._down_since is not None and self._monotonic() - self._down_since < self.retry_after
        )

    def failed(self, exc: BaseException) -> None:
        if self._down_since is None:
            log.warning("redis unavailable (%s): conversations kept in memory", type(exc).__name__)
        self._down_since = self._monotonic()

    def succeeded(self) -> None:
        if self._down_since is not None:
            log.info("redis available again: conversations back in redis")
        self._down_since = None


class FallbackStorage(BaseStorage):
    """Redis for conversations, memory while Redis cannot be reached (see the module)."""

    def __init__(
        self,
        primary: BaseStorage,
        *,
        retry_after: float = REDIS_RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.memory = MemoryStorage()
        self.breaker = _RedisBreaker(retry_after, monotonic)

    async def _either(
        self, primary: Callable[[], Awaitable[T]], memory: Callable[[], Awaitable[T]]
    ) -> T:
        if not self.breaker.open():
            try:
                result = await primary()
            except REDIS_DOWN as exc:
                self.breaker.failed(exc)
            else:
                self.breaker.succeeded()
                return result
        return await memory()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._either(
            lambda: self.primary.set_state(key, state), lambda: self.memory.set_state(key, state)
        )

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._either(
            lambda: self.primary.get_state(key), lambda: self.memory.get_state(key)
        )

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._either(
            lambda: self.primary.set_data(key, data), lambda: self.memory.set_data(key, data)
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._either(
            lambda: self.primary.get_data(key), lambda: self.memory.get_data(key)
        )

    def create_isolation(self) -> FallbackIsolation:
        create = getattr(self.primary, "create_isolation", None)
        primary = create() if create is not None else None
        return FallbackIsolation(primary, self.breaker)

    async def close(self) -> None:
        with contextlib.suppress(*REDIS_DOWN):
            await self.primary.close()
        await self.memory.close()


class FallbackIsolation(BaseEventIsolation):
    """One update per person at a time: a Redis lock across instances, a local lock while
    Redis cannot be reached (then only this instance is serialised)."""

    def __init__(self, primary: BaseEventIsolation | None, breaker: _RedisBreaker) -> None:
        self.primary = primary
        self.local = SimpleEventIsolation()
        self.breaker = breaker

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        async with self.local.lock(key):  # always: cheap, and keeps one instance in order
            held = await self._acquire(key)
            try:
                yield
            finally:
                if held is not None:
                    with contextlib.suppress(*REDIS_DOWN):  # it expires on its own
                        await held.__aexit__(None, None, None)

    async def _acquire(self, key: StorageKey) -> AbstractAsyncContextManager[None] | None:
        if self.primary is None or self.breaker.open():
            return None
        manager = self.primary.lock(key)
        try:
            await manager.__aenter__()
        except REDIS_DOWN as exc:
            self.breaker.failed(exc)
            return None
        self.breaker.succeeded()
        return manager

    async def close(self) -> None:
        await self.local.close()
        if self.primary is not None:
            with contextlib.suppress(*REDIS_DOWN):
                await self.primary.close()
