"""Issue 13 item 2 through the real ``python -m bot`` process: outages of PostgreSQL and
Redis while people are using the bot.

* PostgreSQL cut for 30 s (the TCP proxy of test_scale_pg, polling mode) while a patient
  types a message and taps an answer: the message gets "please send that again in a
  minute", the tap gets it as its toast (the query answered); once the database is
  back, the message sent again is stored once, the tap again is stored once, and the
  answer acknowledged before the cut is still there.
* Redis cut (a TCP proxy in front of Redis, the bot keeping conversations in Redis) in
  the middle of a desk conversation: every one of the 8 updates of an enrolment made
  during the cut is answered, in memory, and the patient is enrolled; nothing fails.
* Webhook mode, PostgreSQL cut: the webhook answers 503, so the fake Bot API goes on
  delivering the update (a warning line each time, no traceback); once the database is
  back it is handled (one note), and the same update replayed with the secret is
  skipped (still one note).

The cuts are real (every connection dropped, new ones closed at once) and last a fixed
time, as an outage does; everything else is awaited on the fake's condition, with
timeouts. Nothing here runs on a scaled clock.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.texts import t
from store.db import create_engine, session_factory
from store.models import Answer, Patient, PatientNote
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.bulk import add_due_patients
from tests.support.dbutil import PG_SKIP_REASON, REDIS_SKIP_REASON, pg_base_url
from tests.support.e2e import H3_INTRO, calm
from tests.support.harness import TOKEN, bot_process
from tests.support.journey import enroll
from tests.support.population import clinic, midday_zone
from tests.support.process import SECRET, CuttableProxy, free_port, webhook_env

DB_OUTAGE_SECONDS = 30.0
"""How long PostgreSQL stays cut while the patient acts (issue 13: a 30 s cut)."""
WEBHOOK_OUTAGE_SECONDS = 20.0
"""How long the webhook test keeps the database cut: the fake redelivers about once a
second meanwhile."""

TRY_AGAIN = t("try_again_soon")
NOTE_REPLY_BUTTON = t("btn_pass_note")
needs_pg = pytest.mark.skipif(pg_base_url() is None, reason=PG_SKIP_REASON)


@pytest.fixture
async def pg_proxy(pg_url: str) -> AsyncIterator[CuttableProxy]:
    real = make_url(pg_url)
    proxy = CuttableProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def hold_cut(cut_at: float, seconds: float) -> None:
    """Keep the cut until it has lasted `seconds`: the outage's length is the fault under
    test, not a wait for something to happen."""
    remaining = cut_at + seconds - asyncio.get_running_loop().time()
    if remaining > 0:
        await asyncio.sleep(remaining)


def cut(proxy: CuttableProxy) -> float:
    proxy.cut = True
    proxy.drop()
    return asyncio.get_running_loop().time()


async def count(db_url: str, stmt: object) -> int:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        value = (await db.exec(stmt)).one()  # type: ignore[call-overload]
    await engine.dispose()
    return int(value)


async def notes_of(db_url: str, tg: int) -> list[str]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        patient_id = (await db.exec(select(Patient.id).where(Patient.tg_user_id == tg))).one()
        texts = (
            await db.exec(select(PatientNote.text).where(PatientNote.patient_id == patient_id))
        ).all()
    await engine.dispose()
    return list(texts)


def log_problems(tmp_path: Path) -> list[str]:
    text = (tmp_path / "bot.log").read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]


def is_note_reply(message: SentMessage) -> bool:
    return any(NOTE_REPLY_BUTTON in label for row in message.buttons() for label in row)


async def first_question(fake: FakeBotAPI, patient: SimUser) -> SentMessage:
    return await patient.wait_for(
        lambda m: H3_INTRO in m.text and m.reply_markup is not None, timeout=60
    )


# ------------------------------------------------------------------------ PostgreSQL


@needs_pg
async def test_database_cut_during_a_message_and_a_tap_asks_again_and_loses_nothing(
    fake: FakeBotAPI, pg_url: str, pg_proxy: CuttableProxy, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    zone = midday_zone(now)
    (tg,) = await add_due_patients(pg_url, fake, count=1, now=now, tz=zone, first_tg=10_000)
    patient = fake.user(tg)
    before, during = "my knee was warm this morning", "my calf feels tight tonight"
    env = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.2"}
    async with bot_process(fake, pg_proxy.url(pg_url), tmp_path, env) as proc:
        question = await first_question(fake, patient)
        first_buttons = question.buttons()
        label = calm(question)
        _, _, key, value = question.button_data(label).split(":")
        # a message acknowledged before the cut: it must survive it
        mark = patient.mark()
        await patient.send(before)
        await patient.wait_for(is_note_reply, after=mark, timeout=30)

        cut_at = cut(pg_proxy)
        mark = patient.mark()
        await patient.send(during)
        await patient.wait_for(lambda m: m.text == TRY_AGAIN, after=mark, timeout=30)
        query = await patient.tap(question, label)
        await fake.wait_until(lambda: fake.callbacks[query].answered, timeout=30)
        assert fake.callbacks[query].answer is not None
        assert fake.callbacks[query].answer["text"] == TRY_AGAIN
        await hold_cut(cut_at, DB_OUTAGE_SECONDS)
        assert proc.returncode is None
        assert pg_proxy.turned_away > 0
        assert question.buttons() == first_buttons  # the question still waits for its answer
        pg_proxy.cut = False

        # the database is back: the patient does both again, as asked
        mark = patient.mark()
        await patient.send(during)
        await patient.wait_for(is_note_reply, after=mark, timeout=60)
        again = await patient.tap(question, label)
        await patient.wait_for(
            lambda m: m.message_id == question.message_id and m.edits >= 1, timeout=30
        )
        assert fake.callbacks[again].answer is not None
        assert fake.callbacks[again].answer["text"] in (None, "")  # accepted, not "again"
    assert proc.returncode == 0
    # what was acknowledged is stored, once: both messages, and the answer
    assert sorted(await notes_of(pg_url, tg)) == sorted([before, during])
    engine = create_engine(pg_url)
    async with session_factory(engine)() as db:
        answers = [(a.question_key, a.value) for a in (await db.exec(select(Answer))).all()]
    await engine.dispose()
    assert answers == [(key, int(value))]
    assert len([m for m in patient.inbox if m.text == TRY_AGAIN]) == 1
    assert len([m for m in patient.inbox if is_note_reply(m)]) == 2
    problems = log_problems(tmp_path)  # the dispatcher's one line, nothing else
    assert len(problems) <= 1 and all("database unavailable" in p for p in problems), problems
    assert fake.refused == []


# ------------------------------------------------------------------------------ Redis


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip(REDIS_SKIP_REASON)
    return url


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API for a bot id of its own: the FSM and rate keys a test leaves in
    Redis meet no other test's, and are deleted afterwards."""
    bot_id = random.randrange(10**8, 10**9)
    server = FakeBotAPI(token=f"{bot_id}:{TOKEN.split(':', 1)[1]}", bot_id=bot_id)
    await server.start()
    yield server
    await server.stop()
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        return
    redis = Redis.from_url(url)
    try:
        # aiogram's keys: fsm:<chat>:<user>:… (no bot id), the budget's carry the bot id
        patterns = [f"fsm:{uid}:{uid}:*" for uid in server.users]
        for pattern in [*patterns, f"{{careloop:rate:{bot_id}}}*"]:
            keys = [key async for key in redis.scan_iter(match=pattern)]
            if keys:
                await redis.delete(*keys)
    finally:
        await redis.aclose()


async def fsm_keys(redis_url: str, user_id: int) -> list[bytes]:
    """This person's conversation keys in Redis (aiogram's fsm:<chat>:<user>:…)."""
    redis = Redis.from_url(redis_url)
    try:
        return [key async for key in redis.scan_iter(match=f"fsm:{user_id}:*")]
    finally:
        await redis.aclose()


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[CuttableProxy]:
    real = urlsplit(redis_url)
    proxy = CuttableProxy(real.hostname or "127.0.0.1", real.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_redis_cut_mid_conversation_every_update_is_answered_in_memory(
    fake: FakeBotAPI,
    redis_url: str,
    redis_proxy: CuttableProxy,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    staff = await clinic(fake, sqlite_url)
    through_proxy = f"redis://127.0.0.1:{redis_proxy.listen_port}{urlsplit(redis_url).path}"
    env = {"REDIS_URL": through_proxy}
    async with bot_process(fake, sqlite_url, tmp_path, env) as proc:
        mark = staff.mark()
        await staff.send("/enroll")
        await staff.wait_for(lambda m: "name" in (m.text or ""), after=mark, timeout=60)
        # the conversation is under way, in Redis (its state is written before the reply)
        held = await fsm_keys(redis_url, staff.id)
        assert held, "the conversation's state should be in Redis before the cut"

        cut(redis_proxy)
        updates_before = len(fake.updates.delivered) + len(fake.updates.pending)
        requests_before = len(fake.requests)
        # the whole enrolment again, during the cut: 10 updates (the command, the name, the
        # therapist, the time, two regions, Done, the leg question, "None of these", the
        # baseline), each waited for its answer (journey.enroll waits for every reply, so
        # one unanswered update fails here)
        _token, done, _qr = await enroll(fake, staff)
        assert "is enrolled" in (done.text or "")
        during = len(fake.updates.delivered) + len(fake.updates.pending) - updates_before
        assert during == 10
        assert redis_proxy.turned_away > 0  # Redis was really tried, and really down
        assert proc.returncode is None
        answered = [r for r in fake.requests[requests_before:] if r.status == 200]
        assert not [r for r in answered if r.params.get("text") == t("try_again_soon")]

        redis_proxy.cut = False
        mark = staff.mark()
        await staff.send("/help")
        await staff.wait_for(lambda m: "/enroll" in (m.text or ""), after=mark, timeout=60)
    assert proc.returncode == 0
    assert await count(sqlite_url, select(func.count()).select_from(Patient)) == 1
    log = (tmp_path / "bot.log").read_text(encoding="utf-8", errors="replace")
    assert "redis unavailable" in log
    assert log_problems(tmp_path) == []
    assert fake.refused == []


# ---------------------------------------------------------------------------- webhook


@needs_pg
async def test_webhook_answers_5xx_during_a_database_cut_and_a_replay_is_handled_once(
    fake: FakeBotAPI, pg_url: str, pg_proxy: CuttableProxy, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    zone = midday_zone(now)
    fake.webhook_attempts = 1000  # Telegram goes on delivering an update it saw no 2xx for
    (tg,) = await add_due_patients(pg_url, fake, count=1, now=now, tz=zone, first_tg=10_000)
    patient = fake.user(tg)
    words = "my shoulder is sore since noon"
    port = free_port()
    env = webhook_env(port, zone)
    async with bot_process(fake, pg_proxy.url(pg_url), tmp_path, env) as proc:
        await first_question(fake, patient)
        cut_at = cut(pg_proxy)
        mark = patient.mark()
        update_id = await patient.send(words)

        def deliveries_of_note() -> list[int]:
            return [
                d["status"] for d in fake.webhook.deliveries if d["update_id"] == update_id
            ]

        await fake.wait_until(lambda: len(deliveries_of_note()) >= 3, timeout=30)
        await hold_cut(cut_at, WEBHOOK_OUTAGE_SECONDS)
        assert proc.returncode is None
        assert all(status >= 500 for status in deliveries_of_note())
        assert [m for m in patient.inbox if m.seq > mark] == []  # nothing said: redelivered
        assert update_id in {int(str(u["update_id"])) for u in fake.updates.pending}
        pg_proxy.cut = False

        await patient.wait_for(is_note_reply, after=mark, timeout=60)
        await fake.wait_until(lambda: 200 in deliveries_of_note(), timeout=30)
        statuses = deliveries_of_note()
        # replayed by someone holding the secret: the same update once more
        (update,) = [u for u in fake.updates.delivered if u["update_id"] == update_id]
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"http://127.0.0.1:{port}/tg",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as resp:
                assert resp.status == 200
    assert proc.returncode == 0
    print(f"\ndeliveries of the note during and after the cut: {statuses}")
    assert statuses[-1] == 200 and all(s >= 500 for s in statuses[:-1])
    assert len(statuses) >= 5
    assert await notes_of(pg_url, tg) == [words]  # once, not twice
    assert len([m for m in patient.inbox if is_note_reply(m)]) == 1
    # one warning per refused delivery; no traceback: the dispatcher's one line at most
    problems = log_problems(tmp_path)
    assert len(problems) <= 1 and all("database unavailable" in p for p in problems), problems[:4]
    assert fake.refused == []
