"""The process's one sender rate limiter: Telegram's ceilings, respected up front.

Telegram documents about 30 messages per second per bot, about one per second
in a private chat, and 20 per minute in a group (design invariant 5). Finding
those limits by hitting 429s costs retry-after pauses for everybody, so every
message-producing call first waits here for the earliest instant that keeps
every ceiling.

How the waiting is organised, and why:

* Each chat has its own FIFO lock. A caller first waits for *its chat* to be
  free (an interval after the chat's previous message, the group's per-minute
  window, any penalty on that chat). Rows of a busy chat queue up behind each
  other while rows for other chats go past them, so one chat cannot starve the
  rest.
* Then it joins the single FIFO queue for the *global* ceiling, where it waits
  only for the sliding one-second window to have room.
* Every instant handed out is a real reading of the time source taken after
  the wait and checked against the uses already recorded, so the ceilings hold
  exactly however many tasks call at once and however late the loop wakes them.

When does a message "happen" for Telegram? Somewhere between our sending the
request and reading the answer — and a stalled event loop or a slow network
can stretch that by tens of milliseconds, enough for two messages granted a
full second apart to arrive closer than that. So :meth:`RateLimiter.slot`
records a use as *in flight* while the request runs and dates it by the
answer: the next message that needs that use's place in a window waits for
the answer plus the window. The ceilings then hold for Telegram's own clock,
whatever the jitter, at the cost of one round trip per window (~29.8/s rather
than 30/s). Work done inside the slot after the answer (a database commit)
would date the use later than needed; :func:`mark_answered`, called right
after the HTTP request returns, dates it by the answer itself.
:meth:`RateLimiter.acquire` dates a use by its grant, for callers that cannot
say when their request ended; ``safety_margin`` widens the windows for them.

Several instances sending with one bot token share Telegram's ceilings: given a
:class:`~scheduler.shared_budget.SharedBudget`, every slot also takes its place in
the windows kept in Redis, after this process's own queueing (see that module), and
a 429's pause — one chat's or everyone's — holds on every instance. A slot for a chat
paused by another instance waits for it in Redis while holding its place in this
process's overall window: one place for the length of the pause, for at most one chat
at a time (a second chat refused is the bot's flood, which pauses everybody).

Time is injectable (`now`, `sleep`) so tests drive it virtually.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.shared_budget import Booking, SharedBudget

Now = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

IN_FLIGHT = float("inf")


@dataclass
class _Use:
    """One message counted against the ceilings; `at` is infinite while in flight."""

    at: float


@dataclass
class _Chat:
    """What the limiter remembers about one chat."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: _Use | None = None
    paused_until: float = float("-inf")
    recent: list[_Use] = field(default_factory=list)  # groups: uses in the per-minute window
    users: int = 0  # callers inside acquire()/slot() for this chat


class _Slot:
    """A granted slot whose uses are dated once, by the first of answer or slot exit."""

    def __init__(self, limiter: RateLimiter, uses: list[_Use]) -> None:
        self._limiter, self._uses, self.finished = limiter, uses, False
        self.booking: Booking | None = None  # its place in the shared windows, if any

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            self._limiter._finish(self._uses, self._limiter._now())
            if self.booking is not None and self._limiter.shared is not None:
                self._limiter.shared.finish(self.booking)


_current_slot: ContextVar[_Slot | None] = ContextVar("careloop_rate_slot", default=None)


def in_slot() -> bool:
    """True inside :meth:`RateLimiter.slot` (an outbox send that already has its place)."""
    return _current_slot.get() is not None


def mark_answered() -> None:
    """The request sent in the current :meth:`RateLimiter.slot` has its answer.

    For the bot edge's deliver function, right after the Bot API call returns
    (or raises), before its own database work: the slot's message is then dated
    by Telegram's answer and the next message can go that much sooner. Outside
    a slot it does nothing.
    """
    slot = _current_slot.get()
    if slot is not None:
        slot.finish()


class RateLimiter:
    """Waits each send until it fits under the overall, per-chat and per-group ceilings."""

    def __init__(
        self,
        *,
        per_second: int = 30,
        per_chat_interval: float = 1.0,
        group_per_minute: int = 20,
        safety_margin: float = 0.0,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: SharedBudget | None = None,
    ) -> None:
        if per_second < 1 or group_per_minute < 1:
            raise ValueError("rate limits must allow at least one message")
        self.per_second = per_second
        self.window = 1.0 + safety_margin
        self.chat_interval = per_chat_interval + safety_margin if per_chat_interval > 0 else 0.0
        self.group_per_minute = group_per_minute
        self.group_window = 60.0 + safety_margin
        self._now = now
        self._sleep = sleep
        self._uses: list[_Use] = []  # the last `per_second` uses overall
        self._paused_until = float("-inf")
        self._global = asyncio.Lock()
        self._chats: dict[int, _Chat] = {}
        self._prune_at = 1024
        self._finished = asyncio.Event()  # set (and replaced) whenever a use completes
        self.shared = shared

    # ------------------------------------------------------------------ public

    async def acquire(self, chat_id: int | None = None) -> float:
        """Wait for the earliest slot for a message to `chat_id`; return its instant.

        The use is dated by this instant. ``chat_id=None`` counts against the
        overall ceiling only. Cancelling a waiting caller consumes nothing.
        """
        uses = await self._grant(chat_id, in_flight=self.shared is not None)
        try:
            booking = await self.shared.reserve(chat_id) if self.shared is not None else None
        finally:
            instant = self._now()
            self._finish(uses, instant)
        if booking is not None and self.shared is not None:
            self.shared.finish(booking)
        return instant

    @asynccontextmanager
    async def slot(self, chat_id: int | None = None) -> AsyncIterator[float]:
        """Wait for a slot, send inside the block; the use is dated by the block's end.

        Use it around the request itself (``async with limiter.slot(chat): await
        bot.send_message(...)``), so a slow or delayed request can never make the
        next one arrive inside the same window on Telegram's side. Call
        :func:`mark_answered` inside the block to date the use earlier.
        """
        slot = _Slot(self, await self._grant(chat_id, in_flight=True))
        if self.shared is not None:
            try:
                slot.booking = await self.shared.reserve(chat_id)
            except BaseException:  # cancelled while waiting for the other instances
                slot.finish()
                raise
        token = _current_slot.set(slot)
        try:
            yield self._now()
        finally:
            _current_slot.reset(token)
            slot.finish()

    @asynccontextmanager
    async def reply_slot(self, chat_id: int | None = None) -> AsyncIterator[float]:
        """A slot for a reply to someone who just wrote or tapped: ahead of the queue.

        It waits for the overall ceiling and any 429 pause, but not behind the
        messages queued for their slots, so a person's answer is not held up by a
        burst of check-ins going to everybody else; nor for the chat's spacing, so a
        tap's edit and its advice arrive together (Telegram allows a person's chat
        short bursts; a 429 all the same is retried by the caller). It is counted like
        any message: the queued ones then wait their turn around it — a message queued
        for this chat keeps its spacing after it — so together they stay within the
        overall ceiling (with a shared budget, across instances too). The use is
        dated by the block's end, like :meth:`slot`.
        """
        await self._wait_until(self._global_ready_at)
        use = self._record_global(in_flight=True)
        if chat_id is not None:
            chat = self._chats.setdefault(chat_id, _Chat())
            chat.last = use
            if chat_id < 0:
                self._take_place(chat.recent, self.group_per_minute, use)
        try:
            booking = await self.shared.reserve(None) if self.shared is not None else None
        except BaseException:
            self._finish([use], self._now())
            raise
        try:
            yield self._now()
        finally:
            self._finish([use], self._now())
            if booking is not None and self.shared is not None:
                self.shared.finish(booking)

    def penalize(self, seconds: float, chat_id: int | None = None) -> None:
        """After a 429: nothing for `chat_id` (or for anyone) during `seconds`.

        Callers already waiting notice the pause when they wake and wait again. With a
        shared budget the pause holds on every instance, for the same scope.
        """
        until = self._now() + max(seconds, 0.0)
        if chat_id is None:
            self._paused_until = max(self._paused_until, until)
        else:
            chat = self._chats.setdefault(chat_id, _Chat())
            chat.paused_until = max(chat.paused_until, until)
        if self.shared is not None:
            self.shared.penalize(seconds, chat_id)

    def flood_wait(self, chat_id: int | None, seconds: float) -> bool:
        """Telegram answered a message to `chat_id` with 429 and `retry_after` = `seconds`.

        Telegram's 429 does not say whose flood it is, so the scope is judged from what
        we see: a 429 for one chat while no other chat is under one is that chat's flood
        (it sent too fast to one person or group) and pauses that chat only — the other
        chats go on. A 429 while another chat is still paused by one, or for a call with
        no chat, is the bot's flood and pauses every send. Returns True when it was taken
        as the bot's. With a shared budget the pause holds on every instance, and a chat's
        flood is judged again with every instance's paused chats
        (:meth:`SharedBudget.flood_wait`): what looks like one chat's flood here may be
        the bot's when another instance has a chat paused.
        """
        now = self._now()
        others = any(c.paused_until > now for cid, c in self._chats.items() if cid != chat_id)
        if chat_id is None or others:
            self.penalize(seconds)
            return True
        chat = self._chats.setdefault(chat_id, _Chat())
        chat.paused_until = max(chat.paused_until, now + max(seconds, 0.0))
        if self.shared is not None:
            self.shared.flood_wait(chat_id, seconds)
        return False

    def paused_for(self, chat_id: int | None = None) -> float:
        """Seconds of 429 penalty left for everything, or for `chat_id` (0.0 if none)."""
        until = self._paused_until
        if chat_id is not None and chat_id in self._chats:
            until = max(until, self._chats[chat_id].paused_until)
        return max(until - self._now(), 0.0)

    def backlog_delay(self, chat_id: int, ahead: int) -> float:
        """Seconds until a message to `chat_id` could go with `ahead` more queued first.

        Counts the callers already waiting for the chat too. Ignores the overall
        ceiling; the dispatcher uses it to leave rows of a
        very busy chat in the database instead of holding them in memory.
        """
        now = self._now()
        spacing = self.chat_interval
        if chat_id < 0:
            spacing = max(spacing, self.group_window / self.group_per_minute)
        chat = self._chats.get(chat_id)
        start = now
        if chat is not None:
            ready = self._chat_ready_at(chat_id, chat)
            start = now + spacing if ready == IN_FLIGHT else max(ready, now)
            ahead += chat.users  # callers already queued here for this chat
        return start - now + ahead * spacing

    # ---------------------------------------------------------------- internals

    async def _grant(self, chat_id: int | None, *, in_flight: bool = False) -> list[_Use]:
        """Wait until every ceiling allows one more message; record it and return its uses."""
        if chat_id is None:
            async with self._global:
                await self._wait_until(self._global_ready_at)
                return [self._record_global(in_flight)]
        chat = self._chats.setdefault(chat_id, _Chat())
        chat.users += 1
        try:
            async with chat.lock:
                while True:
                    await self._wait_until(lambda: self._chat_ready_at(chat_id, chat))
                    async with self._global:
                        await self._wait_until(self._global_ready_at)
                        if self._chat_ready_at(chat_id, chat) > self._now():
                            continue  # penalized meanwhile: back to the chat's queue
                        use = self._record_global(in_flight)
                        chat.last = use
                        if chat_id < 0:
                            self._take_place(chat.recent, self.group_per_minute, use)
                        return [use]
        finally:
            chat.users -= 1
            self._maybe_prune()

    def _record_global(self, in_flight: bool) -> _Use:
        use = _Use(IN_FLIGHT if in_flight else self._now())
        self._take_place(self._uses, self.per_second, use)
        return use

    @staticmethod
    def _take_place(uses: list[_Use], limit: int, use: _Use) -> None:
        """Add `use` to a window of at most `limit` uses, dropping the oldest finished one."""
        if len(uses) >= limit:
            uses.remove(min(uses, key=lambda u: u.at))
        uses.append(use)

    def _finish(self, uses: list[_Use], at: float) -> None:
        for use in uses:
            use.at = at
        finished, self._finished = self._finished, asyncio.Event()
        finished.set()

    def _global_ready_at(self) -> float:
        ready = self._paused_until
        if len(self._uses) >= self.per_second:
            ready = max(ready, min(u.at for u in self._uses) + self.window)
        return ready

    def _chat_ready_at(self, chat_id: int, chat: _Chat) -> float:
        ready = chat.paused_until
        if chat.last is not None:
            ready = max(ready, chat.last.at + self.chat_interval)
        if chat_id < 0 and len(chat.recent) >= self.group_per_minute:
            ready = max(ready, min(u.at for u in chat.recent) + self.group_window)
        return ready

    def _maybe_prune(self) -> None:
        """Forget chats that no longer constrain anything, so memory stays bounded.

        Runs when the table has doubled since the last prune: amortised O(1) per call.
        """
        if len(self._chats) < self._prune_at:
            return
        now = self._now()
        for chat_id, chat in list(self._chats.items()):
            if chat.users == 0 and self._chat_ready_at(chat_id, chat) <= now:
                if all(u.at + self.group_window <= now for u in chat.recent):
                    del self._chats[chat_id]
        self._prune_at = max(2 * len(self._chats), 1024)

    async def _wait_until(self, ready_at: Callable[[], float]) -> None:
        """Sleep until ``ready_at()`` has passed, re-reading it after every wake.

        While it depends on a message still in flight, wait for some message to
        finish instead of sleeping.
        """
        while True:
            ready = ready_at()
            if ready == IN_FLIGHT:
                await self._finished.wait()
                continue
            delay = ready - self._now()
            if delay <= 0:
                return
            await self._sleep(delay)
