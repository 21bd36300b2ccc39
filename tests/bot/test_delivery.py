"""bot/delivery.py: the real `Delivery` with a real aiogram `Bot` against the strict fake Bot
API, on real databases (SQLite, and PostgreSQL when configured).

Rows are claimed with `store.outbox.claim_due`, exactly as the dispatcher claims them, and
handed to `Delivery` as the dispatcher hands them. To catch a row *while its message is on
its way*, a request middleware on the bot's session holds the answer of the first
``sendMessage`` until the test lets it through: Telegram has the message, the database
does not yet know — the moment a kill or a concurrent change can fall into.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import Response, TelegramType

from bot.app import make_bot
from bot.delivery import RENDERERS, Delivery
from care.planning import cancel_pending
from flows.loader import load_protocol
from flows.planner import plan_session_checkins
from scheduler.clock import Clock
from scheduler.outcomes import Failed, Outcome, Sent, Settled
from store import outbox
from store.db import SessionFactory, create_engine, session_factory
from store.models import (
    Checkin,
    CheckinState,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
)
from tests.fakebot import FakeBotAPI
from tests.support.dispatch import PATIENT_CHAT, THERAPIST_CHAT, seed_patient, stored_row
from tests.support.harness import settings_for

WORKER = "test-worker"


@dataclass
class HoldFirstSend(BaseRequestMiddleware):
    """Holds the answer to the first sendMessage until `release` is set (Telegram has it)."""

    answered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    held: bool = False

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        response = await make_request(bot, method)
        if isinstance(method, SendMessage) and not self.held:
            self.held = True
            self.answered.set()
            await self.release.wait()
        return response


@dataclass
class World:
    fake: FakeBotAPI
    sessions: SessionFactory
    delivery: Delivery
    hold: HoldFirstSend
    now: datetime
    therapist_id: int
    patient_id: int


@pytest.fixture
async def world(fake: FakeBotAPI, db_url: str) -> AsyncIterator[World]:
    settings = settings_for(fake, db_url)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    therapist, patient = await seed_patient(sessions, now=now, consented_at=now)
    assert therapist.id is not None and patient.id is not None
    ids = therapist.id, patient.id
    fake.user(THERAPIST_CHAT, "Theo").started = True
    fake.user(PATIENT_CHAT, "Zoe").started = True
    bot = make_bot(settings)
    hold = HoldFirstSend()
    bot.session.middleware(hold)
    delivery = Delivery(bot, sessions, load_protocol(), settings, Clock(1.0))
    try:
        yield World(fake, sessions, delivery, hold, now, *ids)
    finally:
        hold.release.set()
        await bot.session.close()
        await engine.dispose()


async def queue_and_claim(world: World, **fields: Any) -> OutboxMessage:
    """One due row, claimed as the dispatcher claims it (a detached copy)."""
    async with world.sessions() as db:
        due = world.now - timedelta(seconds=1)
        db.add(OutboxMessage(due_at=due, created_at=world.now, **fields))
        await db.commit()
        (row,) = await outbox.claim_due(db, now=world.now, limit=10, worker=WORKER)
    return row


def test_every_kind_has_one_renderer() -> None:
    """A kind with no entry would be failed as "unknown" at its first delivery."""
    assert set(RENDERERS) == set(OutboxKind)


async def test_a_row_cancelled_while_its_message_is_on_its_way_stays_cancelled(
    world: World,
) -> None:
    """The patient is stopped (every queued row of theirs cancelled, claimed ones too) while
    the therapist's notice about them is in flight: the late "sent" must not bring the row
    back — it was cancelled, and its message reference is not written back either."""
    row = await queue_and_claim(
        world,
        kind=OutboxKind.NOTICE,
        chat_id=THERAPIST_CHAT,
        staff_id=world.therapist_id,
        patient_id=world.patient_id,
        payload={"text": "notice_unreachable"},
    )
    delivering = asyncio.create_task(world.delivery(row))
    await world.hold.answered.wait()  # Telegram has the message; the database not yet
    async with world.sessions() as db:
        assert await cancel_pending(db, patient_id=world.patient_id, reason="patient stopped")
        await db.commit()
    world.hold.release.set()
    outcome: Outcome = await delivering
    assert isinstance(outcome, Sent)
    after = await stored_row(world.sessions, row.id)
    assert (after.state, after.last_error) == (OutboxState.CANCELLED, "patient stopped")
    assert after.message_id is None and after.sent_at is None


async def test_a_checkin_cancelled_while_its_first_question_is_on_its_way_stays_cancelled(
    world: World,
) -> None:
    """The same through care's mark_checkin_sent: the check-in's row, cancelled while its
    first question was in flight, is not written back as sent."""
    protocol = load_protocol()
    offset = (12 - world.now.hour + 12) % 24 - 12  # a zone where it is about noon now
    zone = "Etc/GMT" + ("-" if offset >= 0 else "+") + str(abs(offset))
    async with world.sessions() as db:
        patient = await db.get(Patient, world.patient_id)
        assert patient is not None
        patient.timezone = zone
        visit = NeedlingSession(
            patient_id=world.patient_id,
            number=1,
            ended_at=world.now - timedelta(hours=3),
            regions=["piriformis"],
            recorded_by=world.therapist_id,
            created_at=world.now,
        )
        db.add(visit)
        await db.flush()
        first = next(
            p
            for p in plan_session_checkins(
                protocol, session_end=visit.ended_at, tz=ZoneInfo(zone), now=world.now
            )
            if p.skip_reason is None
        )
        assert first.due_at <= world.now
        checkin = Checkin(
            patient_id=world.patient_id,
            session_id=visit.id,
            key=first.key,
            due_at=first.due_at,
            expires_at=first.expires_at,
            state=CheckinState.SCHEDULED,
        )
        db.add(checkin)
        await db.commit()
        checkin_id = checkin.id
    row = await queue_and_claim(
        world,
        kind=OutboxKind.CHECKIN,
        chat_id=PATIENT_CHAT,
        patient_id=world.patient_id,
        checkin_id=checkin_id,
    )
    delivering = asyncio.create_task(world.delivery(row))
    await world.hold.answered.wait()
    async with world.sessions() as db:
        assert await cancel_pending(db, patient_id=world.patient_id, reason="patient stopped")
        await db.commit()
    world.hold.release.set()
    assert isinstance(await delivering, Sent)
    after = await stored_row(world.sessions, row.id)
    assert (after.state, after.message_id) == (OutboxState.CANCELLED, None)


async def test_a_row_with_nothing_left_to_send_is_settled_not_left_claimed(
    world: World,
) -> None:
    """/reassign queued "your therapist is now …", and the therapist was deleted before it
    went out: nothing is sent, and the row ends cancelled. Left claimed, the next pass would
    hand it back to pending and deliver it again, every pass, for ever."""
    row = await queue_and_claim(
        world,
        kind=OutboxKind.THERAPIST_CHANGED,
        chat_id=PATIENT_CHAT,
        patient_id=world.patient_id,
        payload={"therapist_id": 999_999},
    )
    outcome = await world.delivery(row)
    assert isinstance(outcome, Settled)
    after = await stored_row(world.sessions, row.id)
    assert after.state == OutboxState.CANCELLED
    assert after.last_error == "patient or therapist gone"
    assert [r for r in world.fake.requests if r.method == "sendMessage"] == []


async def test_a_row_of_an_unknown_kind_fails_without_a_send(world: World) -> None:
    row = await queue_and_claim(world, kind="no_such_kind", chat_id=PATIENT_CHAT)
    outcome = await world.delivery(row)
    assert outcome == Failed("unknown outbox kind 'no_such_kind'")
    assert [r for r in world.fake.requests if r.method == "sendMessage"] == []
