"""Webhook mode through the real `python -m bot` process and the strict fake Bot API.

The fake delivers updates by POSTing them to the bot's webhook with the secret
token; requests forged without it must be refused and leave no trace.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp

from store.migrate import upgrade_async
from tests.fakebot import FakeBotAPI
from tests.support.dbutil import snapshot
from tests.support.harness import ADMIN_ID, bot_process
from tests.support.process import forged_start, free_port

SECRET = "careloop-Webhook_secret-42-0123456789abcdef"  # 32+ characters
STRANGER = 6543


def sample(metrics: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus text."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_webhook_mode_end_to_end(fake: FakeBotAPI, tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'webhook.db'}"
    await upgrade_async(db_url)
    port, ops_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    extra = {
        "HEALTH_PORT": str(ops_port),  # /metrics here, on 127.0.0.1 (HEALTH_HOST's default)
        "WEBHOOK_URL": f"{base}/tg",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_HOST": "127.0.0.1",
        "LOG_FORMAT": "json",
        "DISPATCH_INTERVAL_SECONDS": "0.2",
    }
    async with bot_process(fake, db_url, tmp_path, extra) as proc:
        await fake.wait_until(lambda: fake.webhook.url is not None, timeout=60)

        # setWebhook: our URL, the secret, the update types the routers use, nothing dropped
        (call,) = [r for r in fake.requests if r.method == "setWebhook"]
        assert call.status == 200
        assert call.params["url"] == f"{base}/tg"
        assert call.params["secret_token"] == SECRET
        assert {"message", "callback_query"} <= set(call.params["allowed_updates"])
        assert call.params.get("drop_pending_updates") in (None, False, "false")
        assert not any(r.method in ("getUpdates", "deleteWebhook") for r in fake.requests)

        # an update through the fake's webhook delivery gets its reply
        admin = fake.user(ADMIN_ID, "Adelaide")
        await admin.send("/help")
        reply = await admin.wait_for(lambda m: "/invite" in m.text, timeout=60)
        assert reply.chat_id == ADMIN_ID
        # the update is answered once handled (after its reply was sent), not before
        await fake.wait_until(lambda: bool(fake.webhook.deliveries), timeout=10)
        assert fake.webhook.deliveries and all(d["status"] == 200 for d in fake.webhook.deliveries)

        # forged requests: no secret, a wrong secret → 401, nothing processed
        before = await snapshot(db_url)
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}):
                async with http.post(
                    f"{base}/tg", json=forged_start(STRANGER), headers=headers
                ) as resp:
                    assert resp.status == 401
        # a real update after them: once it is answered, the forged ones had their chance
        answered = len(fake.webhook.deliveries)
        await admin.send("/help")
        await admin.wait_for(lambda m: "/invite" in m.text, timeout=60)
        # the reply goes out before the update is recorded as handled: wait for the
        # webhook's answer to the delivery, which comes after that record
        await fake.wait_until(lambda: len(fake.webhook.deliveries) > answered, timeout=30)
        assert not any(r.params.get("chat_id") == STRANGER for r in fake.requests)
        assert fake.user(STRANGER).inbox == []
        after = await snapshot(db_url)
        # the real update is recorded as handled (redelivery dedupe); nothing else changed
        handled_before = {row[0] for row in before.pop("processed_update")}
        handled_after = {row[0] for row in after.pop("processed_update")}
        assert len(handled_after - handled_before) == 1
        assert after == before

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                health = await resp.json()
            # the public port answers the balancer's probe, and never shows the metrics
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 404
                assert "careloop_" not in await resp.text()
            async with http.get(f"http://127.0.0.1:{ops_port}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"http://127.0.0.1:{ops_port}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                metrics = await resp.text()
        assert health["database"] == "ok"
        assert set(health) == {"database", "dispatcher_last_tick", "dispatcher_age_seconds"}
        assert sample(metrics, "careloop_webhook_rejected_requests_total") == 2
        assert sample(metrics, "careloop_database_up") == 1
        for name in (
            "careloop_messages_sent_total",
            "careloop_telegram_429_total",
            "careloop_dispatch_lag_seconds",
            'careloop_alerts_open{tier="urgent"}',
            "careloop_checkin_response_rate",
            "careloop_alert_time_to_ack_seconds",
        ):
            assert name in metrics

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
    assert code == 0
    assert fake.webhook.url == f"{base}/tg"  # one instance stopping leaves the webhook set
    assert fake.refused == []

    log_lines = (tmp_path / "bot.log").read_text().splitlines()
    records = [json.loads(line) for line in log_lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any("webhook" in m and "started" in m for m in messages)
    assert sum("refused a request" in m for m in messages) == 2
    assert "careloop stopped" in messages
    assert not any("Mallory" in line or "Adelaide" in line for line in log_lines)
