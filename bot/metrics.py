"""Prometheus metrics of one running instance, served at `/metrics`.

Two sources:

* counters moved as things happen — every delivery outcome (through a wrapper
  around the `Deliver` callable, so `scheduler/` never learns about metrics) and
  every webhook request refused for a wrong secret;
* gauges read from the database at scrape time (open alerts by tier, time to
  acknowledge, check-in response rate, the outbox backlog), so that several
  instances sharing one database report the same clinic-wide figures.

Each `Metrics` owns its own `CollectorRegistry`, never the process-global one, so
tests can run several apps in one process. Times read from the database are
protocol times (`TIME_SCALE`), so durations are protocol seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlmodel import col, func, select

from flows.triage import Tier
from scheduler.clock import Clock
from scheduler.dispatcher import DB_ERRORS
from scheduler.outcomes import (
    Blocked,
    Deferred,
    Deliver,
    Failed,
    Outcome,
    RetryAfter,
    Sent,
    Settled,
    Transient,
)
from store.db import SessionFactory
from store.models import Alert, AlertState, Checkin, CheckinState, OutboxMessage, OutboxState

log = logging.getLogger(__name__)

_UNAVAILABLE: tuple[type[BaseException], ...] = (*DB_ERRORS, TimeoutError)

CONTENT_TYPE = CONTENT_TYPE_LATEST

ACK_WINDOW = timedelta(days=1)
RESPONSE_WINDOW = timedelta(days=7)
SCRAPE_DB_TIMEOUT = 5.0

# sent_at − due_at in protocol seconds: from "on time" to "a day late"
LAG_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, math.inf)

_OUTCOME_NAMES: dict[type, str] = {
    Sent: "sent",
    Settled: "settled",
    Deferred: "deferred",
    RetryAfter: "retry_after",
    Transient: "transient",
    Blocked: "blocked",
    Failed: "failed",
}


class Metrics:
    """The metrics of one app instance, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._declare_counters()
        self._declare_gauges()
        for tier in Tier:
            self.alerts_open.labels(tier=str(tier))
        for outcome in _OUTCOME_NAMES.values():
            self.delivery_outcomes.labels(outcome=outcome)
        for reason in ("retry_after", "transient"):
            self.send_retries.labels(reason=reason)

    def _declare_counters(self) -> None:
        """What is counted as it happens: delivery outcomes, 429s, retries, lag, refusals."""
        r = self.registry
        self.messages_sent = Counter(
            "careloop_messages_sent",
            "Messages Telegram accepted, by outbox kind.",
            ["kind"],
            registry=r,
        )
        self.delivery_outcomes = Counter(
            "careloop_delivery_outcomes",
            "Outcomes of delivering an outbox row.",
            ["outcome"],
            registry=r,
        )
        self.telegram_429 = Counter(
            "careloop_telegram_429",
            "429 Too Many Requests answers from the Bot API.",
            registry=r,
        )
        self.send_retries = Counter(
            "careloop_send_retries",
            "Deliveries put back to be tried again (retry_after: a 429; transient: 5xx or "
            "network).",
            ["reason"],
            registry=r,
        )
        self.dispatch_lag = Histogram(
            "careloop_dispatch_lag_seconds",
            "How late a message went out: sent time minus due time, in protocol seconds.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.webhook_rejected = Counter(
            "careloop_webhook_rejected_requests",
            "Webhook requests refused (401) for a missing or wrong secret token.",
            registry=r,
        )

    def _declare_gauges(self) -> None:
        """What is read from the database at scrape time (clinic-wide, the same on every
        instance), and this instance's last dispatch pass."""
        r = self.registry
        self.database_up = Gauge(
            "careloop_database_up",
            "1 when the last scrape could read the database.",
            registry=r,
        )
        self.alerts_open = Gauge(
            "careloop_alerts_open",
            "Open alerts by tier (read at scrape).",
            ["tier"],
            registry=r,
        )
        self.ack_seconds = Gauge(
            "careloop_alert_time_to_ack_seconds",
            "Time from an alert being raised to its acknowledgement, over alerts acknowledged "
            "in the last day (protocol seconds; read at scrape).",
            ["quantile"],
            registry=r,
        )
        self.acked_last_day = Gauge(
            "careloop_alerts_acknowledged_last_day",
            "Alerts acknowledged in the last day (read at scrape).",
            registry=r,
        )
        self.response_rate = Gauge(
            "careloop_checkin_response_rate",
            "Check-ins answered / (answered + expired), due in the last 7 days; NaN when none "
            "(read at scrape).",
            registry=r,
        )
        self.outbox_due = Gauge(
            "careloop_outbox_due",
            "Pending outbox rows already due (the backlog; read at scrape).",
            registry=r,
        )
        self.last_tick = Gauge(
            "careloop_dispatcher_last_tick_timestamp_seconds",
            "Wall-clock time of this instance's last successful dispatch pass (0: none yet).",
            registry=r,
        )

    # ------------------------------------------------------------------ events

    def observe(self, row: OutboxMessage, outcome: Outcome, now: datetime) -> None:
        """Count one delivery outcome; `now` is the protocol time it came back."""
        self.delivery_outcomes.labels(outcome=_OUTCOME_NAMES.get(type(outcome), "other")).inc()
        if isinstance(outcome, Sent):
            self.messages_sent.labels(kind=row.kind).inc()
            self.dispatch_lag.observe(max(0.0, (now - row.due_at).total_seconds()))
        elif isinstance(outcome, RetryAfter):
            self.telegram_429.inc()
            self.send_retries.labels(reason="retry_after").inc()
        elif isinstance(outcome, Transient):
            self.send_retries.labels(reason="transient").inc()

    def count_deliveries(self, deliver: Deliver, clock: Clock) -> Deliver:
        """`deliver`, counting each outcome on the way back to the dispatcher."""

        async def counted(row: OutboxMessage) -> Outcome:
            outcome = await deliver(row)
            try:
                self.observe(row, outcome, clock.now())
            except Exception:  # a metrics bug must never change what the dispatcher does
                log.exception("metrics: could not count outbox %s", row.id)
            return outcome

        return counted

    def reject_webhook(self) -> None:
        self.webhook_rejected.inc()

    # ------------------------------------------------------------------ scrape

    async def refresh(
        self,
        sessions: SessionFactory,
        clock: Clock,
        last_tick: Callable[[], datetime | None] | None = None,
    ) -> None:
        """Read the database-backed gauges; a database outage sets `careloop_database_up` 0."""
        if last_tick is not None:
            tick = last_tick()
            self.last_tick.set(tick.timestamp() if tick is not None else 0)
        try:
            async with asyncio.timeout(SCRAPE_DB_TIMEOUT):
                await self._read_database(sessions, clock.now())
        except _UNAVAILABLE as exc:
            log.warning("metrics: database unavailable (%s)", type(exc).__name__)
            self.database_up.set(0)
        else:
            self.database_up.set(1)

    async def _read_database(self, sessions: SessionFactory, now: datetime) -> None:
        async with sessions() as db:
            by_tier = (
                await db.exec(
                    select(Alert.tier, func.count())
                    .where(Alert.state == AlertState.OPEN)
                    .group_by(Alert.tier)
                )
            ).all()
            acked = (
                await db.exec(
                    select(Alert.created_at, Alert.acknowledged_at).where(
                        col(Alert.acknowledged_at) >= now - ACK_WINDOW
                    )
                )
            ).all()
            closed = (
                await db.exec(
                    select(Checkin.state, func.count())
                    .where(
                        col(Checkin.state).in_([CheckinState.DONE, CheckinState.EXPIRED]),
                        Checkin.due_at >= now - RESPONSE_WINDOW,
                    )
                    .group_by(Checkin.state)
                )
            ).all()
            due = (
                await db.exec(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.due_at <= now)
                )
            ).one()
        counts = {str(tier): 0 for tier in Tier}
        counts.update({str(tier): int(n) for tier, n in by_tier})
        for tier, n in counts.items():
            self.alerts_open.labels(tier=tier).set(n)
        waits = sorted(
            max(0.0, (ack - created).total_seconds()) for created, ack in acked if ack is not None
        )
        self.acked_last_day.set(len(waits))
        for label, q in (("0.5", 0.5), ("0.9", 0.9), ("1", 1.0)):
            self.ack_seconds.labels(quantile=label).set(_quantile(waits, q))
        states = {str(state): int(n) for state, n in closed}
        done, expired = states.get(CheckinState.DONE, 0), states.get(CheckinState.EXPIRED, 0)
        self.response_rate.set(done / (done + expired) if done + expired else math.nan)
        self.outbox_due.set(int(due))

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def _quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted `values`; NaN when there are none."""
    if not values:
        return math.nan
    rank = max(1, math.ceil(q * len(values)))
    return values[rank - 1]
