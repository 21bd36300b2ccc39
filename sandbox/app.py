"""The sandbox: the local Bot API and the real bot in one process, with time at hand.

The bot part is the live code — `build_app`, `make_background`, long polling — only
pointed at :class:`~sandbox.botapi.FakeBotAPI` instead of Telegram and at its own
SQLite file. On top, what a preview needs: protocol time that can be sped up or
skipped ahead to the next scheduled message, and a reset that starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.app import App, build_app
from bot.background import Background, make_background
from bot.commands import set_default_commands
from bot.config import Settings
from care.people import find_link
from care.timeline import next_moment
from flows.loader import load_protocol
from sandbox.botapi import FakeBotAPI
from sandbox.config import SandboxConfig
from sandbox.people import ADMIN, ensure_cast
from scheduler.clock import Clock
from scheduler.jobs import DISPATCH_JOB_ID
from store.db import create_engine, session_factory
from store.migrate import upgrade_async

log = logging.getLogger(__name__)

BOT_ID = 777000111
BOT_USERNAME = "careloop_sandbox_bot"
SWEEPS_JOB_ID = "sweeps"  # make_background's sweep job


class SandboxBusy(Exception):
    """An action arrived while the sandbox was (re)starting; try again in a moment."""


@dataclass
class RunningBot:
    """One generation of the bot: built at start and after every reset."""

    app: App
    background: Background
    polling: asyncio.Task[Any]


class Sandbox:
    """Owns the local Bot API, the running bot and the protocol clock.

    `generation` and `clock_version` count resets and clock changes, so the page
    can tell "start over" and "time moved" apart from ordinary chat traffic.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.fake = FakeBotAPI(
            token=f"{BOT_ID}:{secrets.token_urlsafe(24)}",
            bot_id=BOT_ID,
            bot_username=BOT_USERNAME,
        )
        self.fake.bot_first_name = "careloop (sandbox)"
        self.running: RunningBot | None = None
        self.generation = 0
        self.clock_version = 0
        self.closing = False
        self._lock = asyncio.Lock()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the local Bot API, then the bot; the cast is registered when this returns."""
        await self.fake.start()
        async with self._lock:
            await self._boot()
        await self.fake.notify()  # pages hold back the clock while the lock is held

    async def stop(self) -> None:
        """Stop the bot as a live instance stops, then the local Bot API."""
        self.closing = True
        async with self._lock:
            await self._halt()
        await self.fake.stop()

    async def reset(self) -> None:
        """Start over: empty database, no chats, the cast registered again, same speed."""
        async with self._lock:
            scale = self.running.app.clock.scale if self.running else None
            await self._halt()
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = self.config.db_path.with_name(self.config.db_path.name + suffix)
                path.unlink(missing_ok=True)
            self.fake.clear()
            self.generation += 1
            await self.fake.notify()
            await self._boot(scale)
        await self.fake.notify()  # pages hold back the clock while the lock is held
        log.info("sandbox reset")

    @property
    def settings(self) -> Settings:
        """The bot's Settings for this local Bot API (ConfigError names a bad variable)."""
        return self.config.settings(
            api_url=self.fake.url, token=self.fake.token, admin_id=ADMIN.user_id
        )

    async def _boot(self, scale: float | None = None) -> None:
        """Migrate, build and start the bot, then set up the cast (the lock is held)."""
        settings = self.settings
        load_protocol(settings.protocol_file)  # a bad protocol file fails here, named
        await upgrade_async(settings.database_url)
        scale = scale or await self._stored_scale(settings)
        clock = Clock(scale, anchor_protocol=self.config.start_at)
        app = await build_app(settings, clock=clock)
        background = make_background(app.bot, app.sessions, app.protocol, settings, app.clock)
        await app.bot.delete_webhook(drop_pending_updates=False)
        await set_default_commands(app.bot)
        background.start()
        polling = asyncio.create_task(
            app.dispatcher.start_polling(app.bot, handle_signals=False, close_bot_session=False)
        )
        self.running = RunningBot(app=app, background=background, polling=polling)
        self.clock_version += 1
        await ensure_cast(self.fake, app.sessions)
        log.info("sandbox bot @%s running (database %s)", app.bot_username, self.config.db_path)

    async def _stored_scale(self, settings: Settings) -> float:
        """Keep the speed the database's clock last ran at; TIME_SCALE for a fresh one."""
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as db:
                stored = await Clock.stored_scale(db)
        finally:
            await engine.dispose()
        return stored or settings.time_scale

    async def _halt(self) -> None:
        """Stop taking updates, let the dispatcher finish its sends, close the sessions."""
        running, self.running = self.running, None
        if running is None:
            return
        dp = running.app.dispatcher
        if not running.polling.done():
            try:
                await dp.stop_polling()
            except RuntimeError:  # stopped before polling had begun
                running.polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.polling
        await running.background.stop()
        await running.app.close()

    @property
    def busy(self) -> bool:
        """True while the bot is being (re)started: actions wait, the clock is not shown."""
        return self.running is None or self._lock.locked()

    def bot(self) -> RunningBot:
        """The running bot, or SandboxBusy while a reset is under way."""
        running = self.running
        if running is None or self._lock.locked():
            raise SandboxBusy("the sandbox is starting")
        return running

    # -------------------------------------------------------------------- time

    async def link_kind(self, token: str) -> str | None:
        """ "invite" or "join" for a link token the bot made (None when unknown)."""
        running = self.bot()
        async with running.app.sessions() as db:
            link = await find_link(db, token)
        return None if link is None else link.kind

    @property
    def clock(self) -> Clock:
        return self.bot().app.clock

    async def set_scale(self, scale: float) -> None:
        """Change the speed of protocol time without a jump, and keep it across restarts."""
        running = self.bot()
        running.app.clock.set_scale(scale)
        async with running.app.sessions() as db:
            await running.app.clock.save(db)
        await self._clock_changed()
        log.info("sandbox time scale %s", scale)

    async def next_due(self) -> datetime | None:
        """The next moment someone will see something (None when nothing is planned).

        Rows that will be cancelled when they fall due (an ended patient's, a paused
        patient's reminder) do not count; an URGENT alert's next escalation does."""
        running = self.bot()
        async with running.app.sessions() as db:
            return await next_moment(db)

    async def jump(self) -> datetime | None:
        """Skip protocol time ahead to the next scheduled message and send it now.

        Returns the instant jumped to (None when nothing is pending). A row already
        due only gets the dispatch pass. The sweeps run too, so whatever a real wait
        would have expired or escalated is expired or escalated.
        """
        due = await self.next_due()
        if due is None:
            return None
        running = self.bot()
        if running.app.clock.jump_to(due):
            async with running.app.sessions() as db:
                await running.app.clock.save(db)
            await self._clock_changed()
            log.info("sandbox jumped to %s", due.isoformat())
        # through the scheduler, so a pass never overlaps the scheduler's own run
        now = datetime.now(UTC)
        for job_id in (SWEEPS_JOB_ID, DISPATCH_JOB_ID):
            running.background.scheduler.modify_job(job_id, next_run_time=now)
        return due

    async def _clock_changed(self) -> None:
        self.clock_version += 1
        await self.fake.notify()
