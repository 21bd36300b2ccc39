"""Webhook delivery: POST each pending update to the bot, in order, like Telegram.

One background task per configured webhook takes the oldest pending update,
POSTs it as JSON (with ``X-Telegram-Bot-Api-Secret-Token`` when a secret was set)
and confirms it on a 2xx. A failure is retried ``fake.webhook_attempts`` times with
a backoff doubling from 0.05 s up to ``Webhook.max_backoff`` (1 s), then the update is
dropped and the error kept for ``getWebhookInfo`` — Telegram retries longer, but a test
wants a clear failure, not an endless loop; a test of an outage or a killed instance
sets ``webhook_attempts`` high, as Telegram goes on redelivering. A 2xx reply carrying
a method (JSON ``{"method": ...}`` or aiogram's multipart form) is executed as
Telegram does, and logged with ``via="webhook-reply"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from sandbox.botapi.params import Params, decode_multipart_reply

if TYPE_CHECKING:
    from sandbox.botapi.server import FakeBotAPI

_BACKOFF = 0.05


class Webhook:
    """The webhook configuration of the fake bot and its delivery task."""

    def __init__(self, api: FakeBotAPI) -> None:
        self._api = api
        self.url: str | None = None
        self.secret_token: str | None = None
        self.max_connections = 40
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.deliveries: list[dict[str, Any]] = []
        self.timeout = 10.0
        self.max_backoff = 1.0
        self._task: asyncio.Task[None] | None = None

    def info(self) -> dict[str, Any]:
        """The ``WebhookInfo`` object."""
        info: dict[str, Any] = {
            "url": self.url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._api.updates.pending),
        }
        if self.url:
            info["max_connections"] = self.max_connections
            info["ip_address"] = "127.0.0.1"
        if self._api.updates.allowed_updates:
            info["allowed_updates"] = list(self._api.updates.allowed_updates)
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info

    async def set(self, url: str, secret_token: str | None, max_connections: int) -> None:
        """Configure and (re)start delivery."""
        await self.stop()
        self.url, self.secret_token, self.max_connections = url, secret_token, max_connections
        self._task = asyncio.get_running_loop().create_task(self._deliver_forever())

    async def clear(self) -> None:
        """Remove the webhook (deleteWebhook)."""
        self.url = None
        self.secret_token = None
        await self.stop()
        await self._api.notify()

    async def stop(self) -> None:
        """Stop the delivery task; undelivered updates stay pending."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _ready(self) -> bool:
        return self._api.stopping or self.url is None or bool(self._api.updates.pending)

    async def _deliver_forever(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                async with self._api.condition:
                    await self._api.condition.wait_for(self._ready)
                if self._api.stopping or self.url is None:
                    return
                update = self._api.updates.pending[0]
                await self._deliver(session, self.url, update)
                self._api.updates.confirm_one(update["update_id"])
                await self._api.notify()

    async def _deliver(
        self, session: aiohttp.ClientSession, url: str, update: dict[str, Any]
    ) -> None:
        headers = {}
        if self.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret_token
        attempts = max(1, self._api.webhook_attempts)
        for attempt in range(1, attempts + 1):
            status, error, reply = await self._post(session, url, update, headers)
            self.deliveries.append(
                {
                    "update_id": update["update_id"],
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                }
            )
            if error is None:
                if reply is not None:
                    method, params = reply
                    await self._api.execute(method, params, via="webhook-reply")
                return
            self.last_error_date = int(time.time())
            self.last_error_message = error
            await self._api.notify()
            if attempt < attempts:
                await asyncio.sleep(min(self.max_backoff, _BACKOFF * 2 ** min(attempt - 1, 30)))

    async def _post(
        self,
        session: aiohttp.ClientSession,
        url: str,
        update: dict[str, Any],
        headers: dict[str, str],
    ) -> tuple[int, str | None, tuple[str, Params] | None]:
        try:
            async with session.post(
                url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                if not 200 <= resp.status < 300:
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
                    return resp.status, error, None
                return resp.status, None, await _reply_method(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, f"Connection failed: {type(exc).__name__}: {exc}", None


async def _reply_method(resp: aiohttp.ClientResponse) -> tuple[str, Params] | None:
    """A method the bot asked Telegram to run by answering the webhook with it."""
    if resp.content_type == "application/json":
        with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
            body = await resp.json()
            if isinstance(body, dict) and isinstance(body.get("method"), str):
                values = {k: v for k, v in body.items() if k != "method"}
                return body["method"], Params(values)
        return None
    if resp.content_type == "multipart/form-data":
        params = await decode_multipart_reply(aiohttp.MultipartReader.from_response(resp))
        method = params.values.pop("method", None)
        if isinstance(method, str):
            return method, params
    return None
