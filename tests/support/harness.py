"""Run careloop against the strict fake Bot API: in-process or as the real `python -m bot`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import App, build_app
from bot.background import Background, make_background
from bot.config import Settings, load_settings
from scheduler.clock import Clock
from tests.fakebot import FakeBotAPI

ADMIN_ID = 1000
TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"  # the fake's bot token in tests
#: the least a live bot starts with: its token and the two numbers patients are told to call
LIVE = {"BOT_TOKEN": TOKEN, "CLINIC_PHONE": "+34 900 123 456", "EMERGENCY_NUMBER": "112"}
# Monday 23 November 2026, 10:00 in Madrid (UTC+1): the clinic day the e2e tests start on
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


# what people type that the log must never show: patients' names (tests/support/journey.py and
# tests/support/hostile.py) and their words to the therapist
SENSITIVE_WORDS = (
    "Zoë <O'Brien> & 🦵",
    "O'Brien",
    "Omar <b>Two</b>",
    "my leg feels odd",
    "me duele <mucho> & más",
)


def personal_words(fake: FakeBotAPI) -> set[str]:
    """The hostile names and typed words of a test: the fixed ones above, and whatever the
    simulated people typed in that test (texts and captions of six characters or more
    that are not commands — shorter ones, such as a time "20:30", are not personal)."""
    words = set(SENSITIVE_WORDS)
    for conversation in [*fake.users.values(), *fake.groups.values()]:
        for message in conversation.posted.values():
            for key in ("text", "caption"):
                value = str(message.get(key) or "").strip()
                if len(value) >= 6 and not value.startswith("/"):
                    words.add(value)
    return words


def assert_no_personal_data(text: str, fake: FakeBotAPI, *, where: str) -> None:
    """`text` (a process's log, a table dump …) holds none of `personal_words(fake)`."""
    found = sorted(w for w in personal_words(fake) if w in text)
    assert not found, f"personal data in {where}: {found[:5]}"


def settings_for(fake: FakeBotAPI, db_url: str, **extra: str) -> Settings:
    env = {
        "BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "DATABASE_URL": db_url,
        "ADMIN_IDS": str(ADMIN_ID),
        "CLINIC_NAME": "Clínica Río & Mar",
        "CLINIC_TIMEZONE": "Europe/Madrid",
        "CLINIC_PHONE": "+34 900 123 456",
        "EMERGENCY_NUMBER": "112",
        **extra,
    }
    return load_settings(env)


@dataclass
class Running:
    app: App
    fake: FakeBotAPI
    background: Background


class ManualWall:
    """A wall clock the test moves by hand, for deterministic expiry."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@asynccontextmanager
async def running_bot(
    fake: FakeBotAPI,
    db_url: str,
    *,
    clock: Clock | None = None,
    handle_as_tasks: bool = True,
    **extra: str,
) -> AsyncIterator[Running]:
    """The real dispatcher polling the fake, in this event loop.

    With ``handle_as_tasks=False`` aiogram handles each batch before it asks for the
    next one, so an update the fake no longer holds as pending has been handled: a test
    can wait for exactly that (`FakeBotAPI.updates.pending` empty) instead of a timeout.
    """
    settings = settings_for(fake, db_url, **extra)
    app = await build_app(settings, clock=clock)
    background = make_background(app.bot, app.sessions, app.protocol, settings, app.clock)
    background.start()
    task = asyncio.create_task(
        app.dispatcher.start_polling(
            app.bot, handle_signals=False, polling_timeout=1, handle_as_tasks=handle_as_tasks
        )
    )
    try:
        yield Running(app=app, fake=fake, background=background)
    finally:
        await background.stop()
        await app.dispatcher.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        await app.close()


def process_env(fake: FakeBotAPI, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(
        BOT_TOKEN=fake.token,
        TELEGRAM_API_URL=fake.url,
        DATABASE_URL=db_url,
        ADMIN_IDS=str(ADMIN_ID),
        CLINIC_NAME="Clínica Río & Mar",
        CLINIC_TIMEZONE="Europe/Madrid",
        CLINIC_PHONE="+34 900 123 456",
        EMERGENCY_NUMBER="112",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@asynccontextmanager
async def bot_process(
    fake: FakeBotAPI, db_url: str, workdir: Path, extra: Mapping[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The real `python -m bot` process; stopped with SIGTERM (or already killed)."""
    log = (workdir / "bot.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=str(workdir),
        env=process_env(fake, db_url, **dict(extra or {})),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


class Pump:
    """Feeds the fake's pending updates to one or more in-process dispatchers (instances
    on the same database), instead of long polling — so a test decides what runs together.

    Outside `together()` each update is fed as it arrives, to the first instance. Inside
    it, updates are held; on leaving, all of them are fed at once (`asyncio.gather`), the
    n-th to instance n modulo the count, and `together()` returns once all are handled.
    """

    def __init__(self, fake: FakeBotAPI, apps: list[App]) -> None:
        self.fake = fake
        self.apps = apps
        self._holding = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _take(self) -> list[dict[str, object]]:
        updates = list(self.fake.updates.pending)
        for update in updates:
            self.fake.updates.confirm_one(int(str(update["update_id"])))
        return updates

    async def _feed(self, updates: list[dict[str, object]], *, spread: bool) -> None:
        async def one(index: int, update: dict[str, object]) -> None:
            app = self.apps[index % len(self.apps)] if spread else self.apps[0]
            await app.dispatcher.feed_raw_update(app.bot, update)

        await asyncio.gather(*(one(i, u) for i, u in enumerate(updates)))

    async def _run(self) -> None:
        while True:
            async with self.fake.condition:
                await self.fake.condition.wait_for(
                    lambda: not self._holding and bool(self.fake.updates.pending)
                )
            for update in self._take():
                await self._feed([update], spread=False)

    @asynccontextmanager
    async def together(self, *, spread: bool = True) -> AsyncIterator[None]:
        """Hold the updates made inside the block, then feed them all concurrently."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        await self._feed(self._take(), spread=spread)


@asynccontextmanager
async def pumped_instances(
    fake: FakeBotAPI, db_url: str, *, instances: int = 1, **extra: str
) -> AsyncIterator[tuple[list[App], Pump]]:
    """`instances` in-process apps on one database, fed by a `Pump` (no polling, no
    background jobs: the test drives what it needs)."""
    settings = settings_for(fake, db_url, **extra)
    apps = [await build_app(settings) for _ in range(instances)]
    pump = Pump(fake, apps)
    pump.start()
    try:
        yield apps, pump
    finally:
        await pump.stop()
        for app in apps:
            await app.dispatcher.fsm.close()
            await app.close()
