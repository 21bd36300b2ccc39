"""``FakeBotAPI``: a strict, in-process stand-in for ``api.telegram.org``.

The bot under test talks HTTP to it exactly as to Telegram (aiogram's
``TelegramAPIServer.from_base(fake.url)``), so the whole client stack — aiogram's
serialisation, retries, error mapping — is exercised. State (people, messages,
files, updates) lives here; the Bot API methods themselves are in
:mod:`sandbox.botapi.messaging` and :mod:`sandbox.botapi.management`.

Every change (a request answered, a person acting, a webhook delivery) notifies one
``asyncio.Condition``; :meth:`FakeBotAPI.wait_until` and ``SimUser.wait_for`` wait on
it, so tests never poll with sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError
from sandbox.botapi.faults import Faults, Hold, RateLimiter, is_message_method
from sandbox.botapi.management import MANAGEMENT_METHODS
from sandbox.botapi.media import image_size, photo_sizes
from sandbox.botapi.messaging import MESSAGING_METHODS, Handler
from sandbox.botapi.models import CallbackRecord, RecordedRequest, SentMessage, StoredFile
from sandbox.botapi.params import Params, decode_request
from sandbox.botapi.people import SimChat, SimUser, _Conversation
from sandbox.botapi.updates import UpdateQueue
from sandbox.botapi.webhook import Webhook

log = logging.getLogger("sandbox.botapi")

METHODS: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler)
    for name, handler in {**MESSAGING_METHODS, **MANAGEMENT_METHODS}.items()
}
_MAX_BODY = 52 * 1024 * 1024  # Telegram's 50 MB upload limit plus form overhead


class FakeBotAPI:
    """A fake Telegram Bot API server for one bot token. See the package docstring."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",
        bot_id: int = 123456,
        bot_username: str = "careloop_test_bot",
        enforce_rate_limits: bool = False,
        global_per_second: int = 30,
        per_chat_per_second: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = "CareLoop Test Bot"
        self.url = ""
        self.users: dict[int, SimUser] = {}
        self.groups: dict[int, SimChat] = {}
        self.requests: list[RecordedRequest] = []
        self.faults = Faults(seed=seed)
        self.holds: list[Hold] = []
        self.limiter: RateLimiter | None = (
            RateLimiter(global_per_second, per_chat_per_second) if enforce_rate_limits else None
        )
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.menu_buttons: dict[str, dict[str, Any]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.files: dict[str, StoredFile] = {}
        self.photo_sets: dict[str, list[dict[str, Any]]] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.updates = UpdateQueue()
        self.webhook = Webhook(self)
        self.webhook_attempts = 3
        self.logged_out = False
        self.closed = False
        self.stopping = False
        self.poll_generation = 0
        self.condition = asyncio.Condition()
        self.internal_errors: list[BaseException] = []
        self._messages: list[SentMessage] = []
        self._seq = 0
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1 (a free port when ``port`` is 0) and set :attr:`url`."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        # handler_cancellation: an abandoned long poll must stop waiting, otherwise it
        # would later be "terminated by other getUpdates request" for nobody.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}"
        self.stopping = False

    async def stop(self) -> None:
        """Answer pending long polls with ``[]``, stop webhook delivery, close the server."""
        self.stopping = True
        await self.notify()
        await self.webhook.stop()
        for task in list(self._background):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def clear(self) -> None:
        """Forget every person, group, message, file, callback, menu and request.

        The sandbox's "Reset" starts over this way while the server keeps its
        address. Sequence numbers and update ids keep counting, so a waiter holding
        an older number never mistakes new traffic for old.
        """
        self.users.clear()
        self.groups.clear()
        self.requests.clear()
        self.commands.clear()
        self.menu_buttons.clear()
        self.chat_actions.clear()
        self.files.clear()
        self.photo_sets.clear()
        self.callbacks.clear()
        self.internal_errors.clear()
        self._messages.clear()
        self.updates.pending.clear()
        self.updates.dropped.clear()
        self.updates.delivered.clear()
        self.updates.allowed_updates = None
        self.notify_soon()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ notification

    async def notify(self) -> None:
        """Wake every waiter: something changed."""
        async with self.condition:
            self.condition.notify_all()

    def notify_soon(self) -> None:
        """:meth:`notify` from synchronous code (schedules it on the running loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, so nobody can be waiting
        task = loop.create_task(self.notify())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - the public API the tests use
    ) -> None:
        """Wait until ``predicate()`` is true, re-checking after every change.

        Raises TimeoutError naming the predicate and summarising recent traffic.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self.condition:
                    await self.condition.wait_for(predicate)
        except TimeoutError:
            name = getattr(predicate, "__qualname__", repr(predicate))
            raise TimeoutError(
                f"condition {name} still false after {timeout}s.\n{self.diagnostics()}"
            ) from None

    def diagnostics(self) -> str:
        """A short human summary of recent traffic, for timeout messages."""
        lines = ["Last requests:"]
        for req in self.requests[-8:]:
            mark = " (injected)" if req.injected else ""
            detail = f" {req.description}" if req.description else ""
            lines.append(f"  {req.method} -> {req.status}{mark}{detail}")
        if len(lines) == 1:
            lines.append("  (none — is the bot running and pointed at this server?)")
        if self.refused:
            lines.append(f"Refused (bot mistakes): {len(self.refused)}")
        lines.append(f"Pending updates: {len(self.updates.pending)}")
        if self.updates.dropped:
            kinds = sorted({next(k for k in u if k != "update_id") for u in self.updates.dropped})
            lines.append(
                f"Dropped updates (not in allowed_updates {self.updates.allowed_updates}): "
                f"{len(self.updates.dropped)} of kinds {kinds}"
            )
        if self.webhook.url:
            lines.append(
                f"Webhook: {self.webhook.url} last error: {self.webhook.last_error_message}"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ people

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> SimUser:
        """The simulated person ``user_id`` (created on first call, then the same object)."""
        if user_id <= 0:
            raise ValueError(f"user ids are positive, got {user_id}")
        if user_id not in self.users:
            self.users[user_id] = SimUser(
                self,
                user_id,
                first_name,
                last_name=last_name,
                username=username,
                language_code=language_code,
            )
        return self.users[user_id]

    def group(self, chat_id: int, title: str = "Clinic alerts") -> SimChat:
        """A group the bot is a member of (negative id); the same object on repeated calls."""
        if chat_id not in self.groups:
            self.groups[chat_id] = SimChat(self, chat_id, title)
        return self.groups[chat_id]

    def conversation(self, chat_id: int) -> _Conversation | None:
        """The private chat or group with that id, if the fake knows it."""
        return self.users.get(chat_id) or self.groups.get(chat_id)

    # ------------------------------------------------------------ observations

    @property
    def refused(self) -> list[RecordedRequest]:
        """Non-2xx answers that were not injected faults — the bot's own mistakes."""
        return [r for r in self.requests if r.status >= 300 and not r.injected]

    def sent_messages(self) -> list[SentMessage]:
        """Every message the bot sent, all chats, in sending order (deleted ones too)."""
        return list(self._messages)

    @property
    def seq(self) -> int:
        """The latest sequence number handed to a message creation or edit."""
        return self._seq

    def next_seq(self) -> int:
        """A new sequence number for a message change."""
        self._seq += 1
        return self._seq

    # ------------------------------------------------------ state for handlers

    def bot_user_json(self) -> dict[str, Any]:
        """The bot as a ``User``."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def add_message(self, conversation: _Conversation, msg: SentMessage) -> None:
        """Record a new message of the bot in ``conversation``."""
        conversation.inbox.append(msg)
        self._messages.append(msg)

    def find_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        """The bot's live (not deleted) message ``message_id`` in ``chat_id``."""
        conversation = self.conversation(chat_id)
        return conversation.message(message_id) if conversation else None

    def message_json(self, msg: SentMessage, *, nested: bool = False) -> dict[str, Any]:
        """The ``Message`` object Telegram returns for one of the bot's messages."""
        conversation = self.conversation(msg.chat_id)
        chat = conversation.chat_json() if conversation else {"id": msg.chat_id, "type": "private"}
        out: dict[str, Any] = {
            "message_id": msg.message_id,
            "from": self.bot_user_json(),
            "chat": chat,
            "date": msg.date,
        }
        if msg.edit_date is not None:
            out["edit_date"] = msg.edit_date
        if msg.kind == "text":
            out["text"] = msg.text
            if msg.entities:
                out["entities"] = msg.entities
        else:
            out[msg.kind] = msg.attachment
            if msg.caption:
                out["caption"] = msg.caption
                if msg.entities:
                    out["caption_entities"] = msg.entities
        if msg.reply_markup and "inline_keyboard" in msg.reply_markup:
            out["reply_markup"] = msg.reply_markup
        if msg.reply_to_message_id is not None and not nested and conversation is not None:
            replied = conversation.message(msg.reply_to_message_id)
            if replied is not None:
                out["reply_to_message"] = self.message_json(replied, nested=True)
            elif msg.reply_to_message_id in conversation.posted:
                out["reply_to_message"] = conversation.posted[msg.reply_to_message_id]
        return out

    def store_file(
        self,
        kind: str,
        data: bytes,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        """Keep ``data`` under a fresh file_id (served by getFile and /file/...)."""
        number = next(self._file_ids)
        prefix = {"photo": "AgAC", "document": "BQAC", "sticker": "CAAC"}.get(kind, "AAAC")
        file_id = f"{prefix}fake{number:06d}{self.bot_id}"
        extension = {"photo": "jpg", "sticker": "webp"}.get(kind, "")
        if filename and "." in filename:
            extension = filename.rsplit(".", 1)[1]
        folder = {"photo": "photos", "document": "documents", "sticker": "stickers"}.get(kind, kind)
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{number:06d}",
            kind=kind,
            data=data,
            file_path=f"{folder}/file_{number}" + (f".{extension}" if extension else ""),
            filename=filename,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self.files[file_id] = stored
        return stored

    def store_photo(self, data: bytes) -> list[dict[str, Any]]:
        """Validate an image and store it as Telegram does: a list of PhotoSize."""
        mime, width, height = image_size(data)
        sizes: list[dict[str, Any]] = []
        for w, h in photo_sizes(width, height):
            stored = self.store_file("photo", data, mime_type=mime, width=w, height=h)
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": len(data),
                }
            )
        for size in sizes:
            self.photo_sets[size["file_id"]] = sizes
        return sizes

    def new_callback(
        self, user_id: int, chat_id: int, message_id: int, data: str
    ) -> CallbackRecord:
        """Create a callback query that the bot must answer once."""
        query_id = str(4_300_000_000_000_000_000 + next(self._callback_ids) * 7_919)
        record = CallbackRecord(query_id, user_id, chat_id, message_id, data)
        self.callbacks[query_id] = record
        return record

    def resolve_chat(self, p: Params, *, for_sending: bool = True) -> _Conversation:
        """The target chat of a call, refused like Telegram when it cannot be written to.

        Unknown ids → 400 chat not found; a person who never wrote to the bot → 403
        can't initiate conversation; a person who blocked the bot → 403 blocked.
        """
        raw = p.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, errors.CHAT_ID_EMPTY)
        try:
            chat_id = int(str(raw).strip())
        except ValueError:
            raise ApiError(400, errors.CHAT_NOT_FOUND) from None
        conversation = self.conversation(chat_id)
        if conversation is None:
            raise ApiError(400, errors.CHAT_NOT_FOUND)
        if for_sending and isinstance(conversation, SimUser):
            if conversation.blocked:
                raise ApiError(403, errors.BLOCKED)
            if not conversation.started:
                raise ApiError(403, errors.CANT_INITIATE)
        return conversation

    async def queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Create an update of ``kind`` (e.g. ``"message"``) and wake pollers."""
        update_id = self.updates.push(kind, payload)
        await self.notify()
        return update_id

    def queue_update_nowait(self, kind: str, payload: dict[str, Any]) -> int:
        """:meth:`queue_update` from synchronous code."""
        update_id = self.updates.push(kind, payload)
        self.notify_soon()
        return update_id

    def hold(
        self, method: str, *, times: int = 1, where: Callable[[Params], bool] | None = None
    ) -> Hold:
        """Hold the next ``times`` calls of ``method`` (matching ``where``) until released:
        see :class:`~sandbox.botapi.faults.Hold`."""
        hold = Hold(method, times=times, where=where)
        self.holds.append(hold)
        return hold

    async def _held(self, method: str, params: Params, at: float, via: str) -> None:
        """Wait while a hold takes this call; a client leaving meanwhile undoes nothing."""
        hold = next((h for h in self.holds if h.takes(method, params)), None)
        if hold is None:
            return
        await self.notify()
        try:
            await hold.wait()
        except asyncio.CancelledError:
            self._record(method, params, at, 0, "client went away while the call was held",
                         via=via)
            self.notify_soon()
            raise

    # --------------------------------------------------------------- dispatch

    async def execute(
        self, method: str, params: Params, *, via: str = "http"
    ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API call: faults, flood limits, the method; log it; notify.

        Returns (HTTP status, JSON body). Used for HTTP calls and webhook replies.
        """
        at = time.monotonic()
        entry = METHODS.get(method.lower())
        if entry is None:
            return await self._answer(method, params, at, ApiError(404, errors.NOT_FOUND), via=via)
        name, handler = entry
        await self._held(name, params, at, via)
        decision = self.faults.decide(name)
        if decision.error is not None:
            return await self._answer(name, params, at, decision.error, via=via, injected=True)
        limited = self.limiter is not None and is_message_method(name)
        chat_key = _chat_key(params)
        try:
            if limited and self.limiter is not None:
                self.limiter.check(chat_key)
            result = await handler(self, params)
        except ApiError as exc:
            return await self._answer(name, params, at, exc, via=via)
        except asyncio.CancelledError:
            self._record(name, params, at, 0, "client went away before the answer", via=via)
            raise
        except Exception as exc:  # a bug in the fake itself: make it loud, not silent
            log.exception("fakebot: %s crashed", name)
            self.internal_errors.append(exc)
            error = ApiError(500, f"Internal Server Error: the fake crashed in {name}: {exc!r}")
            return await self._answer(name, params, at, error, via=via)
        if limited and self.limiter is not None:
            self.limiter.record(chat_key)
        self._record(name, params, at, 200, None, via=via, result=result)
        await self.notify()
        if decision.delay:
            await asyncio.sleep(decision.delay)
        return 200, {"ok": True, "result": result}

    def _record(
        self,
        method: str,
        params: Params,
        at: float,
        status: int,
        description: str | None,
        *,
        via: str,
        injected: bool = False,
        result: Any = None,
    ) -> None:
        self.requests.append(
            RecordedRequest(
                method=method,
                params=params.loggable(),
                status=status,
                description=description,
                injected=injected,
                at=at,
                result=result,
                via=via,
            )
        )

    async def _answer(
        self,
        method: str,
        params: Params,
        at: float,
        error: ApiError,
        *,
        via: str,
        injected: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        self._record(method, params, at, error.code, error.description, via=via, injected=injected)
        await self.notify()
        return error.code, error.body()

    # ------------------------------------------------------------------- HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        at = time.monotonic()
        if request.match_info["token"] != self.token:
            status, body = await self._answer(
                method, Params({}), at, ApiError(401, errors.UNAUTHORIZED), via="http"
            )
            return web.json_response(body, status=status)
        try:
            params = await decode_request(request)
        except ApiError as exc:
            status, body = await self._answer(method, Params({}), at, exc, via="http")
            return web.json_response(body, status=status)
        status, body = await self.execute(method, params)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, errors.UNAUTHORIZED).body(), status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(
                    body=stored.data, content_type=stored.mime_type or "application/octet-stream"
                )
        return web.json_response(ApiError(404, errors.NOT_FOUND).body(), status=404)

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, errors.NOT_FOUND).body(), status=404)


def _chat_key(params: Params) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(str(params.get("chat_id")).strip())
    return None
