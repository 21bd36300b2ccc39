"""Cross-cutting work done once per update: a database session and the sender's role."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, Update, User
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import set_commands_for
from bot.config import Settings
from bot.identity import Actor
from bot.texts import lang_of, t
from bot.typed import strip_control
from care.alerts import staff_reachable_again
from care.handled_updates import already_handled, mark_handled
from care.people import person_by_tg, refused_inactive, seen, sync_admin_role
from scheduler.clock import Clock
from store.db import SessionFactory
from store.models import StaffMember

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """One AsyncSession per update, closed (and rolled back if uncommitted) after it."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as db:
            data["db"] = db
            return await handler(event, data)


class IdentityMiddleware(BaseMiddleware):
    """Resolve the sender into an `Actor`. `ADMIN_IDS` is authoritative at every contact
    (listed: an active admin; no longer listed: the admin role is gone), and a deactivated
    person's commands and buttons stop here, refused and audited, before any handler."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return None  # channel posts and the like: nothing of ours
        db = data["db"]
        lang = lang_of(user.language_code)
        staff, patient = await person_by_tg(db, user.id)
        now = self.clock.now()
        staff, changed = await sync_admin_role(
            db,
            staff,
            tg_user_id=user.id,
            listed=user.id in self.settings.admin_ids,
            name=strip_control(user.full_name),
            language=lang,
            now=now,
        )
        if changed and staff is not None:
            log.info("staff_id=%s role now %s active=%s", staff.id, staff.role, staff.active)
            bot: Bot = data["bot"]
            role = staff.role if staff.active else None
            await set_commands_for(bot, user.id, role, staff.language)
        if staff is not None and not staff.active:
            await self._refuse(event, db, staff, now)
            return None
        if staff is not None:
            patient, lang = None, staff.language  # staff act as staff, never as a patient
            await seen(db, staff, now)
            if staff.unreachable_at is not None:  # they write again: alerts reach them again
                await staff_reachable_again(db, staff)
        elif patient is not None:
            lang = patient.language
        data["actor"] = Actor(
            tg_user_id=user.id, lang=lang, first_name=user.first_name, staff=staff, patient=patient
        )
        return await handler(event, data)

    @staticmethod
    async def _refuse(
        event: TelegramObject, db: AsyncSession, staff: StaffMember, now: datetime
    ) -> None:
        """A deactivated person: a clear answer to a button or a private message, an audit
        event (ids only), and nothing else — no handler runs."""
        if not isinstance(event, Update):
            return
        text = t("access_off", staff.language)
        if event.callback_query is not None:
            await refused_inactive(db, staff, what="button", now=now)
            log.info("button refused: staff_id=%s is inactive", staff.id)
            await event.callback_query.answer(text, show_alert=True)
        elif event.message is not None and event.message.chat.type == "private":
            what = "command" if (event.message.text or "").startswith("/") else "message"
            await refused_inactive(db, staff, what=what, now=now)
            log.info("%s refused: staff_id=%s is inactive", what, staff.id)
            await event.message.answer(text)

class HandledOnce(BaseMiddleware):
    """Webhook mode: skip an update whose `update_id` was already handled.

    Telegram redelivers an update it did not see answered with a 2xx (an instance
    killed mid-update, a database outage answered with 5xx), and a replay with the
    secret repeats one. The id is recorded once the update was handled; recording is
    best effort — if the database fails right then the update was still handled, and
    answering 5xx would make Telegram repeat it. The clock is the wall clock (pruning
    follows Telegram's 24 hours, not protocol time).
    """

    def __init__(
        self, sessions: SessionFactory, wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.sessions = sessions
        self.wall = wall

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        async with self.sessions() as db:
            if await already_handled(db, event.update_id):
                log.info("update %s already handled: skipped", event.update_id)
                return None
        result = await handler(event, data)
        try:
            async with self.sessions() as db:
                await mark_handled(db, event.update_id, now=self.wall())
        except Exception as exc:  # handled all the same; a redelivery is the lesser harm
            log.warning(
                "update %s: not recorded as handled (%s)", event.update_id, type(exc).__name__
            )
        return result
