"""Running instances and the network around them: the protocol time a process stored, a
free port, a webhook update as Telegram sends it, one more in-process instance, the peak
send rate across instances, and a link to PostgreSQL that can be cut."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from bot.app import make_bot
from bot.background import Background, make_background
from flows.loader import load_protocol
from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import AppState
from tests.fakebot import FakeBotAPI, RecordedRequest
from tests.support.harness import settings_for


async def protocol_now(db_url: str) -> datetime:
    """The bot's protocol time, from the clock anchor it stored."""
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        anchor = await db.get(AppState, "clock_anchor")
    await engine.dispose()
    assert anchor is not None
    wall, proto, scale = anchor.value.split("|")
    elapsed = datetime.now(UTC) - datetime.fromisoformat(wall)
    return datetime.fromisoformat(proto) + elapsed * float(scale)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def forged_start(user_id: int) -> dict[str, Any]:
    """A /start update as Telegram would send it, from someone the bot never saw."""
    user = {"id": user_id, "is_bot": False, "first_name": "Mallory", "language_code": "en"}
    return {
        "update_id": 990_001,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Mallory"},
            "from": user,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


def peak_rate(requests: Iterable[RecordedRequest]) -> int:
    """Most messages accepted in any one-second window (all instances together)."""
    times = sorted(r.at for r in requests if r.method == "sendMessage" and r.status == 200)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


@asynccontextmanager
async def extra_instance(
    fake: FakeBotAPI, db_url: str, name: str, **env: str
) -> AsyncIterator[Background]:
    """One more instance in this process: dispatcher and sweeps only (no polling).

    Its own engine, pool, Bot session and clock, as a separate process would have. The
    worker id is made unique: `make_background` names workers by host and pid, which
    would be shared by two instances living in one test process.
    """
    settings = settings_for(fake, db_url, **env)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    clock = Clock(settings.time_scale)
    async with sessions() as db:
        await clock.anchor(db)
    bot = make_bot(settings)
    background = make_background(bot, sessions, load_protocol(), settings, clock)
    background.dispatcher.worker_id = f"{socket.gethostname()}:{os.getpid()}:{name}"
    background.start()
    try:
        yield background
    finally:
        await background.stop()
        await bot.session.close()
        await engine.dispose()


class CuttableProxy:
    """A TCP proxy to PostgreSQL that the test can cut (every connection dropped, new ones
    closed at once) and restore. Counts the connections it turned away while cut."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self.cut = False
        self.turned_away = 0
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, db_url: str) -> str:
        return (
            make_url(db_url)
            .set(host="127.0.0.1", port=self.listen_port)
            .render_as_string(hide_password=False)
        )

    def drop(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def wait_turned_away(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.turned_away >= count)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            self.turned_away += 1
            writer.transport.abort()
            async with self._changed:
                self._changed.notify_all()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(sink)
            sink.transport.abort()


SECRET = "careloop-Webhook_secret-42-0123456789abcdef"


def webhook_env(port: int, zone: str) -> dict[str, str]:
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/tg",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_HOST": "127.0.0.1",
        "CLINIC_TIMEZONE": zone,
        "DISPATCH_INTERVAL_SECONDS": "0.2",
    }
