"""The time-driven half of an instance: the outbox dispatcher and the sweeps.

APScheduler drives them; the database holds what is due. The bot edge hands the
dispatcher its `Delivery` here, so `scheduler/` never imports `bot/`.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import exc as sa_exc

from bot.app import alert_policy
from bot.config import Settings
from bot.delivery import Delivery
from bot.reply_budget import ReplyBudget
from care.alerts import escalate_due, resend_at_opening
from care.checkins import expire_overdue
from care.digest import plan_digests
from care.multi_answers import record_standing_drafts
from care.records import erase_expired
from flows.protocol import Protocol
from scheduler.clock import Clock
from scheduler.dispatcher import OutboxDispatcher
from scheduler.jobs import make_scheduler, shutdown
from scheduler.outcomes import Deliver
from scheduler.ratelimit import RateLimiter
from store.db import SessionFactory

if TYPE_CHECKING:
    from scheduler.shared_budget import SharedBudget

log = logging.getLogger(__name__)


@dataclass
class Background:
    dispatcher: OutboxDispatcher
    scheduler: AsyncIOScheduler
    sweep: Callable[[], Awaitable[None]]
    shared: SharedBudget | None = None

    async def run_once(self) -> None:
        """One sweep and one dispatch pass now (what the scheduler does on its interval),
        and the pass's deliveries to the end, so a test or benchmark can read what came
        of them (the scheduler's passes do not wait for their sends)."""
        await self.sweep()
        await self.dispatcher.tick()
        await self.dispatcher.settled()

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self) -> None:
        await shutdown(self.scheduler, self.dispatcher)
        if self.shared is not None:
            await self.shared.close()


def make_background(
    bot: Bot,
    sessions: SessionFactory,
    protocol: Protocol,
    settings: Settings,
    clock: Clock,
    *,
    wrap_delivery: Callable[[Deliver], Deliver] | None = None,
) -> Background:
    """Wire the dispatcher and the sweeps.

    `wrap_delivery` lets the edge observe every outcome (the metrics count sends and
    429s this way) without the dispatcher knowing about it.
    """
    per_second = max(1, int(settings.global_rate_per_second))
    shared = None
    if settings.redis_url:  # several instances: the token's ceilings are shared in Redis
        from scheduler.shared_budget import SharedBudget

        shared = SharedBudget.from_url(
            settings.redis_url,
            bot_id=bot.id,
            per_second=per_second,
            chat_interval=1.0 / settings.per_chat_rate_per_second,
        )
    limiter = RateLimiter(
        per_second=per_second,
        per_chat_interval=1.0 / settings.per_chat_rate_per_second,
        shared=shared,
    )
    bot.session.middleware(ReplyBudget(limiter))  # handlers' replies count too
    delivery: Deliver = Delivery(bot, sessions, protocol, settings, clock)
    if wrap_delivery is not None:
        delivery = wrap_delivery(delivery)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    # claims are renewed while a pass runs, so a dead worker's rows come back in 20 s
    dispatcher = OutboxDispatcher(
        sessions, clock, delivery, limiter, worker_id=worker, stale_after=timedelta(seconds=20)
    )

    async def sweep() -> None:
        """Close check-ins that ran out of time (counting the missed ones)."""
        async with sessions() as db:
            expired = await expire_overdue(db, protocol, now=clock.now(), policy=policy)
        if expired:
            log.info("expired %d open check-in(s)", len(expired))

    policy = alert_policy(settings, protocol)

    async def drafts() -> None:
        """Record multi-select choices left standing (a red flag ticked, Done never tapped);
        before the expiry sweep, so a draft on a check-in running out is recorded first."""
        async with sessions() as db:
            recorded = await record_standing_drafts(db, protocol, policy, now=clock.now())
        if recorded:
            log.info("recorded %d standing multi-select draft(s)", len(recorded))

    async def ladder() -> None:
        """Escalate URGENT alerts nobody acknowledged and callbacks not made in time; re-send
        unacknowledged alerts when the clinic opens."""
        async with sessions() as db:
            steps = await escalate_due(db, policy, now=clock.now())
        if steps:
            log.info("escalated %d alert(s)", steps)
        async with sessions() as db:
            resent = await resend_at_opening(db, policy, now=clock.now())
        if resent:
            log.info("re-sent %d unacknowledged alert(s) at opening", resent)

    async def digests() -> None:
        """Queue each therapist's 08:00 digest, once a day."""
        async with sessions() as db:
            await plan_digests(db, now=clock.now(), default_tz=settings.clinic_timezone)

    async def retention() -> None:
        """Erase follow-ups that ended RETENTION_DAYS ago (a cheap query on most passes)."""
        async with sessions() as db:
            erased = await erase_expired(db, retention=settings.retention, now=clock.now())
        for patient_id in erased:
            log.info("patient %s erased: retention period over", patient_id)

    async def sweep_all() -> None:
        try:
            await drafts()
            await sweep()
            await ladder()
            await digests()
            await retention()
        except (OSError, TimeoutError, sa_exc.TimeoutError, sa_exc.DBAPIError) as exc:
            if isinstance(exc, sa_exc.DBAPIError) and not exc.connection_invalidated:
                raise  # a sweep failing, not the database gone: keep the traceback
            # The database is unreachable. The dispatcher, on the same interval, logs the
            # outage once and its end; a traceback here every interval would bury that.
            log.debug("sweeps skipped: database unreachable (%s)", type(exc).__name__)

    interval = settings.dispatch_interval_seconds
    scheduler = make_scheduler(
        dispatcher,
        interval_seconds=interval,
        extra_jobs=[(sweep_all, interval, "sweeps")],
    )
    return Background(dispatcher=dispatcher, scheduler=scheduler, sweep=sweep_all, shared=shared)
