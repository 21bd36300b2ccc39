"""Operations: /healthz, /metrics, JSON logs, and a graceful SIGTERM in polling mode."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import func, select

from bot.config import load_settings
from bot.metrics import Metrics
from bot.runner import JsonLogFormatter, configure_logging
from bot.web import HealthCheck, health_max_age, make_web_app, serve
from scheduler.outcomes import RetryAfter, Sent, Transient
from store.db import SessionFactory, create_engine, session_factory
from store.migrate import upgrade_async
from store.models import Alert, AlertState, Checkin, CheckinState, OutboxMessage, OutboxState
from tests.fakebot import FakeBotAPI
from tests.support.dispatch import (
    NOW,
    ManualClock,
    Recorder,
    add_rows,
    dispatcher,
    row,
    run_pass,
    seed_patient,
)
from tests.support.harness import LIVE, bot_process
from tests.support.population import checkins_received, midday_zone, populate
from tests.support.process import free_port


@pytest.fixture
async def broken_then_fixed(tmp_path: Path) -> AsyncIterator[tuple[SessionFactory, Path]]:
    """Sessions on a SQLite file whose directory does not exist yet (create it to recover)."""
    folder = tmp_path / "not-yet"
    engine = create_engine(f"sqlite+aiosqlite:///{folder / 'careloop.db'}")
    yield session_factory(engine), folder
    await engine.dispose()
    # aiosqlite stops the worker thread of a failed connect without awaiting it: let
    # those threads finish while this loop still runs, or they report to a closed loop
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 10)


# ---------------------------------------------------------------------------- /healthz


async def test_healthz_says_down_when_the_database_is_unreachable_and_recovers(
    broken_then_fixed: tuple[SessionFactory, Path],
) -> None:
    sessions, folder = broken_then_fixed
    health = HealthCheck(sessions, lambda: datetime.now(UTC), max_age=30)
    runner = await serve(make_web_app(health, Metrics(), ManualClock()), "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 503
                body = await resp.json()
            assert body["database"] == "down"
            assert body["dispatcher_last_tick"] is not None

            # /metrics still answers during the outage, and says so
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "careloop_database_up 0.0" in await resp.text()

            folder.mkdir()
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["database"] == "ok"
            assert 0 <= body["dispatcher_age_seconds"] < 30
    finally:
        await runner.cleanup()


async def test_healthz_says_unhealthy_when_dispatch_passes_stop(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}"
    engine = create_engine(db_url)
    wall = [NOW]
    last: list[datetime | None] = [None]
    health = HealthCheck(
        session_factory(engine), lambda: last[0], max_age=health_max_age(2), wall=lambda: wall[0]
    )
    assert health_max_age(2) == 30 and health_max_age(10) == 100

    # a new instance gets the grace from its start before its first pass
    assert (await health.report())[0] == 200
    wall[0] = NOW + timedelta(seconds=31)
    status, body = await health.report()
    assert status == 503 and body["database"] == "ok" and body["dispatcher_last_tick"] is None

    last[0] = NOW + timedelta(seconds=30)
    status, body = await health.report()
    assert status == 200 and body["dispatcher_age_seconds"] == 1.0
    assert body["dispatcher_last_tick"] == last[0].isoformat()

    wall[0] = NOW + timedelta(seconds=61)
    assert (await health.report())[0] == 503
    await engine.dispose()


# ---------------------------------------------------------------------------- /metrics


async def test_delivery_wrapper_counts_sends_429s_and_retries(sessions: SessionFactory) -> None:
    clock = ManualClock()
    outcomes = {101: Sent(), 102: RetryAfter(seconds=3), 103: Transient(error="502")}
    await add_rows(
        sessions,
        row(101, -timedelta(minutes=10)),
        row(102, -timedelta(minutes=1)),
        row(103, -timedelta(minutes=1), kind="nudge"),
    )
    metrics = Metrics()
    deliver = Recorder(sessions, clock, lambda r: outcomes[r.chat_id])
    await run_pass(dispatcher(sessions, clock, metrics.count_deliveries(deliver, clock)))

    value = metrics.registry.get_sample_value
    assert value("careloop_messages_sent_total", {"kind": "checkin"}) == 1
    assert value("careloop_messages_sent_total", {"kind": "nudge"}) is None
    assert value("careloop_telegram_429_total") == 1
    assert value("careloop_send_retries_total", {"reason": "retry_after"}) == 1
    assert value("careloop_send_retries_total", {"reason": "transient"}) == 1
    assert value("careloop_delivery_outcomes_total", {"outcome": "sent"}) == 1
    # sent ten minutes after it fell due
    assert value("careloop_dispatch_lag_seconds_count") == 1
    assert value("careloop_dispatch_lag_seconds_sum") == 600
    assert value("careloop_dispatch_lag_seconds_bucket", {"le": "300.0"}) == 0
    assert value("careloop_dispatch_lag_seconds_bucket", {"le": "900.0"}) == 1

    # a second app in the same process has its own registry
    assert Metrics().registry.get_sample_value("careloop_telegram_429_total") == 0


async def test_database_gauges_are_read_at_scrape(sessions: SessionFactory) -> None:
    therapist, patient = await seed_patient(sessions)
    assert therapist.id is not None and patient.id is not None
    ids = {"patient_id": patient.id, "therapist_id": therapist.id}

    def alert(tier: str, key: str, created: timedelta, acked: timedelta | None = None) -> Alert:
        return Alert(
            tier=tier,
            reason_key=key,
            created_at=NOW - created,
            updated_at=NOW - created,
            state=AlertState.OPEN if acked is None else AlertState.ACKNOWLEDGED,
            acknowledged_at=None if acked is None else NOW - acked,
            **ids,
        )

    def checkin(state: str, due: timedelta) -> Checkin:
        return Checkin(
            patient_id=patient.id,
            key="h24",
            state=state,
            due_at=NOW - due,
            expires_at=NOW - due + timedelta(hours=12),
        )

    async with sessions() as db:
        db.add_all(
            [
                alert("urgent", "red_flag", timedelta(minutes=5)),
                alert("soon", "pain_up", timedelta(hours=2)),
                alert("soon", "silent", timedelta(hours=3)),
                alert("urgent", "old", timedelta(hours=3), acked=timedelta(hours=2)),  # 1 h to ack
                alert("soon", "older", timedelta(hours=1), acked=timedelta(minutes=50)),  # 10 min
                alert("soon", "last_week", timedelta(days=3), acked=timedelta(days=2)),  # outside
                checkin(CheckinState.DONE, timedelta(days=1)),
                checkin(CheckinState.DONE, timedelta(days=2)),
                checkin(CheckinState.DONE, timedelta(days=6)),
                checkin(CheckinState.EXPIRED, timedelta(days=3)),
                checkin(CheckinState.EXPIRED, timedelta(days=9)),  # outside the 7 days
                checkin(CheckinState.OPEN, timedelta(hours=1)),
            ]
        )
        await db.commit()
    await add_rows(sessions, row(101, -timedelta(minutes=1)), row(102, timedelta(hours=1)))

    metrics = Metrics()
    await metrics.refresh(sessions, ManualClock(), lambda: NOW)
    value = metrics.registry.get_sample_value
    assert value("careloop_database_up") == 1
    assert value("careloop_alerts_open", {"tier": "urgent"}) == 1
    assert value("careloop_alerts_open", {"tier": "soon"}) == 2
    assert value("careloop_alerts_open", {"tier": "urgent_callback"}) == 0
    assert value("careloop_alerts_acknowledged_last_day") == 2
    assert value("careloop_alert_time_to_ack_seconds", {"quantile": "0.5"}) == 600
    assert value("careloop_alert_time_to_ack_seconds", {"quantile": "1"}) == 3600
    assert value("careloop_checkin_response_rate") == 0.75
    assert value("careloop_outbox_due") == 1
    assert value("careloop_dispatcher_last_tick_timestamp_seconds") == NOW.timestamp()
    text = metrics.render().decode()
    assert 'careloop_alerts_open{tier="soon"} 2.0' in text


async def test_scrape_survives_a_database_outage(
    broken_then_fixed: tuple[SessionFactory, Path],
) -> None:
    sessions, _ = broken_then_fixed
    metrics = Metrics()
    metrics.reject_webhook()
    await metrics.refresh(sessions, ManualClock(), lambda: None)
    assert metrics.registry.get_sample_value("careloop_database_up") == 0
    assert "careloop_webhook_rejected_requests_total 1.0" in metrics.render().decode()


# ---------------------------------------------------------------------------- logs


def test_json_log_lines_parse() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("careloop.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("outbox %d %s chat %d: sent", 7, "checkin", 4000)
        logger.warning('quotes " and\nnewlines and ünïcödé')
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("update %s failed", 12)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert records[0]["message"] == "outbox 7 checkin chat 4000: sent"
    assert records[0]["level"] == "INFO" and records[0]["logger"] == "careloop.test.json"
    assert datetime.fromisoformat(records[0]["time"]).tzinfo is not None
    assert records[1]["message"] == 'quotes " and\nnewlines and ünïcödé'
    assert records[2]["level"] == "ERROR" and "ValueError: boom" in records[2]["exception"]


def test_log_format_setting() -> None:
    assert load_settings(LIVE).log_format == "text"
    settings = load_settings({**LIVE, "LOG_FORMAT": "JSON"})
    assert settings.log_format == "json"
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        configure_logging(settings)
        assert isinstance(handler.formatter, JsonLogFormatter)
    finally:
        root.removeHandler(handler)
        logging.captureWarnings(False)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT: expected text or json"),
        ("HEALTH_PORT", "0", "HEALTH_PORT: expected a port"),
        ("HEALTH_PORT", "web", "HEALTH_PORT: expected a whole number"),
        ("WEBHOOK_HOST", "local host", "WEBHOOK_HOST: expected an address"),
    ],
)
def test_new_settings_name_the_variable(name: str, value: str, expected: str) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_settings({**LIVE, name: value})
    assert str(info.value).startswith(expected)


# ---------------------------------------------------------------------------- SIGTERM


async def _count(db_url: str, *where: object) -> int:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        statement = select(func.count()).select_from(OutboxMessage).where(*where)  # type: ignore[arg-type]
        value = (await db.exec(statement)).one()
    await engine.dispose()
    return int(value)


async def test_polling_process_serves_healthz_and_stops_cleanly_on_sigterm(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """SIGTERM mid-burst: exit 0, no claimed row left, every message Telegram got is
    recorded as sent (no send was cut off between Telegram and the database)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'term.db'}"
    await upgrade_async(db_url)
    now = datetime.now(UTC)
    zone = midday_zone(now)
    patients = await populate(fake, db_url, count=100, now=now, tz=zone)
    port = free_port()
    extra = {
        "CLINIC_TIMEZONE": zone,
        "DISPATCH_INTERVAL_SECONDS": "0.2",
        "HEALTH_PORT": str(port),
        "WEBHOOK_HOST": "127.0.0.1",
    }
    async with bot_process(fake, db_url, tmp_path, extra) as proc:
        # the health server listens before polling starts (with deleteWebhook)
        await fake.wait_until(
            lambda: any(r.method == "deleteWebhook" for r in fake.requests), timeout=60
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["database"] == "ok"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert "careloop_messages_sent" in await resp.text()
        await fake.wait_until(
            lambda: sum(checkins_received(fake, tg) for tg in patients) >= 10, timeout=60
        )
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
    assert code == 0
    received = sum(checkins_received(fake, tg) for tg in patients)
    assert received < len(patients)  # really stopped in the middle of the burst
    assert await _count(db_url, OutboxMessage.state == OutboxState.CLAIMED) == 0
    sent = await _count(
        db_url, OutboxMessage.state == OutboxState.SENT, OutboxMessage.kind == "checkin"
    )
    assert sent == received
    assert fake.refused == []
    assert "careloop stopped" in (tmp_path / "bot.log").read_text()
