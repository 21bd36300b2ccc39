"""The process's one sender rate limiter: Telegram's ceilings, respected up front.

Telegram documents about 30 messages per second per bot, about one per second
in a private chat, and 20 per minute in a group (design invariant 5). Finding
those limits by hitting 429s costs retry-after pauses for everybody, so every
message-producing call first waits here for the earliest instant that keeps
every ceiling.

How the waiting is organised, and why:

* Each chat has its own FIFO lock. A caller first waits for *its chat* to be
  free (1 s after the chat's previous message, the group's per-minute window,
  any penalty on that chat). Rows of a busy chat queue up behind each other
  while rows for other chats go past them, so one chat cannot starve the rest.
* Then it joins the single FIFO queue for the *global* ceiling, where it waits
  only for the sliding one-second window to have room.
* Every instant handed out is a real reading of the time source taken after
  the wait and checked against the instants already granted, so the ceilings
  hold exactly (for the returned instants) however many tasks call at once and
  however late the event loop wakes them. ``safety_margin`` widens every window
  a little to absorb the jitter between being granted and the request reaching
  Telegram.

Time is injectable (`now`, `sleep`) so tests drive it virtually.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Now = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Chat:
    """What the limiter remembers about one chat."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: float | None = None
    paused_until: float = float("-inf")
    recent: deque[float] = field(default_factory=deque)  # groups: the last minute's grants
    users: int = 0  # callers inside acquire() for this chat


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
    ) -> None:
        if per_second < 1 or group_per_minute < 1:
            raise ValueError("rate limits must allow at least one message")
        self.per_second = per_second
        self.window = 1.0 + safety_margin
        self.chat_interval = max(per_chat_interval, 0.0) + (
            safety_margin if per_chat_interval > 0 else 0.0
        )
        self.group_per_minute = group_per_minute
        self.group_window = 60.0 + safety_margin
        self._now = now
        self._sleep = sleep
        self._granted: deque[float] = deque(maxlen=per_second)
        self._paused_until = float("-inf")
        self._global = asyncio.Lock()
        self._chats: dict[int, _Chat] = {}
        self._prune_at = 1024

    # ------------------------------------------------------------------ public

    async def acquire(self, chat_id: int | None = None) -> float:
        """Wait for the earliest slot for a message to `chat_id`; return its instant.

        ``chat_id=None`` counts against the overall ceiling only. Cancelling a
        waiting caller is safe: nothing is consumed until the slot is granted.
        """
        if chat_id is None:
            return await self._acquire_global(None)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat()
        chat.users += 1
        try:
            async with chat.lock:
                while True:
                    await self._wait_until(lambda: self._chat_ready_at(chat_id, chat))
                    granted = await self._acquire_global((chat_id, chat))
                    if granted >= 0:
                        return granted
        finally:
            chat.users -= 1
            self._maybe_prune()

    def penalize(self, seconds: float, chat_id: int | None = None) -> None:
        """After a 429: nothing for `chat_id` (or for anyone) during `seconds`.

        Callers already waiting notice the pause when they wake and wait again.
        """
        until = self._now() + max(seconds, 0.0)
        if chat_id is None:
            self._paused_until = max(self._paused_until, until)
            return
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat()
        chat.paused_until = max(chat.paused_until, until)

    def paused_for(self, chat_id: int | None = None) -> float:
        """Seconds of 429 penalty left for everything, or for `chat_id` (0.0 if none)."""
        until = self._paused_until
        if chat_id is not None and chat_id in self._chats:
            until = max(until, self._chats[chat_id].paused_until)
        return max(until - self._now(), 0.0)

    def backlog_delay(self, chat_id: int, ahead: int) -> float:
        """Seconds until a message to `chat_id` could go with `ahead` others queued first.

        Ignores the overall ceiling; the dispatcher uses it to leave rows of a
        very busy chat in the database instead of holding them in memory.
        """
        now = self._now()
        chat = self._chats.get(chat_id)
        start = max(self._chat_ready_at(chat_id, chat), now) if chat is not None else now
        spacing = self.chat_interval
        if chat_id < 0:
            spacing = max(spacing, self.group_window / self.group_per_minute)
        return start - now + ahead * spacing

    # ---------------------------------------------------------------- internals

    async def _acquire_global(self, chat: tuple[int, _Chat] | None) -> float:
        """Wait in the overall FIFO queue; -1.0 if the chat got penalized meanwhile."""
        async with self._global:
            await self._wait_until(self._global_ready_at)
            now = self._now()
            if chat is not None:
                chat_id, state = chat
                if self._chat_ready_at(chat_id, state) > now:
                    return -1.0  # back to the chat queue, giving up our global turn
                state.last = now
                if chat_id < 0:
                    state.recent.append(now)
                    while len(state.recent) > self.group_per_minute:
                        state.recent.popleft()
            self._granted.append(now)
            return now

    def _global_ready_at(self) -> float:
        ready = self._paused_until
        if len(self._granted) == self.per_second:
            ready = max(ready, self._granted[0] + self.window)
        return ready

    def _chat_ready_at(self, chat_id: int, chat: _Chat) -> float:
        ready = chat.paused_until
        if chat.last is not None:
            ready = max(ready, chat.last + self.chat_interval)
        if chat_id < 0 and len(chat.recent) >= self.group_per_minute:
            ready = max(ready, chat.recent[-self.group_per_minute] + self.group_window)
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
                if chat_id >= 0 or not chat.recent or chat.recent[-1] + self.group_window <= now:
                    del self._chats[chat_id]
        self._prune_at = max(2 * len(self._chats), 1024)

    async def _wait_until(self, ready_at: Callable[[], float]) -> None:
        """Sleep until ``ready_at()`` has passed, re-reading it after every wake."""
        while True:
            delay = ready_at() - self._now()
            if delay <= 0:
                return
            await self._sleep(delay)
