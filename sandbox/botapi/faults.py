"""Fault injection and Telegram's flood limits.

Three different things, kept apart on purpose:

* :class:`Faults` — chaos a *test* asks for (429s, 502s, slow answers). Its
  failures are marked ``injected`` so they do not count as the bot's mistakes.
* :class:`RateLimiter` — Telegram's own limits (30 messages/s overall, about one
  per second per chat). Exceeding them *is* the bot's mistake, so these 429s are
  not injected and show up in :attr:`FakeBotAPI.refused`.

* :class:`Hold` — one method's requests kept waiting, unanswered and not yet carried
  out, until the test releases them: a request in flight, frozen, so the test can
  kill the bot in the middle of handling an update.

The first two only look at message-producing methods (``send*`` except ``sendChatAction``,
``edit*``, ``copy*``, ``forward*``) unless told otherwise.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError, too_many_requests


def is_message_method(method: str) -> bool:
    """True for methods that put or change a message in a chat (the flood-limited ones)."""
    name = method.lower()
    if name == "sendchataction":
        return False
    return name.startswith(("send", "edit", "copy", "forward"))


@dataclass
class FaultDecision:
    """What to do to one request: delay the answer, and/or fail it."""

    delay: float = 0.0
    error: ApiError | None = None


@dataclass
class Faults:
    """Switchable, deterministic failures. All off by default.

    ``rate_429`` / ``rate_5xx`` / ``slow`` are probabilities in [0, 1] applied to each
    eligible request: message methods, or exactly ``only_methods`` when set (names are
    compared case-insensitively). Three random numbers are drawn per eligible request
    whatever the rates are, so with the same seed and the same request order the same
    requests fail. A slow request is processed at once and only its *answer* is
    delayed by ``slow_seconds`` — as with real latency, a client that times out and
    retries sends the message twice. ``refuse_edits`` (a Telegram description such as
    ``errors.CANT_BE_EDITED``) makes every ``edit*`` call fail with a 400 carrying it, as
    Telegram does for a message that is too old or was deleted on the other side.
    """

    rate_429: float = 0.0
    retry_after: int = 1
    rate_5xx: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 0.5
    only_methods: set[str] | None = None
    refuse_edits: str | None = None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reset(self, seed: int | None = None) -> None:
        """Turn every fault off and restart the random sequence."""
        self.rate_429 = self.rate_5xx = self.slow = 0.0
        self.only_methods = None
        self.refuse_edits = None
        self._rng = random.Random(self.seed if seed is None else seed)

    def applies_to(self, method: str) -> bool:
        """Whether ``method`` is eligible for injected faults."""
        if self.only_methods is not None:
            return method.lower() in {m.lower() for m in self.only_methods}
        return is_message_method(method)

    def decide(self, method: str) -> FaultDecision:
        """Roll the dice for one request."""
        if not self.applies_to(method):
            return FaultDecision()
        slow_roll, roll_429, roll_5xx = self._rng.random(), self._rng.random(), self._rng.random()
        decision = FaultDecision(delay=self.slow_seconds if slow_roll < self.slow else 0.0)
        if self.refuse_edits is not None and method.lower().startswith("edit"):
            decision.error = ApiError(400, self.refuse_edits)
        elif roll_429 < self.rate_429:
            decision.error = too_many_requests(max(1, int(self.retry_after)))
        elif roll_5xx < self.rate_5xx:
            decision.error = ApiError(502, errors.BAD_GATEWAY)
        return decision


class RateLimiter:
    """Sliding one-second window over delivered messages, overall and per chat.

    ``check`` is called before a message method runs and raises a 429 with an
    integer ``retry_after`` >= 1 when sending now would break a limit; ``record`` is
    called only after a message was actually delivered, so refused attempts do not
    eat into the budget.
    """

    def __init__(
        self,
        global_per_second: int,
        per_chat_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_per_second = global_per_second
        self.per_chat_per_second = per_chat_per_second
        self._clock = clock
        self._recent: deque[float] = deque()
        self._last_by_chat: dict[int, float] = {}

    def check(self, chat_id: int | None) -> None:
        """Raise ApiError 429 if a message to ``chat_id`` now would exceed a limit."""
        now = self._clock()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.global_per_second:
            wait = 1.0 - (now - self._recent[0])
            raise too_many_requests(max(1, math.ceil(wait)))
        if chat_id is None or self.per_chat_per_second <= 0:
            return
        last = self._last_by_chat.get(chat_id)
        interval = 1.0 / self.per_chat_per_second
        if last is not None and now - last < interval:
            raise too_many_requests(max(1, math.ceil(interval - (now - last))))

    def record(self, chat_id: int | None) -> None:
        """Count one delivered message."""
        now = self._clock()
        self._recent.append(now)
        if chat_id is not None:
            self._last_by_chat[chat_id] = now


class Hold:
    """Requests of one method held before they are carried out, until :meth:`release`.

    Made by ``FakeBotAPI.hold(method, times=1, where=None)``: the next ``times`` calls of
    ``method`` (case-insensitive) whose parameters satisfy ``where`` wait. A held call
    has done nothing yet; released, it runs as usual. A client that goes away while held
    (a killed bot) leaves it undone, recorded with status 0, as Telegram would never
    have seen it. ``held`` counts the calls that arrived here; wait for one with
    ``await fake.wait_until(lambda: hold.held >= 1)``.
    """

    def __init__(
        self, method: str, *, times: int = 1, where: Callable[[Any], bool] | None = None
    ) -> None:
        self.method = method.lower()
        self.times = times
        self.where = where
        self.held = 0
        self._released = asyncio.Event()

    def takes(self, method: str, params: Any) -> bool:
        """Whether this call is one to hold (and count it if so)."""
        if method.lower() != self.method or self.held >= self.times:
            return False
        if self.where is not None and not self.where(params):
            return False
        self.held += 1
        return True

    def release(self) -> None:
        """Let every call held here (and any later one) go on."""
        self.times = self.held  # nothing more is taken
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    async def wait(self) -> None:
        await self._released.wait()
