"""Several instances share one bot token, so they share Telegram's flood limits.

Each instance queues its own sends (``scheduler.ratelimit``); with ``REDIS_URL`` set
they also take their places in windows kept in Redis (``scheduler.shared_budget``).
Two instances on one PostgreSQL send a burst to the fake Bot API *enforcing*
Telegram's limits — 30 messages in any second, one per second per chat — with every
patient owed two messages at once (the 3 h check-in and the exercise reminder), so
the instances compete for the same chats too:

* with the shared budget, nothing is refused and everything arrives once;
* without it (the control), the same two instances are answered 429, which shows
  the fake would have caught a budget that leaked.

Needs ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL``; skipped with a visible reason
without them. Also here, without any server: a budget whose Redis is unreachable
lets sending go on under the instance's own limits, and says so once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlmodel import col, select

from scheduler.ratelimit import RateLimiter
from scheduler.shared_budget import SharedBudget
from store.db import create_engine, session_factory
from store.models import OutboxKind, OutboxMessage, OutboxState, Patient
from tests.fakebot import FakeBotAPI
from tests.support.bulk import add_due_patients
from tests.support.dbutil import PG_SKIP_REASON, pg_base_url
from tests.support.harness import TOKEN
from tests.support.population import midday_zone
from tests.support.process import extra_instance, peak_rate

BOT_ID = int(TOKEN.split(":", 1)[0])
PATIENTS = 120
REDIS_SKIP_REASON = "TEST_REDIS_URL is not set: shared-budget tests skipped"

# Throughput against a fake that enforces Telegram's limits: with pytest-xdist these run
# on one worker, one after another, so two bursts never share the cores (xdist_group).
# Both cases here also clear the same bot's budget keys in Redis, so they must not overlap.
pytestmark = pytest.mark.xdist_group("telegram-limits")

needs_postgres = pytest.mark.skipif(pg_base_url() is None, reason=PG_SKIP_REASON)
needs_redis = pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason=REDIS_SKIP_REASON)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis, without this bot's budget keys before and after."""
    url = os.environ["TEST_REDIS_URL"]

    async def forget() -> None:
        redis = Redis.from_url(url)
        keys = [k async for k in redis.scan_iter(match=f"{{careloop:rate:{BOT_ID}}}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    await forget()
    yield url
    await forget()


async def add_exercise_reminders(db_url: str, chats: list[int], now: datetime) -> None:
    """Each patient's exercise reminder falls due with the check-in: two messages a chat."""
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        patients = (await db.exec(select(Patient).where(col(Patient.tg_user_id).in_(chats)))).all()
        db.add_all(
            [
                OutboxMessage(
                    kind=OutboxKind.EXERCISE,
                    chat_id=p.tg_user_id or 0,
                    patient_id=p.id,
                    due_at=now,
                    created_at=now,
                )
                for p in patients
            ]
        )
        await db.commit()
    await engine.dispose()


async def states_of_due_rows(db_url: str, now: datetime) -> Counter[str]:
    """The outbox rows that were due at the burst, by state."""
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        states = (
            await db.exec(select(OutboxMessage.state).where(col(OutboxMessage.due_at) <= now))
        ).all()
    await engine.dispose()
    return Counter(str(s) for s in states)


@needs_postgres
@needs_redis
@pytest.mark.parametrize("shared", [True, False], ids=["shared-budget", "control-without"])
async def test_two_instances_stay_within_one_tokens_limits(
    shared: bool, pg_url: str, redis_url: str
) -> None:
    fake = FakeBotAPI(token=TOKEN, enforce_rate_limits=True)
    await fake.start()
    try:
        now = datetime.now(UTC)
        zone = midday_zone(now)
        chats = await add_due_patients(
            pg_url, fake, count=PATIENTS, now=now, tz=zone, first_tg=30_000
        )
        await add_exercise_reminders(pg_url, chats, now)
        env = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.5"}
        if shared:
            env["REDIS_URL"] = redis_url

        def delivered() -> int:
            return len([m for m in fake.sent_messages() if m.chat_id in set(chats)])

        async with AsyncExitStack() as stack:
            for name in ("one", "two"):
                await stack.enter_async_context(extra_instance(fake, pg_url, name, **env))
            await fake.wait_until(lambda: delivered() >= 2 * PATIENTS, timeout=120)
    finally:
        await fake.stop()
    per_chat = Counter(m.chat_id for m in fake.sent_messages())
    assert all(per_chat[c] == 2 for c in chats), "each patient gets the check-in and reminder once"
    states = await states_of_due_rows(pg_url, now)
    refused = [r for r in fake.requests if r.status == 429]
    print(
        f"\n{'shared' if shared else 'separate'} budgets: {len(refused)} requests answered 429, "
        f"peak {peak_rate(fake.requests)} msg/s, rows {dict(states)}"
    )
    if shared:
        assert refused == []
        assert peak_rate(fake.requests) <= 30
        assert states == Counter({str(OutboxState.SENT): 2 * PATIENTS})
    else:
        assert refused, "the fake enforces the limits, so two separate budgets must be refused"


async def test_sending_goes_on_when_the_shared_budget_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis down: each slot is still granted (under the local limits), logged once."""
    budget = SharedBudget.from_url("redis://127.0.0.1:1/0", bot_id=BOT_ID)
    limiter = RateLimiter(per_second=30, shared=budget)
    granted = []
    with caplog.at_level(logging.WARNING, logger="scheduler.shared_budget"):
        for chat in range(5):
            async with asyncio.timeout(10):
                async with limiter.slot(1000 + chat) as at:
                    granted.append(at)
    await budget.close()
    assert len(granted) == 5
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]


class Asked(Exception):
    """Raised by a budget's sleep: it was asked to wait, and for how long."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


async def refuse_to_wait(seconds: float) -> None:
    raise Asked(seconds)


@needs_redis
async def test_a_per_chat_429_pauses_that_chat_on_every_instance_and_a_global_one_everything(
    redis_url: str,
) -> None:
    """Issue 13 item 6 across instances: a 429 for chat A on instance one pauses A on
    instance two as well (before: only on instance one, so two sent to A into the flood),
    not chat B. Two chats refused on different instances while the first is paused is the
    bot's flood: every chat waits, on every instance. What a budget is told to wait is read
    from Redis (its sleep raises), so no wall time is measured."""
    one = SharedBudget.from_url(redis_url, bot_id=BOT_ID)
    two = SharedBudget(Redis.from_url(redis_url), bot_id=BOT_ID, sleep=refuse_to_wait)
    limiter_one = RateLimiter(shared=one)
    limiter_two = RateLimiter(shared=two)
    try:
        assert limiter_one.flood_wait(41, 30.0) is False  # A's flood, judged on instance one
        await one.settle()  # the pause is written in the background
        with pytest.raises(Asked) as asked:
            await two.reserve(41)
        assert 25.0 < asked.value.seconds <= 30.0  # A waits on instance two too
        assert await two.reserve(42) is not None  # B does not
        assert limiter_two.paused_for(42) == 0.0

        # instance two sees nothing paused locally, but A is paused in Redis: C's 429
        # there is the bot's flood, and every chat waits on every instance
        limiter_two.flood_wait(43, 20.0)
        await two.settle()
        for chat in (42, 44, None):
            with pytest.raises(Asked) as asked:
                await two.reserve(chat)
            assert 15.0 < asked.value.seconds <= 20.0
        one_waits = SharedBudget(Redis.from_url(redis_url), bot_id=BOT_ID, sleep=refuse_to_wait)
        with pytest.raises(Asked):
            await one_waits.reserve(42)
        await one_waits.close()
    finally:
        await one.close()
        await two.close()
