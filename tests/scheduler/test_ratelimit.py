"""The sender rate limiter, on virtual time: ceilings hold with many concurrent callers.

A small discrete-event clock stands in for the wall clock: `sleep` parks the
caller until the clock is advanced to its wake-up instant, and the clock only
advances when every task is parked. Granted instants are then exact, so the
checks below are about the limiter's arithmetic, not about machine speed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import defaultdict
from collections.abc import Awaitable
from typing import Any

import pytest

from scheduler.ratelimit import RateLimiter, mark_answered


class VirtualTime:
    """Discrete-event time for asyncio tests (no real sleeping)."""

    def __init__(self) -> None:
        self.t = 0.0
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.t + max(delay, 0.0), next(self._seq), fut))
        await fut

    async def _settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def run(self, *aws: Awaitable[Any]) -> list[Any]:
        """Run `aws` to completion, advancing time whenever all of them are parked."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        while True:
            await self._settle()
            if all(t.done() for t in tasks):
                return [t.result() for t in tasks]
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            assert self._heap, "deadlock: tasks blocked with nothing scheduled to wake them"
            wake = self._heap[0][0]
            self.t = max(self.t, wake)
            while self._heap and self._heap[0][0] <= self.t:
                _, _, fut = heapq.heappop(self._heap)
                if not fut.done():
                    fut.set_result(None)


def limiter(vt: VirtualTime, **kw: Any) -> RateLimiter:
    return RateLimiter(now=vt.now, sleep=vt.sleep, **kw)


async def _send(lim: RateLimiter, chat_id: int, log: list[tuple[float, int]]) -> float:
    at = await lim.acquire(chat_id)
    log.append((at, chat_id))
    return at


def max_in_window(instants: list[float], window: float) -> int:
    """The largest number of instants inside any half-open window [t, t + window)."""
    xs = sorted(instants)
    best, lo = 0, 0
    for hi, x in enumerate(xs):
        while x - xs[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def min_gap_per_chat(log: list[tuple[float, int]]) -> float:
    by_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat in log:
        by_chat[chat].append(at)
    gaps = [b - a for xs in by_chat.values() for a, b in itertools.pairwise(sorted(xs))]
    return min(gaps) if gaps else float("inf")


async def test_overall_ceiling_with_many_concurrent_callers() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=30)
    log: list[tuple[float, int]] = []
    await vt.run(*(_send(lim, chat, log) for chat in range(1, 301)))
    instants = [at for at, _ in log]
    assert len(instants) == 300
    assert max_in_window(instants, 1.0) == 30
    # and it is not needlessly slow: 300 messages at 30/s need 9 s of waiting, not more
    assert max(instants) == pytest.approx(9.0)


async def test_one_message_per_second_per_private_chat() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=30, per_chat_interval=1.0)
    log: list[tuple[float, int]] = []
    chats = [7] * 10 + [8] * 10 + list(range(100, 140))
    await vt.run(*(_send(lim, chat, log) for chat in chats))
    assert min_gap_per_chat(log) >= 1.0
    assert max_in_window([at for at, _ in log], 1.0) <= 30
    seven = sorted(at for at, chat in log if chat == 7)
    assert seven == pytest.approx([float(i) for i in range(10)])


async def test_busy_chat_does_not_starve_others() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=30)
    log: list[tuple[float, int]] = []
    busy = [_send(lim, 5, log) for _ in range(20)]
    others = [_send(lim, chat, log) for chat in range(1000, 1020)]
    await vt.run(*busy, *others)
    # the 20 other chats all go in the first second, while chat 5 takes its 20 seconds
    assert all(at < 1.0 for at, chat in log if chat != 5)
    assert max(at for at, chat in log if chat == 5) == pytest.approx(19.0)


async def test_group_chats_get_twenty_per_minute() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=30, group_per_minute=20)
    log: list[tuple[float, int]] = []
    await vt.run(*(_send(lim, -100123, log) for _ in range(45)))
    instants = [at for at, _ in log]
    assert max_in_window(instants, 60.0) == 20
    assert min_gap_per_chat(log) >= 1.0
    assert sorted(instants)[20] == pytest.approx(60.0)  # the 21st waits for the window


async def test_penalize_one_chat_pauses_only_that_chat() -> None:
    vt = VirtualTime()
    lim = limiter(vt)
    log: list[tuple[float, int]] = []
    lim.penalize(5.0, chat_id=42)
    await vt.run(_send(lim, 42, log), _send(lim, 43, log))
    at = dict((chat, t) for t, chat in log)
    assert at[42] >= 5.0
    assert at[43] == 0.0


async def test_penalize_everything_pauses_waiters_already_queued() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=2)
    log: list[tuple[float, int]] = []

    async def penalize_later() -> None:
        await vt.sleep(0.5)
        lim.penalize(3.0)

    await vt.run(penalize_later(), *(_send(lim, chat, log) for chat in range(1, 7)))
    instants = sorted(at for at, _ in log)
    assert instants[:2] == [0.0, 0.0]
    assert all(at >= 3.5 for at in instants[2:])  # queued before the 429, still held back
    assert max_in_window(instants, 1.0) == 2


async def test_cancelled_waiter_consumes_nothing() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=1)
    log: list[tuple[float, int]] = []
    await vt.run(_send(lim, 1, log))

    async def cancel_soon(task: asyncio.Task[float]) -> None:
        await vt.sleep(0.2)
        task.cancel()

    doomed = asyncio.ensure_future(_send(lim, 2, log))
    await vt.run(cancel_soon(doomed))
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await vt.run(_send(lim, 3, log))
    assert [chat for _, chat in log] == [1, 3]
    assert log[1][0] == pytest.approx(1.0)


async def test_safety_margin_widens_every_window() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=10, safety_margin=0.1)
    log: list[tuple[float, int]] = []
    await vt.run(*(_send(lim, 9, log) for _ in range(3)), *(_send(lim, c, log) for c in range(20)))
    instants = [at for at, _ in log]
    assert max_in_window(instants, 1.1) <= 10
    assert min_gap_per_chat(log) >= 1.1


async def test_backlog_delay_estimates_a_busy_chat() -> None:
    vt = VirtualTime()
    lim = limiter(vt)
    assert lim.backlog_delay(1, 0) == 0.0
    assert lim.backlog_delay(1, 5) == pytest.approx(5.0)
    assert lim.backlog_delay(-1, 2) == pytest.approx(6.0)  # 20/min: one per 3 s on average
    lim.penalize(10.0, chat_id=1)
    assert lim.backlog_delay(1, 0) == pytest.approx(10.0)


async def test_forgets_idle_chats() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=10_000)
    log: list[tuple[float, int]] = []
    await vt.run(*(_send(lim, chat, log) for chat in range(3000)))
    vt.t += 5.0
    await vt.run(*(_send(lim, chat, log) for chat in range(3000, 5000)))
    assert len(lim._chats) < 5000


Span = tuple[float, float, int]  # (granted, answered, chat)


async def _send_slowly(
    lim: RateLimiter, vt: VirtualTime, chat_id: int, took: float, spans: list[Span]
) -> None:
    """A send through slot(): granted, then the request takes `took` seconds to answer."""
    async with lim.slot(chat_id) as granted:
        await vt.sleep(took)
    spans.append((granted, vt.now(), chat_id))


def worst_case_in_window(spans: list[Span], window: float) -> int:
    """The most messages Telegram could count in one window.

    Telegram counts a message at some instant between our request (granted) and
    its answer; this is the maximum over every window of the messages whose
    [granted, answered] span reaches into it — the worst case over all such
    instants. (The maximum is reached by a window starting at some answer.)
    """
    return max(
        sum(1 for g, a, _ in spans if a >= start and g < start + window) for _, start, _ in spans
    )


def chat_gaps_hold(spans: list[Span], interval: float) -> bool:
    """Each message of a chat was granted `interval` after the previous one's answer."""
    by_chat: dict[int, list[Span]] = defaultdict(list)
    for span in spans:
        by_chat[span[2]].append(span)
    return all(
        nxt[0] >= prev[1] + interval
        for xs in by_chat.values()
        for prev, nxt in itertools.pairwise(sorted(xs))
    )


async def test_slot_dates_a_use_by_its_answer() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=2)
    spans: list[Span] = []
    await vt.run(*(_send_slowly(lim, vt, chat, 0.3, spans) for chat in (1, 2, 3)))
    # the first two answers came at 0.3 s: Telegram may have counted them as late as
    # that, so the third waits for 0.3 + 1 s, not 1 s
    assert sorted(g for g, _, _ in spans) == pytest.approx([0.0, 0.0, 1.3])


async def test_slot_spaces_a_chat_from_its_previous_answer() -> None:
    vt = VirtualTime()
    lim = limiter(vt)
    spans: list[Span] = []
    await vt.run(*(_send_slowly(lim, vt, 7, 0.5, spans) for _ in range(3)))
    assert sorted(g for g, _, _ in spans) == pytest.approx([0.0, 1.5, 3.0])


async def test_slot_in_flight_blocks_the_window_until_answered() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=1)
    spans: list[Span] = []
    log: list[tuple[float, int]] = []
    await vt.run(_send_slowly(lim, vt, 1, 5.0, spans), _send(lim, 2, log))
    assert spans[0][:2] == (0.0, 5.0)
    assert log == [(pytest.approx(6.0), 2)]


async def test_slot_is_released_when_the_send_raises() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=1)
    log: list[tuple[float, int]] = []

    async def failing() -> None:
        with pytest.raises(RuntimeError):
            async with lim.slot(1):
                raise RuntimeError("network")

    await vt.run(failing())
    await vt.run(_send(lim, 2, log))
    assert log == [(pytest.approx(1.0), 2)]


async def test_many_concurrent_slots_keep_every_ceiling_on_telegrams_side() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=30)
    spans: list[Span] = []
    chats = [c % 40 for c in range(400)] + [-5] * 25
    await vt.run(*(_send_slowly(lim, vt, c, 0.05 * (i % 3), spans) for i, c in enumerate(chats)))
    assert len(spans) == 425
    assert worst_case_in_window(spans, 1.0) <= 30
    assert chat_gaps_hold(spans, 1.0)
    assert worst_case_in_window([s for s in spans if s[2] == -5], 60.0) <= 20


async def test_mark_answered_dates_the_use_before_work_after_the_answer() -> None:
    vt = VirtualTime()
    lim = limiter(vt, per_second=1)
    log: list[tuple[float, int]] = []

    async def send_then_commit() -> None:
        async with lim.slot(1):
            await vt.sleep(0.1)  # the request
            mark_answered()
            await vt.sleep(0.5)  # database work after Telegram answered

    await vt.run(send_then_commit(), _send(lim, 2, log))
    assert log == [(pytest.approx(1.1), 2)]
    mark_answered()  # outside a slot: nothing to do, no error


async def test_a_reply_goes_ahead_of_queued_messages_and_is_counted() -> None:
    """300 queued messages fill the overall ceiling for 10 s. A reply asked for at
    t = 0 gets the first place that frees, not a place after the queue; a message
    queued for the replied-to chat keeps its spacing after the reply; and no second
    ever holds more than 30 messages."""
    vt = VirtualTime()
    lim = limiter(vt, per_second=30, per_chat_interval=1.0)
    log: list[tuple[float, int]] = []
    replies: list[float] = []

    async def reply(chat_id: int) -> None:
        async with lim.reply_slot(chat_id) as at:
            replies.append(at)

    async def reply_then_queue() -> None:
        await vt.sleep(4.5)
        await reply(7)
        await _send(lim, 7, log)  # the outbox's next message to the same person

    await vt.run(*(_send(lim, chat, log) for chat in range(1, 301)), reply(8), reply_then_queue())
    assert replies[0] <= 1.0  # the first place that frees, not the 301st (t = 10 s)
    assert 4.5 <= replies[1] < 5.5
    queued_to_seven = [at for at, chat in log if chat == 7 and at > 4.5]
    assert queued_to_seven and queued_to_seven[0] - replies[1] >= 1.0
    assert max_in_window([at for at, _ in log] + replies, 1.0) == 30
