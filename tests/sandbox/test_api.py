"""The sandbox's Bot API refuses what Telegram refuses.

It is the same strict server the tests use, now part of the running program; these
tests go through a running sandbox with a second, real aiogram ``Bot`` pointed at its
Bot API URL, so a preview never teaches anyone that a malformed call works.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from sandbox.botapi import FakeBotAPI
from sandbox.people import STAFF
from tests.support.sandbox import running_sandbox, sandbox_config


@dataclass
class Client:
    bot: Bot  # a second client of the sandbox's Bot API, as any program could be
    fake: FakeBotAPI

    def refusal(self) -> tuple[int, str | None]:
        """The one refused call of the test (the sandbox's own bot made none)."""
        refused = self.fake.refused
        assert len(refused) == 1, [(r.method, r.description) for r in refused]
        return refused[0].status, refused[0].description


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with running_sandbox(sandbox_config(tmp_path)) as running:
        fake = running.sandbox.fake
        bot = Bot(
            fake.token,
            session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        try:
            yield Client(bot=bot, fake=fake)
        finally:
            await bot.session.close()


async def test_malformed_html_is_refused(client: Client) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await client.bot.send_message(STAFF.user_id, "<b>Zoë & <unclosed")
    assert client.refusal()[0] == 400


async def test_text_over_4096_characters_is_refused(client: Client) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await client.bot.send_message(STAFF.user_id, "x" * 4097)
    assert client.refusal() == (400, "Bad Request: message is too long")


async def test_callback_data_over_64_bytes_is_refused(client: Client) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="a:" + "9" * 63)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await client.bot.send_message(STAFF.user_id, "Pain?", reply_markup=keyboard)
    assert client.refusal() == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_an_edit_that_changes_nothing_is_refused(client: Client) -> None:
    sent = await client.bot.send_message(STAFF.user_id, "<b>Same</b>")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await client.bot.edit_message_text(
            "<b>Same</b>", chat_id=STAFF.user_id, message_id=sent.message_id
        )
    assert client.refusal()[0] == 400


async def test_a_callback_answered_twice_is_refused(client: Client) -> None:
    sent = await client.bot.send_message(STAFF.user_id, "Tap")
    # a tap's query, made without an update so the sandbox's own bot does not answer it
    query = client.fake.new_callback(STAFF.user_id, STAFF.user_id, sent.message_id, "x")
    assert await client.bot.answer_callback_query(query.id) is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await client.bot.answer_callback_query(query.id)
    assert client.refusal()[0] == 400


async def test_an_unknown_chat_is_refused(client: Client) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await client.bot.send_message(987_654_321, "Hello")
    assert client.refusal() == (400, "Bad Request: chat not found")


async def test_a_person_who_never_started_the_bot_gets_403(client: Client) -> None:
    client.fake.user(5555, "Nadia")  # exists, never opened the bot
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await client.bot.send_message(5555, "Hello")
    assert client.refusal() == (403, "Forbidden: bot can't initiate conversation with a user")
