"""Telegram's flood ceilings shared by every instance that sends with one bot token.

Each process keeps its own :class:`~scheduler.ratelimit.RateLimiter`, which orders
that process's sends fairly. But Telegram counts per *bot*: two instances each
holding 30 messages a second would together send 60, and two instances may send to
the same chat in the same second. So when the instances share Redis (``REDIS_URL``),
every send also takes its place in windows kept in Redis, through one Lua script, so
the check and the booking are one atomic step whichever instance asks:

* ``global`` — at most ``per_second`` uses in any window of ``window`` seconds;
* ``chat:<id>`` — at most one use per ``chat_interval``;
* ``group:<id>`` (chat ids below zero) — at most ``group_per_minute`` per minute.

A use is booked *in flight* — dated in the future by ``hold`` — and re-dated by the
Telegram answer (:meth:`SharedBudget.finish`), as the local limiter does, so
network jitter cannot squeeze two messages into one window on Telegram's side. A
process killed mid-request leaves its booking to lapse after ``hold`` plus the
window. Times come from the Redis server's clock (``TIME``), the one clock all
instances share. A 429 taken as the bot's flood pauses everybody on every instance; one
taken as a single chat's flood pauses that chat on every instance, and the judgement
uses what every instance knows (:meth:`SharedBudget.flood_wait`): a second chat refused
while one is paused — wherever each was refused — is the bot's flood.

Keys carry the bot's numeric id (the public half of the token) in a Redis Cluster
hash tag, so every key of one bot lives in one slot and the script may touch them
together, and two bots can share one Redis.

If Redis cannot be reached, sending goes on under the local limiter alone (the
outage is logged once, and once when it ends): a 429 that may then come is handled
like any other, while stopping all sends would stop red-flag alerts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

UNREACHABLE = (OSError, asyncio.TimeoutError, RedisError)

Sleep = Callable[[float], Awaitable[None]]

# KEYS: `pauses` pause keys (everyone's, then the chat's if any), then the window keys.
# ARGV: member, hold ms, poll ms, pauses, then limit and window ms for each window key.
# Returns 0 when booked, else the milliseconds to wait before asking again.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, hold, poll = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pauses = tonumber(ARGV[4])
local wait = 0
for i = 1, pauses do
  local left = redis.call('PTTL', KEYS[i])
  if left > wait then wait = left end
end
for i = pauses + 1, #KEYS do
  local w = i - pauses
  local limit, window = tonumber(ARGV[3 + 2 * w]), tonumber(ARGV[4 + 2 * w])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2])
    local ready = oldest + window - now
    if oldest > now then ready = poll end
    if ready > wait then wait = ready end
  end
end
if wait > 0 then return wait end
for i = pauses + 1, #KEYS do
  local window = tonumber(ARGV[4 + 2 * (i - pauses)])
  redis.call('ZADD', KEYS[i], now + hold, member)
  redis.call('PEXPIRE', KEYS[i], hold + window + 1000)
end
return 0
"""

# KEYS: everyone's pause key, the paused-chats set, then the chat's pause key if any.
# ARGV: ms, chat id ('' for none). A 429 with no chat, or for a chat while another chat
# is under its own pause (on any instance), is the bot's flood: everyone waits. Otherwise
# the chat alone waits. Pauses only ever lengthen. Returns 1 for everyone, 0 for the chat.
_FLOOD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms, chat = tonumber(ARGV[1]), ARGV[2]
local function pause(key)
  if redis.call('PTTL', key) < ms then redis.call('SET', key, 1, 'PX', ms) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local others = redis.call('ZCARD', KEYS[2])
if chat ~= '' and redis.call('ZSCORE', KEYS[2], chat) then others = others - 1 end
if chat == '' or others > 0 then
  pause(KEYS[1])
  return 1
end
pause(KEYS[3])
local until_ms = now + ms
local current = tonumber(redis.call('ZSCORE', KEYS[2], chat) or 0)
if until_ms > current then redis.call('ZADD', KEYS[2], until_ms, chat) end
redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[2]), ms))
return 0
"""

# KEYS: the window keys of one booking. ARGV: member. Re-dates it to now.
_FINISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1])
end
return now
"""


class SharedBudget:
    """Cross-instance ceilings for one bot token, kept in Redis (see the module text)."""

    def __init__(
        self,
        redis: Redis,
        *,
        bot_id: int,
        per_second: int = 30,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        safety_margin: float = 0.05,
        hold: float = 15.0,
        poll: float = 0.02,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._prefix = f"{{careloop:rate:{bot_id}}}"
        self.per_second = per_second
        self._window_ms = round((1.0 + safety_margin) * 1000)
        self._chat_ms = round((chat_interval + safety_margin) * 1000) if chat_interval else 0
        self._group_per_minute = group_per_minute
        self._group_ms = round((60.0 + safety_margin) * 1000)
        self._hold_ms = round(hold * 1000)
        self._poll_ms = max(1, round(poll * 1000))
        self._sleep = sleep
        self._reserve: Any = redis.register_script(_RESERVE)
        self._finish: Any = redis.register_script(_FINISH)
        self._flood: Any = redis.register_script(_FLOOD)
        self._down = False
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedBudget:
        """A budget on its own Redis connection pool, closed by :meth:`close`."""
        return cls(Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), **kwargs)

    async def close(self) -> None:
        """Date what is still being dated, then close the connection."""
        await self.settle()
        await self._redis.aclose()

    def _windows(self, chat_id: int | None) -> list[tuple[str, int, int]]:
        windows = [(f"{self._prefix}:global", self.per_second, self._window_ms)]
        if chat_id is not None and self._chat_ms:
            windows.append((f"{self._prefix}:chat:{chat_id}", 1, self._chat_ms))
        if chat_id is not None and chat_id < 0:
            windows.append(
                (f"{self._prefix}:group:{chat_id}", self._group_per_minute, self._group_ms)
            )
        return windows

    def _pause_key(self, chat_id: int | None = None) -> str:
        """Everyone's pause, or one chat's."""
        if chat_id is None:
            return f"{self._prefix}:pause"
        return f"{self._prefix}:pause:{chat_id}"

    def _paused_chats_key(self) -> str:
        """The chats under a pause of their own, scored by when it ends (ms, Redis time)."""
        return f"{self._prefix}:paused"

    async def reserve(self, chat_id: int | None) -> Booking | None:
        """Wait until one more message to `chat_id` fits every shared window; book it.

        Returns the booking to :meth:`finish`, or None while Redis is unreachable.
        """
        windows = self._windows(chat_id)
        pauses = [self._pause_key()]
        if chat_id is not None:
            pauses.append(self._pause_key(chat_id))
        keys = [*pauses, *(key for key, _, _ in windows)]
        member = uuid.uuid4().hex
        args: list[int | str] = [member, self._hold_ms, self._poll_ms, len(pauses)]
        for _, limit, window_ms in windows:
            args += [limit, window_ms]
        while True:
            try:
                wait_ms = int(await self._reserve(keys=keys, args=args))
            except UNREACHABLE as exc:
                self._went_down(exc)
                return None
            self._came_back()
            if wait_ms <= 0:
                return Booking(member, [key for key, _, _ in windows])
            await self._sleep(wait_ms / 1000)

    def finish(self, booking: Booking) -> None:
        """Telegram answered the booked message: date it now (in the background)."""
        self._background(self._finish_now(booking))

    def penalize(self, seconds: float, chat_id: int | None = None) -> None:
        """After a 429 judged the bot's flood: nobody, on any instance, sends for `seconds`
        (in the background). With `chat_id`: nobody sends to that chat."""
        if seconds > 0:
            self._background(self._pause(seconds, chat_id))

    def flood_wait(self, chat_id: int | None, seconds: float) -> None:
        """A 429 for `chat_id` this instance took as that chat's flood: judged again with
        what every instance knows (in the background). Another chat under its own pause,
        wherever it was refused, makes it the bot's flood and everyone waits; else only
        `chat_id` waits, on every instance."""
        if seconds > 0:
            self._background(self._judge_flood(seconds, chat_id))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_now(self, booking: Booking) -> None:
        try:
            await self._finish(keys=booking.keys, args=[booking.member])
        except UNREACHABLE as exc:
            self._went_down(exc)  # the booking lapses after `hold`: late, never lost

    async def _pause(self, seconds: float, chat_id: int | None) -> None:
        try:
            await self._redis.set(self._pause_key(chat_id), 1, px=max(1, round(seconds * 1000)))
        except UNREACHABLE as exc:
            self._went_down(exc)

    async def _judge_flood(self, seconds: float, chat_id: int | None) -> None:
        keys = [self._pause_key(), self._paused_chats_key()]
        if chat_id is not None:
            keys.append(self._pause_key(chat_id))
        args = [max(1, round(seconds * 1000)), "" if chat_id is None else str(chat_id)]
        try:
            everyone = int(await self._flood(keys=keys, args=args))
        except UNREACHABLE as exc:
            self._went_down(exc)
            return
        if everyone and chat_id is not None:
            log.warning("429 for chat %d while another chat is paused: every send waits", chat_id)

    async def settle(self) -> None:
        """Wait for the bookings being dated in the background (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "shared send budget unreachable (%s): sending under this instance's limits",
                type(exc).__name__,
            )

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            log.warning("shared send budget reachable again")


class Booking:
    """One message's place in the shared windows, until Telegram's answer dates it."""

    __slots__ = ("keys", "member")

    def __init__(self, member: str, keys: list[str]) -> None:
        self.member, self.keys = member, keys
