"""Issue 13 item 5: a webhook update survives its instance.

The real ``python -m bot`` process in webhook mode handles an update before answering
the webhook (bot/web.py ``WebhookHandler``), so an instance killed in the middle of an
update never said 200: Telegram (here the fake) delivers it again, to the instance
restarted, and the ``update_id`` is recorded as handled only once handling finished.

The kill lands at a chosen point, not a random one: the fake holds the call that moves
the tapped check-in on to its next question (``FakeBotAPI.hold``), so the process is
killed with the answer stored and the tap acknowledged but the next question not yet
shown — "a stored answer whose next question never came" of the issue.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import Answer, ProcessedUpdate
from tests.fakebot import FakeBotAPI, SentMessage
from tests.support.bulk import add_due_patients
from tests.support.dbutil import PG_SKIP_REASON, pg_base_url
from tests.support.e2e import H3_INTRO, calm
from tests.support.harness import bot_process
from tests.support.kills import tolerated_after_a_kill
from tests.support.population import midday_zone
from tests.support.process import free_port, webhook_env

pytestmark = pytest.mark.skipif(pg_base_url() is None, reason=PG_SKIP_REASON)


async def handled(db_url: str, update_id: int) -> bool:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        found = await db.get(ProcessedUpdate, update_id)
    await engine.dispose()
    return found is not None


async def answers_to(db_url: str, question_key: str) -> int:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        count = (
            await db.exec(select(func.count()).where(Answer.question_key == question_key))
        ).one()
    await engine.dispose()
    return int(count)


def shows_next_question(message: SentMessage, first_buttons: list[list[str]]) -> bool:
    return message.edits >= 1 and bool(message.buttons()) and message.buttons() != first_buttons


async def test_sigkill_in_the_middle_of_a_webhook_update_redelivers_it(
    fake: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    zone = midday_zone(now)
    fake.webhook_attempts = 1000  # Telegram goes on delivering an update it saw no 2xx for
    (tg,) = await add_due_patients(pg_url, fake, count=1, now=now, tz=zone, first_tg=10_000)
    patient = fake.user(tg)
    env = webhook_env(free_port(), zone)
    async with bot_process(fake, pg_url, tmp_path, env) as proc:
        question = await patient.wait_for(
            lambda m: H3_INTRO in m.text and m.reply_markup is not None, timeout=60
        )
        first_buttons = question.buttons()
        question_key = question.button_data(calm(question)).split(":")[2]
        # the call that would show the next question is held: the process is killed there
        moving_on = fake.hold(
            "editMessageText", where=lambda p: str(p.get("chat_id")) == str(tg)
        )
        query = await patient.tap(question, calm(question))
        (tap,) = [u for u in fake.updates.pending if "callback_query" in u]
        update_id = int(tap["update_id"])
        await fake.wait_until(lambda: moving_on.held == 1, timeout=30)
        # in the middle of the update: the answer is stored and the tap acknowledged …
        assert await answers_to(pg_url, question_key) == 1
        assert fake.callbacks[query].answered
        # … but the update is not recorded as handled, and Telegram has no 2xx for it
        assert not await handled(pg_url, update_id)
        assert update_id in {int(u["update_id"]) for u in fake.updates.pending}
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not await handled(pg_url, update_id)
    assert not shows_next_question(question, first_buttons)  # the held edit never happened
    moving_on.release()

    async with bot_process(fake, pg_url, tmp_path, env) as restarted:
        # the fake delivers the tap again, to the restarted instance
        await fake.wait_until(
            lambda: shows_next_question(question, first_buttons) and not fake.updates.pending,
            timeout=60,
        )
        await fake.wait_until(
            lambda: any(
                d["update_id"] == update_id and d["status"] == 200
                for d in fake.webhook.deliveries
            ),
            timeout=30,
        )
    assert restarted.returncode == 0
    assert await answers_to(pg_url, question_key) == 1  # the answer stored once
    assert await handled(pg_url, update_id)  # recorded once handling had finished
    # the next question reached the patient exactly once: one edit of the tapped message,
    # no new message with buttons after it
    shown = [
        r
        for r in fake.requests
        if r.status == 200
        and str(r.params.get("chat_id")) == str(tg)
        and r.method in ("editMessageText", "sendMessage")
    ]
    assert [r.method for r in shown] == ["sendMessage", "editMessageText"], shown
    assert question.edits == 1
    deliveries = [d["status"] for d in fake.webhook.deliveries if d["update_id"] == update_id]
    assert deliveries[-1] == 200 and all(s != 200 for s in deliveries[:-1]), deliveries
    refused = [r for r in fake.refused if not tolerated_after_a_kill(fake, r)]
    assert refused == []
