"""Dispatch under Telegram's refusals: 429, 5xx, slow answers, rate limits, blocked users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import OutboxMessage, Patient
from tests.fakebot import FakeBotAPI
from tests.support.harness import running_bot
from tests.support.population import THERAPIST_TG, checkins_received, midday_zone, populate

# Throughput against a fake that enforces Telegram's limits: with pytest-xdist these run
# on one worker, one after another, so two bursts never share the cores (xdist_group).
pytestmark = pytest.mark.xdist_group("telegram-limits")

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"


@pytest.fixture
async def strict_fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI(token=TOKEN, enforce_rate_limits=True, seed=7)
    await server.start()
    yield server
    await server.stop()


async def test_every_message_arrives_through_faults_within_limits(
    strict_fake: FakeBotAPI, sqlite_url: str
) -> None:
    fake = strict_fake
    now = datetime.now(UTC)
    zone = midday_zone(now)
    patients = await populate(fake, sqlite_url, count=60, now=now, tz=zone)
    fake.faults.rate_429 = 0.1
    fake.faults.retry_after = 1
    fake.faults.rate_5xx = 0.1
    fake.faults.slow = 0.1
    fake.faults.slow_seconds = 0.3
    async with running_bot(fake, sqlite_url, CLINIC_TIMEZONE=zone, DISPATCH_INTERVAL_SECONDS="0.2"):
        await fake.wait_until(
            lambda: all(checkins_received(fake, tg) >= 1 for tg in patients), timeout=90
        )
    assert all(checkins_received(fake, tg) == 1 for tg in patients)  # none twice
    injected = [r for r in fake.requests if r.injected]
    assert injected  # the faults really happened…
    assert fake.refused == []  # …and the bot never went over Telegram's limits


async def test_blocked_patient_stops_and_therapist_hears_once(
    strict_fake: FakeBotAPI, sqlite_url: str
) -> None:
    fake = strict_fake
    now = datetime.now(UTC)
    zone = midday_zone(now)
    patients = await populate(fake, sqlite_url, count=5, now=now, tz=zone)
    blocked = patients[:2]
    for tg in blocked:
        fake.user(tg).blocked = True
    therapist = fake.user(THERAPIST_TG)
    async with running_bot(fake, sqlite_url, CLINIC_TIMEZONE=zone, DISPATCH_INTERVAL_SECONDS="0.2"):
        await fake.wait_until(
            lambda: (
                all(checkins_received(fake, tg) == 1 for tg in patients[2:])
                and len(therapist.inbox) >= 2
            ),
            timeout=60,
        )
    notices = [m for m in therapist.inbox if "blocked the bot" in m.text]
    assert len(notices) == 2
    assert {n.text.split(" (")[0] for n in notices} == {"⚠️ Patient 0", "⚠️ Patient 1"}
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        for tg in blocked:
            patient = (await db.exec(select(Patient).where(Patient.tg_user_id == tg))).one()
            assert patient.status == "unreachable"
            pending = (
                await db.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.patient_id == patient.id, OutboxMessage.state == "pending"
                    )
                )
            ).all()
            assert pending == []  # nothing more will be tried
    await engine.dispose()
    refusals = [r for r in fake.refused if r.status != 403]
    assert refusals == []
