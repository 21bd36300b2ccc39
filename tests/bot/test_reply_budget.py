"""Replies to people share Telegram's ceilings with the outbox, and go ahead of it.

A burst of due check-ins keeps the sender at 30 messages a second. Someone who writes
to the bot meanwhile must still get an answer at once, and that answer counts against
the same 30 a second: sent unchecked, it pushes one message of the burst — or itself —
over the limit and Telegram answers 429. The fake here enforces the limits.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.fakebot import FakeBotAPI
from tests.support.bulk import add_due_patients
from tests.support.harness import ADMIN_ID, TOKEN, running_bot
from tests.support.population import midday_zone

# Throughput against a fake that enforces Telegram's limits: with pytest-xdist these run
# on one worker, one after another, so two bursts never share the cores (xdist_group).
pytestmark = pytest.mark.xdist_group("telegram-limits")

BURST = 450
REPLIES = 8


@pytest.fixture
async def strict_fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI(token=TOKEN, enforce_rate_limits=True)
    await server.start()
    yield server
    await server.stop()


async def test_replies_during_a_burst_are_answered_at_once_and_nothing_is_refused(
    strict_fake: FakeBotAPI, sqlite_url: str
) -> None:
    fake = strict_fake
    now = datetime.now(UTC)
    zone = midday_zone(now)
    chats = set(
        await add_due_patients(sqlite_url, fake, count=BURST, now=now, tz=zone, first_tg=40_000)
    )

    def burst_sent() -> int:
        return sum(1 for m in fake.sent_messages() if m.chat_id in chats)

    waits: list[float] = []
    async with running_bot(fake, sqlite_url, CLINIC_TIMEZONE=zone, DISPATCH_INTERVAL_SECONDS="0.5"):
        await fake.wait_until(lambda: burst_sent() >= 30, timeout=60)  # the burst is on
        for i in range(REPLIES):  # people writing to the bot one after another
            person = fake.user(ADMIN_ID if i == 0 else 70_000 + i, f"Person {i}")
            asked = time.perf_counter()
            await person.send("/help")
            await person.wait_for(timeout=30)  # the reply to this /help
            waits.append(time.perf_counter() - asked)
        during = burst_sent()
        await fake.wait_until(lambda: burst_sent() >= BURST, timeout=120)
    refused = [
        (r.method, r.params.get("chat_id"), r.status) for r in fake.requests if r.status == 429
    ]
    print(
        f"\n{REPLIES} replies during the burst ({during} of {BURST} sent by then): "
        f"answered in {min(waits):.2f}–{max(waits):.2f} s; refused {refused}"
    )
    assert during < BURST, "the replies came while the burst was still going"
    assert refused == []
    assert fake.refused == []
