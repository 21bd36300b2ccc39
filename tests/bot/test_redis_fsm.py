"""Conversation state in Redis (`REDIS_URL`): a desk conversation survives its instance.

Two in-process instances (``running_bot``) on the same database and Redis, one after the
other: the front desk starts ``/enroll`` and types the patient's name on the first; the
first stops; the therapist button is tapped on the second, and the enrollment completes
there. With Redis several instances also share one conversation at the same instant, so
two quick taps must not overwrite each other's answer (aiogram's event isolation).

Needs ``TEST_REDIS_URL`` (a Redis database the tests may write to, for example
``redis://127.0.0.1:6379/15``); skipped with a visible reason without it. Keys are
namespaced by a random bot id and deleted afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
from redis.asyncio import Redis
from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import NeedlingSession, Patient, StaffMember
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import REDIS_SKIP_REASON
from tests.support.harness import running_bot
from tests.support.population import DESK_STAFF, DESK_THERAPIST, clinic

THERAPIST, STAFF = DESK_THERAPIST, DESK_STAFF
TAPPED = ("Piriformis", "Hamstrings", "Hip flexors", "Other")

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason=REDIS_SKIP_REASON)


@pytest.fixture
def redis_url() -> str:
    return os.environ["TEST_REDIS_URL"]


@pytest.fixture
async def fake(redis_url: str) -> AsyncIterator[FakeBotAPI]:
    """A fake Bot API for a bot id of its own, so FSM keys never meet another test's."""
    bot_id = random.randrange(10**8, 10**9)
    server = FakeBotAPI(token=f"{bot_id}:TEST-TOKEN-0123456789abcdefghij", bot_id=bot_id)
    await server.start()
    yield server
    await server.stop()
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"fsm:{bot_id}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


class Handled(logging.Handler):
    """Signals when aiogram has finished with an update — its middlewares included, so the
    conversation's Redis lock is released (aiogram logs "Update id=… is handled")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: dict[int, asyncio.Event] = {}

    def event(self, update_id: int) -> asyncio.Event:
        return self.events.setdefault(update_id, asyncio.Event())

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Update id=") and isinstance(record.args, tuple):
            self.event(int(str(record.args[0]))).set()

    async def wait(self, update_id: int) -> None:
        async with asyncio.timeout(10):
            await self.event(update_id).wait()


@contextmanager
def watching_updates() -> Iterator[Handled]:
    logger = logging.getLogger("aiogram.event")
    handler, level = Handled(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def current(user: SimUser, message: SentMessage) -> SentMessage:
    found = user.message(message.message_id)
    assert found is not None
    return found


async def test_enrollment_started_on_one_instance_finishes_on_another(
    fake: FakeBotAPI, db_url: str, redis_url: str
) -> None:
    desk = await clinic(fake, db_url)
    with watching_updates() as handled:
        async with running_bot(fake, db_url, REDIS_URL=redis_url):
            await desk.send("/enroll")
            await desk.wait_for(lambda m: "name" in m.text)
            typed = await desk.send("Zoë Instance-Two")
            therapist_question = await desk.wait_for(lambda m: m.reply_markup is not None)
            # stop only once the update is finished with: aiogram closes the storage when
            # polling stops, without waiting for updates still in their handlers
            await handled.wait(typed)
    # the first instance is gone; its memory with it. A second one takes over.
    async with running_bot(fake, db_url, REDIS_URL=redis_url):
        mark = desk.mark()
        await desk.tap(therapist_question, "Theo Rapist")
        time_question = await desk.wait_for(lambda m: "session end" in m.text, after=mark)
        mark = desk.mark()
        await desk.tap(time_question, "30 min ago")
        regions = await desk.wait_for(lambda m: "regions" in m.text, after=mark)
        mark = desk.mark()
        # quick taps, taken in one batch and handled concurrently: every one must stick
        for label in TAPPED:
            await desk.tap(regions, label)
        await desk.wait_for(
            lambda m: m.message_id == regions.message_id
            and all(f"✅ {label}" in str(m.buttons()) for label in TAPPED),
            after=mark,
            timeout=20,
        )
        mark = desk.mark()
        await desk.tap(current(desk, regions), "Done")
        legs = await desk.wait_for(lambda m: "buttock or leg" in m.text, after=mark)
        mark = desk.mark()
        await desk.tap(legs, "No")
        screening = await desk.wait_for(lambda m: "Screening" in m.text, after=mark)
        mark = desk.mark()
        await desk.tap(screening, "None of these")
        baseline = await desk.wait_for(lambda m: "Usual pain" in m.text, after=mark)
        mark = desk.mark()
        await desk.tap(baseline, "6")
        await desk.wait_for(lambda m: "is enrolled" in m.text, after=mark)
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        patient = (
            await db.exec(select(Patient).where(Patient.display_name == "Zoë Instance-Two"))
        ).one()
        therapist = (
            await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THERAPIST))
        ).one()
        visit = (
            await db.exec(select(NeedlingSession).where(NeedlingSession.patient_id == patient.id))
        ).one()
    await engine.dispose()
    assert patient.therapist_id == therapist.id
    assert patient.baseline_pain == 6
    assert sorted(visit.regions) == ["hamstrings", "hip_flexors", "other", "piriformis"]
    assert fake.refused == []
