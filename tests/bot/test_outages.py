"""Issue 13 item 2: an update that meets a database or Redis outage is not lost in silence.

* PostgreSQL cut (the TCP proxy of tests/support/process.py): a message gets "please send that again
  in a minute", a button press gets it as its toast; after the cut, all is normal.
* In webhook mode the same outage answers 5xx (Telegram redelivers), and an update
  already handled is skipped when it comes again (a replay stored nothing twice).
* Redis unreachable: the desk conversation continues in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.metrics import Metrics
from bot.middlewares import HandledOnce
from bot.texts import t
from bot.web import WebhookHandler, serve
from store.db import create_engine, session_factory
from store.models import Patient, PatientNote, ProcessedUpdate
from tests.fakebot import FakeBotAPI
from tests.support.harness import pumped_instances
from tests.support.journey import enroll, invite, join_and_consent
from tests.support.process import CuttableProxy, free_port

SECRET = "s3cret-token_for-tests"


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[CuttableProxy]:
    from sqlalchemy.engine import make_url

    real = make_url(pg_url)
    server = CuttableProxy(real.host or "127.0.0.1", real.port or 5432)
    await server.start()
    yield server
    await server.stop()


async def test_database_cut_asks_to_send_again_then_works(
    fake: FakeBotAPI, pg_url: str, proxy: CuttableProxy
) -> None:
    async with pumped_instances(fake, proxy.url(pg_url)) as (_, pump):
        stranger = fake.user(9100, "Stranger")
        mark = stranger.mark()
        async with pump.together():  # returns once the update is completely handled
            await stranger.send("/help")
        intro = await stranger.wait_for(after=mark)
        proxy.cut = True
        proxy.drop()
        mark = stranger.mark()
        async with pump.together():
            await stranger.send("hello")
        assert [m.text for m in stranger.inbox if m.seq > mark] == [t("try_again_soon")]
        async with pump.together():
            query = await stranger.tap_data(intro.message_id, "anything")
        assert fake.callbacks[query].answer is not None
        assert fake.callbacks[query].answer["text"] == t("try_again_soon")
        proxy.cut = False
        mark = stranger.mark()
        async with pump.together():
            await stranger.send("/help")
        again = await stranger.wait_for(after=mark)
        assert again.text == intro.text


async def test_webhook_outage_answers_5xx_and_a_replay_is_skipped(
    fake: FakeBotAPI, pg_url: str, proxy: CuttableProxy, tmp_path: Path
) -> None:
    async with pumped_instances(fake, proxy.url(pg_url)) as ([app], _pump):
        therapist, staff = fake.user(2000, "Theo", last_name="Rapist"), fake.user(3000, "Sam")
        await invite(fake, "Therapist", therapist)
        await invite(fake, "Front-desk staff", staff)
        token, _, _ = await enroll(fake, staff)
        patient = fake.user(4000, "Zoe")
        await join_and_consent(patient, token)
        app.dispatcher["webhook_redelivers"] = True
        app.dispatcher.update.outer_middleware(HandledOnce(app.sessions))
        handler = WebhookHandler(
            app.dispatcher, app.bot, secret_token=SECRET, on_rejected=Metrics().reject_webhook
        )
        from aiohttp import web

        web_app = web.Application()
        handler.register(web_app, path="/tg")
        port = free_port()
        runner = await serve(web_app, "127.0.0.1", port)
        note = {
            "update_id": 987654,
            "message": {
                "message_id": 900,
                "date": 0,
                "chat": {"id": 4000, "type": "private", "first_name": "Zoe"},
                "from": {"id": 4000, "is_bot": False, "first_name": "Zoe"},
                "text": "my leg is numb",
            },
        }
        url = f"http://127.0.0.1:{port}/tg"
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        try:
            async with aiohttp.ClientSession() as http:
                proxy.cut = True
                proxy.drop()
                async with http.post(url, json=note, headers=headers) as resp:
                    assert resp.status >= 500  # Telegram will deliver it again
                proxy.cut = False
                statuses = []
                for _ in range(2):  # the redelivery, then a replay of the same update
                    async with http.post(url, json=note, headers=headers) as resp:
                        statuses.append(resp.status)
                assert statuses == [200, 200]
        finally:
            await runner.cleanup()
    engine = create_engine(pg_url)
    async with session_factory(engine)() as db:
        pid = (await db.exec(select(Patient.id).where(Patient.tg_user_id == 4000))).one()
        notes = (await db.exec(select(func.count()).where(PatientNote.patient_id == pid))).one()
        handled = await db.get(ProcessedUpdate, 987654)
    await engine.dispose()
    assert notes == 1
    assert handled is not None


async def test_redis_down_conversation_continues_in_memory(
    fake: FakeBotAPI, sqlite_url: str
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with pumped_instances(fake, sqlite_url, REDIS_URL=dead_redis):
        therapist, staff = fake.user(2000, "Theo", last_name="Rapist"), fake.user(3000, "Sam")
        await invite(fake, "Therapist", therapist)
        await invite(fake, "Front-desk staff", staff)
        _token, done, _ = await enroll(fake, staff)
        assert "is enrolled" in (done.text or "")
    engine = create_engine(sqlite_url)
    async with session_factory(engine)() as db:
        assert len((await db.exec(select(Patient))).all()) == 1
    await engine.dispose()
