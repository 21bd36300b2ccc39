"""Dispatch benchmark (issue 3): a burst of check-ins through the real sender stack.

Two measurements, printed as a table (not part of the test run):

1. **Burst.** N patients (users who wrote to the bot, so their chats are
   started) each have a check-in due at the same instant. The real
   `OutboxDispatcher` + `RateLimiter`, driven by the real APScheduler wiring,
   sends them with a real aiogram `Bot` to the fake Bot API enforcing Telegram's
   flood limits (30 messages/s overall, 1/s per chat). Reports the sustained
   send rate, the share of requests answered 429, messages lost or doubled
   (checked against the messages the fake received), and peak RSS.
2. **Claim.** The time one `claim_due(limit=200)` takes with M pending rows in
   the table, median of several claims, in two shapes: a realistic schedule
   (M rows spread over the next 30 days, a few thousand due) and the worst case
   (all M rows overdue — the bot was down for days).

3. **Slow chat** (``--slow-chat``, issue 13 item 6). Rounds of eight alerts to one
   therapist fall due at once — one chat, one message a second, so eight seconds
   of sending — while check-ins to other patients fall due every quarter second.
   Reports how late each check-in arrived at the fake after its due time
   (p50/p99/max): the dispatch interval (2 s) is the floor; a pass that waits for
   its slowest send adds the therapist's queue. ``--retry-after S`` has the fake
   side answer each round's first alert 429 with ``retry_after`` S (Telegram
   refusing that one chat), so the therapist's other alerts wait S more.

With ``--instances N`` the burst is sent by N dispatchers at once, each with its own
engine, Bot session, limiter and worker id, as N processes would be; ``--shared``
gives them the Redis budget of ``REDIS_URL`` deployments (scheduler/shared_budget.py).
The peak is the most messages the fake accepted in any one second, all together.

    .venv/bin/python bench/dispatch.py                     # full size, SQLite
    .venv/bin/python bench/dispatch.py --pg                # also PostgreSQL (TEST_DATABASE_URL)
    .venv/bin/python bench/dispatch.py --patients 300 --rows 50000   # a quick run
    .venv/bin/python bench/dispatch.py --pg-only --skip-claims --instances 2 --shared
                        # two instances on PostgreSQL sharing the budget in TEST_REDIS_URL
    .venv/bin/python bench/dispatch.py --slow-chat --pg          # check-in lateness
    .venv/bin/python bench/dispatch.py --slow-chat --retry-after 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import resource
import sqlite3
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from sqlalchemy import insert
from sqlmodel import col, select

from scheduler.clock import Clock
from scheduler.dispatcher import OutboxDispatcher
from scheduler.jobs import make_scheduler, shutdown
from scheduler.outcomes import (
    Blocked,
    Failed,
    Outcome,
    RetryAfter,
    Sent,
    Transient,
)
from scheduler.ratelimit import RateLimiter, mark_answered
from scheduler.shared_budget import SharedBudget
from store import outbox
from store.db import create_engine, session_factory
from store.models import OutboxMessage, OutboxState
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import _plain_dsn, bench_database

FIRST_USER = 1_000_000


def peak_per_second(times: list[float]) -> int:
    """Most of `times` (sorted, seconds) in any one-second window."""
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def peak_rss_mib() -> float:
    """The process's peak resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ burst


def make_deliver(bot: Bot, sessions: Any, clock: Clock, granted: dict[int, float]) -> Any:
    """What the bot edge will do: send, and on success mark the row sent in one commit.

    `granted` collects when each chat's send left the limiter, to measure the lag
    to the fake's arrival time (the jitter the limiter's safety margin absorbs).
    """

    async def deliver(row: OutboxMessage) -> Outcome:
        assert row.id is not None
        granted.setdefault(row.chat_id, time.monotonic())
        try:
            msg = await bot.send_message(row.chat_id, f"Check-in #{row.id}: pain now, 0-10?")
        except TelegramRetryAfter as exc:
            return RetryAfter(seconds=float(exc.retry_after))
        except TelegramForbiddenError as exc:
            return Blocked(error=exc.message)
        except (TelegramServerError, TelegramNetworkError) as exc:
            return Transient(error=type(exc).__name__)
        except TelegramBadRequest as exc:
            return Failed(error=exc.message)
        finally:
            mark_answered()  # the slot is dated by Telegram's answer, not by our commit
        async with sessions() as db:
            await outbox.mark_sent(db, row.id, now=clock.now(), message_id=msg.message_id)
            await db.commit()
        return Sent(message_id=msg.message_id)

    return deliver


async def run_burst(
    backend: str, patients: int, margin: float, instances: int = 1, redis_url: str | None = None
) -> dict[str, Any]:
    async with bench_database(backend) as url:
        engines = [create_engine(url) for _ in range(instances)]
        sessions = session_factory(engines[0])
        fake = FakeBotAPI(enforce_rate_limits=True, global_per_second=30, per_chat_per_second=1)
        await fake.start()
        for uid in range(FIRST_USER, FIRST_USER + patients):
            await fake.user(uid).send("hi")  # a started chat: Telegram refuses others
        now = datetime.now(UTC)
        async with sessions() as db:
            await db.exec(
                insert(OutboxMessage),
                params=[
                    {
                        "kind": "checkin",
                        "chat_id": uid,
                        "payload": {"key": "evening"},
                        "due_at": now,
                        "created_at": now,
                        "urgent": False,
                        "state": OutboxState.PENDING,
                        "attempts": 0,
                    }
                    for uid in range(FIRST_USER, FIRST_USER + patients)
                ],
            )
            await db.commit()
        rss_before = peak_rss_mib()
        clock = Clock()
        granted: dict[int, float] = {}
        # each instance as a separate process would have it: its own engine, Bot session,
        # limiter and worker id; with Redis they share the token's budget
        bots, budgets, running = [], [], []
        for i, engine in enumerate(engines):
            bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
            budget = (
                SharedBudget.from_url(redis_url, bot_id=bot.id, safety_margin=margin)
                if redis_url
                else None
            )
            limiter = RateLimiter(
                per_second=30, per_chat_interval=1.0, safety_margin=margin, shared=budget
            )
            instance_sessions = session_factory(engine)
            dispatcher = OutboxDispatcher(
                instance_sessions,
                clock,
                make_deliver(bot, instance_sessions, clock, granted),
                limiter,
                worker_id=f"bench{i}",
            )
            bots.append(bot)
            budgets.append(budget)
            running.append((make_scheduler(dispatcher, interval_seconds=2.0), dispatcher))
        started = time.monotonic()
        for scheduler, _ in running:
            scheduler.start()

        def all_sent() -> bool:
            return len(fake.sent_messages()) >= patients

        await fake.wait_until(all_sent, timeout=patients / 10 + 120)
        for scheduler, dispatcher in running:
            await shutdown(scheduler, dispatcher)
        elapsed = time.monotonic() - started
        for bot, budget in zip(bots, budgets, strict=True):
            await bot.session.close()
            if budget is not None:
                await budget.close()
        await fake.stop()

        sends = [r for r in fake.requests if r.method == "sendMessage"]
        ok = sorted(r.at for r in sends if r.status == 200)
        refused_429 = sum(1 for r in sends if r.status == 429)
        lags = sorted(
            (r.at - granted[chat]) * 1000
            for r in sends
            if (chat := int(r.params["chat_id"])) in granted and r.status == 200
        )
        row_ids = Counter(
            int(m.text.split("#", 1)[1].split(":", 1)[0]) for m in fake.sent_messages()
        )
        async with sessions() as db:
            rows = (
                await db.exec(
                    select(
                        col(OutboxMessage.id),
                        col(OutboxMessage.state),
                        col(OutboxMessage.claimed_by),
                    )
                )
            ).all()
        states = Counter(state for _, state, _ in rows)
        all_ids = {row_id for row_id, _, _ in rows}
        by_worker = Counter(worker for _, state, worker in rows if state == OutboxState.SENT)
        for engine in engines:
            await engine.dispose()
        return {
            "instances": instances,
            "shared": redis_url is not None,
            "by_worker": sorted(by_worker.values(), reverse=True),
            "peak_per_second": peak_per_second(ok),
            "backend": backend,
            "messages": patients,
            "elapsed_s": elapsed,
            "rate": (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 else float("nan"),
            "requests": len(sends),
            "429": refused_429,
            "share_429": refused_429 / len(sends) if sends else 0.0,
            "lag_ms": (lags[len(lags) // 2], lags[int(len(lags) * 0.99)], lags[-1]),
            "lost": len(all_ids - set(row_ids)),
            "doubled": sum(1 for n in row_ids.values() if n > 1),
            "states": dict(states),
            "rss_before_mib": rss_before,
            "peak_rss_mib": peak_rss_mib(),
        }


# ------------------------------------------------------------------------------ slow chat

THERAPIST = 900_000


def percentile(xs: list[float], q: float) -> float:
    """The q-quantile of sorted `xs` (nearest rank)."""
    return xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))]


async def run_slow_chat(
    backend: str,
    *,
    rounds: int,
    alerts: int,
    checkins: int,
    round_seconds: float,
    interval: float,
    retry_after: int,
) -> dict[str, Any]:
    """Rounds of `alerts` alerts to one therapist, `checkins` check-ins per round spread
    over it; how late each check-in arrives after its due time."""
    async with bench_database(backend) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        fake = FakeBotAPI(enforce_rate_limits=True, global_per_second=30, per_chat_per_second=1)
        await fake.start()
        patients = list(range(FIRST_USER, FIRST_USER + rounds * checkins))
        for uid in [THERAPIST, *patients]:
            await fake.user(uid).send("hi")
        lead = 3.0  # the first rows fall due once the scheduler runs
        start_wall, start_mono = datetime.now(UTC), time.monotonic()
        rows: list[dict[str, Any]] = []
        due: dict[tuple[str, int], float] = {}  # (kind, chat) → due, monotonic
        for r in range(rounds):
            at = lead + r * round_seconds
            for _ in range(alerts):
                rows.append({"kind": "alert", "chat_id": THERAPIST, "offset": at})
            for i in range(checkins):
                chat = patients[r * checkins + i]
                offset = at + i * round_seconds / checkins
                rows.append({"kind": "checkin", "chat_id": chat, "offset": offset})
                due[("checkin", chat)] = start_mono + offset
        async with sessions() as db:
            await db.exec(
                insert(OutboxMessage),
                params=[
                    {
                        "kind": r["kind"],
                        "chat_id": r["chat_id"],
                        "payload": {},
                        "due_at": start_wall + timedelta(seconds=r["offset"]),
                        "created_at": start_wall,
                        "urgent": False,
                        "state": OutboxState.PENDING,
                        "attempts": 0,
                    }
                    for r in rows
                ],
            )
            await db.commit()
            alert_rows = (
                await db.exec(
                    select(col(OutboxMessage.id), col(OutboxMessage.due_at))
                    .where(col(OutboxMessage.kind) == "alert")
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        # with --retry-after, Telegram refuses each round's first alert once (that chat only)
        to_refuse: set[int] = set()
        if retry_after:
            first_of_round: dict[Any, int | None] = {}
            for row_id, due_at in alert_rows:
                first_of_round.setdefault(due_at, row_id)
            to_refuse = {i for i in first_of_round.values() if i is not None}
        clock = Clock(anchor_wall=start_wall)
        bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))

        async def deliver(row: OutboxMessage) -> Outcome:
            assert row.id is not None
            if row.id in to_refuse:
                to_refuse.discard(row.id)
                mark_answered()
                return RetryAfter(seconds=float(retry_after))
            try:
                msg = await bot.send_message(row.chat_id, f"{row.kind} #{row.id}")
            except TelegramRetryAfter as exc:
                return RetryAfter(seconds=float(exc.retry_after))
            except (TelegramServerError, TelegramNetworkError) as exc:
                return Transient(error=type(exc).__name__)
            finally:
                mark_answered()
            async with sessions() as db:
                await outbox.mark_sent(db, row.id, now=clock.now(), message_id=msg.message_id)
                await db.commit()
            return Sent(message_id=msg.message_id)

        limiter = RateLimiter(per_second=30, per_chat_interval=1.0)
        dispatcher = OutboxDispatcher(sessions, clock, deliver, limiter, worker_id="bench-slow")
        scheduler = make_scheduler(dispatcher, interval_seconds=interval)
        scheduler.start()
        total = len(rows)
        await fake.wait_until(
            lambda: len(fake.sent_messages()) >= total,
            timeout=rounds * round_seconds + alerts + retry_after + 120,
        )
        await shutdown(scheduler, dispatcher)
        await bot.session.close()
        await fake.stop()
        await engine.dispose()

        arrivals = {
            (r.params["text"].split(" ", 1)[0], int(r.params["chat_id"])): r.at
            for r in fake.requests
            if r.method == "sendMessage" and r.status == 200
        }
        late = sorted(arrivals[key] - at for key, at in due.items())
        alert_times = sorted(
            r.at
            for r in fake.requests
            if r.method == "sendMessage"
            and r.status == 200
            and int(r.params["chat_id"]) == THERAPIST
        )
        sent = Counter(m.text for m in fake.sent_messages())
        return {
            "backend": backend,
            "checkins": len(late),
            "alerts": rounds * alerts,
            "p50": percentile(late, 0.50),
            "p99": percentile(late, 0.99),
            "max": late[-1],
            "doubled": sum(1 for n in sent.values() if n > 1),
            "refused_429": sum(1 for r in fake.requests if r.status == 429),
            "alerts_sent": len([m for m in fake.sent_messages() if m.chat_id == THERAPIST]),
            "alert_span": alert_times[-1] - alert_times[0] if alert_times else 0.0,
        }


# ------------------------------------------------------------------------------ claim

SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a (naive UTC) DATETIME in SQLite


def _bulk_rows(n: int, now: datetime, shape: str, due_now: int) -> list[tuple[Any, ...]]:
    """(chat_id, due_at, urgent) for n rows; 1 in 500 urgent.

    Due rows are scattered through the table, as in life (a check-in due now was
    written a day ago next to rows due at other times), so claiming 200 of them
    touches about 200 different pages: the expensive case for the writes.
    """
    out = []
    stride = max(n // max(due_now, 1), 1)
    for i in range(n):
        if shape == "backlog" or i % stride == 0:
            due = now - timedelta(seconds=(i * 7919) % 86_400 + 1)  # overdue, up to a day
        else:
            due = now + timedelta(seconds=(i * 7919) % (30 * 86_400) + 60)  # next 30 days
        out.append((FIRST_USER + i % 50_000, due, i % 500 == 0))
    return out


PROPOSED_INDEX = "CREATE INDEX ix_outbox_claim ON outbox (state, urgent, due_at)"


def fill_sqlite(path: str, rows: list[tuple[Any, ...]], now: datetime, index: bool) -> None:
    created = now.replace(tzinfo=None).strftime(SQLITE_TS)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.executemany(
            "INSERT INTO outbox (kind, chat_id, payload, urgent, state, due_at, attempts,"
            " created_at) VALUES ('checkin', ?, '{}', ?, 'pending', ?, 0, ?)",
            (
                (chat, int(urgent), due.replace(tzinfo=None).strftime(SQLITE_TS), created)
                for chat, due, urgent in rows
            ),
        )
        if index:
            con.execute(PROPOSED_INDEX)
        con.execute("ANALYZE")


async def fill_postgres(
    url: str, rows: list[tuple[Any, ...]], now: datetime, index: bool
) -> None:
    con = await asyncpg.connect(_plain_dsn(url))
    try:
        naive_now = now.replace(tzinfo=None)
        await con.copy_records_to_table(
            "outbox",
            columns=["kind", "chat_id", "payload", "urgent", "state", "due_at", "attempts",
                     "created_at"],
            records=(
                ("checkin", chat, "{}", urgent, "pending", due.replace(tzinfo=None), 0,
                 naive_now)
                for chat, due, urgent in rows
            ),
        )
        if index:
            await con.execute(PROPOSED_INDEX)
        await con.execute("VACUUM ANALYZE outbox")
    finally:
        await con.close()


async def run_claims(
    backend: str, n_rows: int, shape: str, repeats: int, due_now: int, index: bool
) -> dict[str, Any]:
    async with bench_database(backend) as url:
        now = datetime.now(UTC)
        t0 = time.monotonic()
        rows = _bulk_rows(n_rows, now, shape, due_now)
        if backend == "sqlite":
            await asyncio.to_thread(fill_sqlite, url.split("///", 1)[1], rows, now, index)
        else:
            await fill_postgres(url, rows, now, index)
        del rows
        fill_s = time.monotonic() - t0
        engine = create_engine(url)
        sessions = session_factory(engine)
        timings, finds = [], []
        for i in range(repeats + 1):
            async with sessions() as db:
                t = time.perf_counter()
                await db.exec(outbox.due_ids(now, 200))  # finding only: no locks, no writes
                found = time.perf_counter()
                await db.rollback()
                t2 = time.perf_counter()
                claimed = await outbox.claim_due(db, now=now, limit=200, worker=f"b{i}")
                ms = (time.perf_counter() - t2) * 1000
            assert len(claimed) == 200, len(claimed)
            if i:  # the first claim warms the connection and the caches
                timings.append(ms)
                finds.append((found - t) * 1000)
        await engine.dispose()
        return {
            "backend": backend, "rows": n_rows, "shape": shape, "fill_s": fill_s,
            "median_ms": statistics.median(timings), "max_ms": max(timings),
            "find_ms": statistics.median(finds), "repeats": repeats, "index": index,
        }


# ------------------------------------------------------------------------------ main


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5000, help="burst size (messages)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="pending rows for claims")
    parser.add_argument("--repeats", type=int, default=9, help="claims timed per shape")
    parser.add_argument("--due-now", type=int, default=5000, help="due rows in 'schedule'")
    parser.add_argument("--margin", type=float, default=0.0, help="limiter safety margin (s)")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (TEST_DATABASE_URL)")
    parser.add_argument("--pg-only", action="store_true", help="only PostgreSQL")
    parser.add_argument(
        "--urgent-index", action="store_true",
        help="also time claims with the proposed index (state, urgent, due_at)",
    )
    parser.add_argument("--instances", type=int, default=1, help="dispatchers sending at once")
    parser.add_argument(
        "--shared", action="store_true", help="instances share the budget in TEST_REDIS_URL"
    )
    parser.add_argument(
        "--slow-chat", action="store_true",
        help="only the slow-chat scenario: check-in lateness while one chat has a queue",
    )
    parser.add_argument("--rounds", type=int, default=6, help="slow chat: rounds")
    parser.add_argument("--alerts", type=int, default=8, help="slow chat: alerts per round")
    parser.add_argument("--checkins", type=int, default=40, help="slow chat: check-ins per round")
    parser.add_argument("--round-seconds", type=float, default=10.0, help="slow chat: round length")
    parser.add_argument("--interval", type=float, default=2.0, help="slow chat: dispatch interval")
    parser.add_argument(
        "--retry-after", type=int, default=0,
        help="slow chat: each round's first alert answered 429 with this retry_after (s)",
    )
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--skip-claims", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backends = ["postgresql"] if args.pg_only else ["sqlite"] + (["postgresql"] if args.pg else [])

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.slow_chat:
        for backend in backends:
            r = await run_slow_chat(
                backend, rounds=args.rounds, alerts=args.alerts, checkins=args.checkins,
                round_seconds=args.round_seconds, interval=args.interval,
                retry_after=args.retry_after,
            )
            print(
                f"slow chat {r['backend']:10} {args.rounds} rounds of {args.alerts} alerts to "
                f"one therapist (first answered 429 retry_after {args.retry_after} s: "
                f"{bool(args.retry_after)}), dispatch every {args.interval:g} s: "
                f"{r['checkins']} check-ins late by p50 {r['p50']:.2f} s, p99 {r['p99']:.2f} s, "
                f"max {r['max']:.2f} s; {r['alerts_sent']} of {r['alerts']} alerts sent; "
                f"{r['refused_429']} requests refused 429 by the fake; doubled {r['doubled']}",
                flush=True,
            )
        return
    if not args.skip_burst:
        for backend in backends:
            redis_url = os.environ.get("TEST_REDIS_URL") if args.shared else None
            if args.shared and not redis_url:
                raise SystemExit("--shared needs TEST_REDIS_URL (redis://…)")
            r = await run_burst(backend, args.patients, args.margin, args.instances, redis_url)
            lag = r["lag_ms"]
            who = f"{r['instances']} instance(s)" + (", shared budget" if r["shared"] else "")
            print(
                f"burst {r['backend']:10} {who}, sent by each {r['by_worker']}: "
                f"peak {r['peak_per_second']} msg/s; "
                f"{r['messages']} msgs in {r['elapsed_s']:.1f} s: "
                f"{r['rate']:.2f} msg/s sustained; {r['429']} of {r['requests']} requests "
                f"answered 429 ({r['share_429']:.2%}); lost {r['lost']}, doubled "
                f"{r['doubled']}; rows {r['states']}; peak RSS {r['peak_rss_mib']:.0f} MiB "
                f"(before sending {r['rss_before_mib']:.0f} MiB); grant→arrival lag ms "
                f"p50 {lag[0]:.1f} p99 {lag[1]:.1f} max {lag[2]:.1f}",
                flush=True,
            )
    if not args.skip_claims:
        indexes = [False, True] if args.urgent_index else [False]
        for backend, index, shape in itertools.product(
            backends, indexes, ("schedule", "backlog")
        ):
            c = await run_claims(backend, args.rows, shape, args.repeats, args.due_now, index)
            extra = " +ix_outbox_claim" if index else ""
            print(
                f"claim {c['backend']:10} {c['rows']:,} pending ({c['shape']}{extra}): "
                f"claim_due(200) median {c['median_ms']:.1f} ms, max {c['max_ms']:.1f} ms "
                f"over {c['repeats']} claims; finding the 200 alone {c['find_ms']:.1f} ms "
                f"(bulk fill {c['fill_s']:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
