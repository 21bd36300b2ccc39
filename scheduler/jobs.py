"""APScheduler wiring: it drives the work, the database holds the schedule.

Only interval jobs over in-memory job stores are registered (invariant 1: no
pickled jobs — what is due lives in the outbox). Each job runs at most once at a
time and missed runs collapse into one, so a slow pass (a backlog after
downtime) is never stacked up behind itself. The dispatch job's first run is
immediate, so rows that fell due while the bot was down go out on start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.dispatcher import OutboxDispatcher

DISPATCH_JOB_ID = "outbox-dispatch"

DISPATCH_JOB_NAME = "dispatch due outbox rows"

Job = Callable[[], Awaitable[Any]]


class _ExpectedSkips(logging.Filter):
    """Drop APScheduler's "skipped: maximum number of running instances" for dispatch.

    During a backlog a dispatch pass deliberately runs for many intervals (it
    keeps claiming while batches come back full), so every interval would log
    a WARNING that says nothing an operator can act on. Other jobs' skips stay.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (DISPATCH_JOB_NAME in message and "maximum number of running" in message)


_EXPECTED_SKIPS = _ExpectedSkips()

# The extra jobs' runs under way, per scheduler, so shutdown can let them finish:
# APScheduler's asyncio executor would cancel them mid-way (a half-done sweep and a
# traceback in the log).
_RUNNING: WeakKeyDictionary[AsyncIOScheduler, set[asyncio.Task[Any]]] = WeakKeyDictionary()

SWEEP_GRACE_SECONDS = 30.0


def _tracked(func: Job, running: set[asyncio.Task[Any]]) -> Job:
    async def run() -> Any:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            return await func()
        finally:
            running.discard(task)

    return run


def _job_options(interval_seconds: float) -> dict[str, Any]:
    """One instance, coalesced; a run later than about one interval is skipped, not queued."""
    return {
        "max_instances": 1,
        "coalesce": True,
        "misfire_grace_time": max(1, round(interval_seconds)),
    }


def make_scheduler(
    dispatcher: OutboxDispatcher,
    *,
    interval_seconds: float,
    extra_jobs: Iterable[tuple[Job, float, str]] = (),
) -> AsyncIOScheduler:
    """A not-yet-started scheduler with the dispatch job and `extra_jobs` (func, seconds, id).

    Start it from inside the running event loop (``scheduler.start()``); stop it
    with :func:`shutdown`.
    """
    logging.getLogger("apscheduler.scheduler").addFilter(_EXPECTED_SKIPS)
    scheduler = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
    scheduler.add_job(
        dispatcher.tick,
        "interval",
        seconds=interval_seconds,
        id=DISPATCH_JOB_ID,
        name=DISPATCH_JOB_NAME,
        next_run_time=datetime.now(UTC),
        **_job_options(interval_seconds),
    )
    running = _RUNNING.setdefault(scheduler, set())
    for func, seconds, job_id in extra_jobs:
        scheduler.add_job(
            _tracked(func, running),
            "interval",
            seconds=seconds,
            id=job_id,
            name=job_id,
            **_job_options(seconds),
        )
    return scheduler


async def shutdown(scheduler: AsyncIOScheduler, dispatcher: OutboxDispatcher) -> None:
    """Stop starting jobs, drain the dispatcher, then stop the scheduler.

    The order matters: APScheduler's asyncio executor *cancels* running jobs on
    shutdown, which would cut a send off between Telegram accepting it and the
    database recording it (a duplicate after restart). Pausing first and
    draining lets the running pass finish its sends and give back the rest; a
    sweep under way finishes its pass too (up to ``SWEEP_GRACE_SECONDS``).
    """
    if scheduler.running:
        scheduler.pause()
    await dispatcher.drain()
    running = _RUNNING.get(scheduler, set())
    if running:  # sweeps under way finish their pass (bounded: a hung one is cancelled)
        await asyncio.wait(set(running), timeout=SWEEP_GRACE_SECONDS)
    if scheduler.running:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler stops in a loop callback; let it run
