"""Replies sent from handlers take their place under Telegram's ceilings too.

The outbox waits for a slot before each message (scheduler/ratelimit.py), but a
handler answering a person — the next question after a tap, the emergency text
after a red-flag answer, a command's reply — calls the Bot API directly. During a
burst of due check-ins the outbox fills the 30 messages a second, so an unchecked
reply was the 31st: Telegram answered 429 and the person got nothing
(tests/bot/test_reply_budget.py). This aiogram client-session middleware gives every
message a handler sends a :meth:`RateLimiter.reply_slot` — ahead of the queued
outbox messages, counted in the same windows — and, should Telegram still answer
429 (another process on the token, Telegram's own judgement), waits the time it
asks for and sends again, a few times, so the person's answer is late rather than
lost. Requests made by the outbox inside its own slot pass straight through.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

from scheduler.ratelimit import RateLimiter, in_slot

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

RETRIES = 3
LONGEST_WAIT_SECONDS = 10.0  # a reply later than this is not worth holding the handler for


def is_message_method(method: TelegramMethod[Any]) -> bool:
    """Methods that put or change a message in a chat: the flood-limited ones."""
    name = method.__api_method__.lower()
    return name != "sendchataction" and name.startswith(("send", "edit", "copy", "forward"))


class ReplyBudget(BaseRequestMiddleware):
    """Counts handlers' messages against the limiter, ahead of the outbox; retries 429s."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if in_slot() or not is_message_method(method):
            return await make_request(bot, method)
        chat = getattr(method, "chat_id", None)
        chat_id = chat if isinstance(chat, int) else None
        attempt = 0
        while True:
            try:
                async with self.limiter.reply_slot(chat_id):
                    return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                wait = float(exc.retry_after)
                attempt += 1
                if attempt > RETRIES or wait > LONGEST_WAIT_SECONDS:
                    raise
                self.limiter.flood_wait(chat_id, wait)  # that chat's, or everyone's
                log.warning("reply to chat %s: 429, sending again in %.0f s", chat_id, wait)
                await asyncio.sleep(wait)
