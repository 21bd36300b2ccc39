"""What delivering one outbox row can come to — the contract between the dispatcher
and the function (made by the bot edge) that turns a row into a Telegram message.

The dispatcher never imports the bot: it is handed a `Deliver` callable when the
app is wired, and reacts only to these outcomes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from store.models import OutboxMessage


@dataclass(frozen=True)
class Sent:
    """Delivered; the deliverer already committed the row as sent with its side effects."""

    message_id: int | None = None


@dataclass(frozen=True)
class Settled:
    """The deliverer settled the row itself (expired, cancelled, skipped) and committed it."""

    reason: str


@dataclass(frozen=True)
class Deferred:
    """Not now (quiet hours, a paused patient, another check-in open): due again at `until`."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class RetryAfter:
    """Telegram answered 429: try again after `seconds` of wall time."""

    seconds: float


@dataclass(frozen=True)
class Transient:
    """5xx, a timeout or a network error: back off and retry, up to a limit."""

    error: str


@dataclass(frozen=True)
class Blocked:
    """403: the person blocked the bot. A state of the patient, not an error to retry."""

    error: str


@dataclass(frozen=True)
class Failed:
    """A permanent refusal (400): retrying cannot help."""

    error: str


Outcome = Sent | Settled | Deferred | RetryAfter | Transient | Blocked | Failed

Deliver = Callable[[OutboxMessage], Awaitable[Outcome]]
"""Deliver one claimed row (a detached copy). Must not raise for Telegram errors."""
