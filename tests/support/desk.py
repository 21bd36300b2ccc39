"""The desk (bot/desk/) mounted at /desk/ as on the bot's server, for API tests: wall
and protocol time both Monday 10:05 in Madrid, the clinic of tests/support/alerts.py,
initData signed as Telegram signs it (the sandbox's signer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_settings
from bot.desk.api import DeskContext
from bot.desk.web import make_desk_app, mount
from flows.loader import load_protocol
from sandbox.botapi.webapp import sign_init_data
from scheduler.clock import Clock
from store.db import SessionFactory
from tests.support.alerts import ADA, MONDAY_10, clinic
from tests.support.harness import TOKEN

DESK_NOW = MONDAY_10 + timedelta(minutes=5)
#: Telegram ids of the clinic's patient, someone unknown, and the front desk (Sam)
PATIENT_TG, STRANGER_TG, DESK_TG = 4000, 9999, 3000


def init_data(user_id: int, *, at: datetime = MONDAY_10, token: str = TOKEN) -> str:
    return sign_init_data(token, {"id": user_id, "first_name": "Someone"}, auth_date=at)


def as_user(user_id: int) -> dict[str, str]:
    """The Authorization header the desk page sends for this Telegram user."""
    return {"Authorization": f"tma {init_data(user_id)}"}


@asynccontextmanager
async def desk_client(
    sessions: SessionFactory, bot: Bot | None = None, *, admin_ids: str = str(ADA)
) -> AsyncIterator[TestClient[Any, Any]]:
    """The clinic planted, the desk served; `bot` is where its sends go (None: a bot that
    is never reached, so that no call may send anything: a send would fail)."""
    await clinic(sessions)
    settings = load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "ADMIN_IDS": admin_ids,
            "CLINIC_TIMEZONE": "Europe/Madrid",
            "CLINIC_PHONE": "+34 900 123 456",
            "EMERGENCY_NUMBER": "112",
            "DESK_URL": "https://clinic.example/desk/",
        }
    )
    clock = Clock(1.0, anchor_wall=DESK_NOW, anchor_protocol=DESK_NOW, wall=lambda: DESK_NOW)
    parent = web.Application()
    unreachable = bot is None
    if bot is None:
        bot = Bot(
            TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:9"))
        )
    context = DeskContext(sessions, settings, clock, bot, load_protocol(), "careloop_test_bot")
    mount(parent, make_desk_app(lambda: context, wall=lambda: DESK_NOW))
    try:
        async with TestClient(TestServer(parent)) as client:
            yield client
    finally:
        if unreachable:
            await bot.session.close()
