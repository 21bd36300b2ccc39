"""Update-handling benchmark: pain-rating taps per second, end to end, against a bare bot.

N patients each have the 3 h check-in open in their chat (its first question, a 0–10
soreness rating, sent by the real `Delivery`). C simulated patients at a time tap a
rating; each tap is done when the fake Bot API has seen the answer's edit of the
message to the next question. careloop handles the tap with its real dispatcher
(aiogram polling, middlewares, routers): `record_answer` stores the rating and commits,
the callback is answered, and the message is edited to question 2 — on SQLite and on
PostgreSQL. A bare aiogram bot makes the same Bot API calls (answerCallbackQuery, then
editMessageText with the next keyboard, then sendMessage with the after-answer advice
that the protocol gives for that rating) and touches no database: the ceiling.

Telegram's flood limits are not part of the comparison: the fake does not enforce them
here, the bare bot has no limiter, and careloop's limiter (which paces handlers' replies
too, bot/reply_budget.py) is set out of the way with SEND_RATE_PER_SECOND=100000.

Reported: taps per second (taps / wall time of the run), careloop's share of the bare
bot's rate (target ≥ 0.5), and the latency of a tap (tap → edit seen by the fake), p50
and p99. Everything runs in this process and event loop: the fake Bot API, the bot and
the simulated patients share one CPU core, the same way for both bots.

    .venv/bin/python bench/updates.py                      # SQLite and the bare bot
    .venv/bin/python bench/updates.py --pg                 # and PostgreSQL (TEST_DATABASE_URL)
    .venv/bin/python bench/updates.py --patients 300 --concurrency 20   # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel import func, select

from bot.app import build_app
from bot.background import make_background
from bot.delivery import Delivery
from bot.response_types import pin_response_types
from store import outbox
from store.models import Answer
from tests.fakebot import FakeBotAPI, SentMessage
from tests.support.bulk import add_due_patients
from tests.support.dbutil import bench_database
from tests.support.harness import settings_for
from tests.support.population import midday_zone

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"
FIRST_USER = 100_000
RATING = "3"  # below the baseline (5): no finding, no alert — the common tap


# ------------------------------------------------------------------------------ driving


async def drive(
    fake: FakeBotAPI, targets: list[tuple[int, int]], concurrency: int, label: str
) -> dict[str, Any]:
    """`concurrency` patients at a time tap `label` on their message and wait for the edit."""
    pending = iter(targets)
    latencies: list[float] = []

    async def patient_after_patient() -> None:
        for chat, message_id in pending:  # one iterator shared by every worker
            user = fake.user(chat)
            message = user.message(message_id)
            assert message is not None and message.edits == 0
            started = time.perf_counter()
            await user.tap(message, label)

            def edited(m: SentMessage, mid: int = message_id) -> bool:
                return m.message_id == mid

            await user.wait_for(edited, timeout=120)
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(patient_after_patient() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    answered = sum(1 for r in fake.callbacks.values() if r.answered)
    return {
        "taps": len(latencies),
        "elapsed_s": elapsed,
        "rate": len(latencies) / elapsed,
        "cpu_ms": cpu * 1000 / max(len(latencies), 1),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "answered": answered,
        "refused": len(fake.refused),
    }


async def polling(dp: Dispatcher, bot: Bot) -> Callable[[], Awaitable[None]]:
    """Start `dp` polling `bot`; returns the function that stops it."""
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=10))

    async def stop() -> None:
        await dp.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)

    return stop


# ------------------------------------------------------------------------------ careloop


async def run_careloop(backend: str, patients: int, concurrency: int) -> dict[str, Any]:
    async with bench_database(backend) as url:
        fake = FakeBotAPI(token=TOKEN)
        await fake.start()
        now = datetime.now(UTC)
        zone = midday_zone(now)
        chats = await add_due_patients(
            url, fake, count=patients, now=now, tz=zone, first_tg=FIRST_USER
        )
        # The fake does not enforce Telegram's limits here and the bare bot has no
        # limiter: careloop's limiter is set out of the way too, so both measure how
        # fast a tap is handled, not Telegram's ceilings (which would cap both).
        settings = settings_for(
            fake,
            url,
            CLINIC_TIMEZONE=zone,
            SEND_RATE_PER_SECOND="100000",
            SEND_RATE_PER_CHAT_PER_SECOND="1000",
        )
        app = await build_app(settings)
        # the first questions go out through the real Delivery, without the rate limiter
        delivery = Delivery(app.bot, app.sessions, app.protocol, settings, app.clock)
        while True:
            async with app.sessions() as db:
                rows = await outbox.claim_due(db, now=app.clock.now(), limit=200, worker="b")
            if not rows:
                break
            await asyncio.gather(*(delivery(row) for row in rows))
        targets = [
            (m.chat_id, m.message_id)
            for m in fake.sent_messages()
            if m.reply_markup and "1/" in m.text
        ]
        assert len(targets) == len(chats), (len(targets), len(chats))
        background = make_background(app.bot, app.sessions, app.protocol, settings, app.clock)
        background.start()  # a live instance also dispatches and sweeps meanwhile
        stop = await polling(app.dispatcher, app.bot)
        try:
            result = await drive(fake, targets, concurrency, RATING)
        finally:
            await stop()
            await background.stop()
        async with app.sessions() as db:
            stored = (await db.exec(select(func.count()).select_from(Answer))).one()
        await app.close()
        await fake.stop()
    assert stored == len(targets), f"{stored} answers stored for {len(targets)} taps"
    return {"bot": f"careloop {backend}", "stored": stored, **result}


# ------------------------------------------------------------------------------ bare bot


def rating_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for value in range(11):
        builder.button(text=str(value), callback_data=f"r:{value}")
    builder.adjust(6, 5)
    return builder.as_markup()


def choice_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for key in ("nothing", "bruise", "ache", "numb", "other"):
        builder.button(text=key.title(), callback_data=f"c:{key}")
    builder.adjust(1)
    return builder.as_markup()


FIRST = (
    "A quick check a few hours after your treatment. One tap per question.\n\n"
    "<b>1/2</b> Soreness where the needles went, right now? 0 = none, 10 = worst imaginable."
)
SECOND = (
    "A quick check a few hours after your treatment. One tap per question.\n"
    "✓ Soreness where the needles went, right now? 0 = none, 10 = worst imaginable."
    " — <b>{v}/10</b>\n\n"
    "<b>2/2</b> Since the treatment, have you noticed anything new? Tap everything that is new,"
    " then Done."
)
# the protocol's after-answer text for soreness 0–3, which careloop sends as a new message
ADVICE = "Thank you. Some soreness is normal after needling and usually eases over 1–3 days."


def bare_router() -> Router:
    router = Router(name="bare")

    @router.callback_query(F.data.startswith("r:"))
    async def rated(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            value = (query.data or "r:?").split(":", 1)[1]
            await query.message.edit_text(SECOND.format(v=value), reply_markup=choice_keyboard())
            await query.message.answer(ADVICE)

    return router


async def run_bare(patients: int, concurrency: int) -> dict[str, Any]:
    pin_response_types()  # the same aiogram tuning careloop's make_bot applies: a fair ceiling
    fake = FakeBotAPI(token=TOKEN)
    await fake.start()
    bot = Bot(
        TOKEN,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    chats = list(range(FIRST_USER, FIRST_USER + patients))
    for chat in chats:
        fake.user(chat, f"P{chat}").started = True
    targets = []
    for start in range(0, len(chats), 200):
        batch = chats[start : start + 200]
        sent = await asyncio.gather(
            *(bot.send_message(c, FIRST, reply_markup=rating_keyboard()) for c in batch)
        )
        targets += [(m.chat.id, m.message_id) for m in sent]
    dp = Dispatcher()
    dp.include_router(bare_router())
    stop = await polling(dp, bot)
    try:
        result = await drive(fake, targets, concurrency, RATING)
    finally:
        await stop()
    await bot.session.close()
    await fake.stop()
    return {"bot": "bare aiogram", "stored": 0, **result}


# ------------------------------------------------------------------------------ main


def show(r: dict[str, Any], bare_rate: float | None) -> None:
    share = f"{r['rate'] / bare_rate:.2f} of bare" if bare_rate else "ceiling"
    print(
        f"{r['bot']:20} {r['taps']} taps in {r['elapsed_s']:.1f} s: {r['rate']:.1f} taps/s "
        f"({share}); CPU {r['cpu_ms']:.1f} ms/tap; "
        f"latency p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms; "
        f"callbacks answered {r['answered']}, answers stored {r['stored']}, "
        f"refused {r['refused']}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000, help="taps (one per patient)")
    parser.add_argument("--concurrency", type=int, default=100, help="patients tapping at once")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (TEST_DATABASE_URL)")
    parser.add_argument("--pg-only", action="store_true", help="careloop on PostgreSQL only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backends = ["postgresql"] if args.pg_only else ["sqlite"] + (["postgresql"] if args.pg else [])
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"{args.patients} taps, {args.concurrency} patients at a time",
        flush=True,
    )
    # the bare bot before and after, so load changes on the machine show
    bare = [await run_bare(args.patients, args.concurrency)]
    show(bare[0], None)
    results = []
    for backend in backends:
        results.append(await run_careloop(backend, args.patients, args.concurrency))
        show(results[-1], bare[0]["rate"])
    bare.append(await run_bare(args.patients, args.concurrency))
    show(bare[1], None)
    ceiling = statistics.mean(b["rate"] for b in bare)
    for r in results:
        verdict = "meets" if r["rate"] / ceiling >= 0.5 else "MISSES"
        print(
            f"{r['bot']}: {r['rate'] / ceiling:.2f} of the bare bot's mean rate "
            f"({ceiling:.1f} taps/s) — {verdict} the 0.5 target"
        )


if __name__ == "__main__":
    asyncio.run(main())
