"""The desk (bot/desk/) mounted as on the bot's server, for API tests: initData signed as
Telegram signs it, a bot that is never reached, wall and protocol time Monday 10:05."""

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

PATIENT_TG, STRANGER_TG, DESK_TG = 4000, 9999, 3000
NOW = MONDAY_10 + timedelta(minutes=5)


def init_data(user_id: int, *, at: datetime = MONDAY_10, token: str = TOKEN) -> str:
    return sign_init_data(token, {"id": user_id, "first_name": "Someone"}, auth_date=at)


def header(user_id: int) -> dict[str, str]:
    return {"Authorization": f"tma {init_data(user_id)}"}


@asynccontextmanager
async def desk_client(sessions: SessionFactory) -> AsyncIterator[TestClient[Any, Any]]:
    """The clinic of tests/support/alerts.py (Theo, Olga, Ada, Sam at the desk; Zoë,
    Theo's patient) and its desk."""
    await clinic(sessions)
    settings = load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "ADMIN_IDS": str(ADA),
            "CLINIC_TIMEZONE": "Europe/Madrid",
            "CLINIC_PHONE": "+34 900 123 456",
            "EMERGENCY_NUMBER": "112",
            "DESK_URL": "https://clinic.example/desk/",
        }
    )
    clock = Clock(1.0, anchor_wall=NOW, anchor_protocol=NOW, wall=lambda: NOW)
    parent = web.Application()
    # a bot that is never reached: no call may send anything (a send would fail)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:9")))
    context = DeskContext(sessions, settings, clock, bot, load_protocol(), "careloop_test_bot")
    mount(parent, make_desk_app(lambda: context, wall=lambda: NOW))
    try:
        async with TestClient(TestServer(parent)) as client:
            yield client
    finally:
        await bot.session.close()
