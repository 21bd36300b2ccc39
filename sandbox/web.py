"""The sandbox page's HTTP side (aiohttp, same process and event loop as the bot).

* ``GET /`` and ``/static/…`` — the page (plain HTML, CSS and JavaScript).
* ``GET /api/events`` — server-sent events: ``hello`` (panes, bot, clock), ``chat``
  (what changed in a pane), ``clock``, ``reset``. Driven by the local Bot API's
  change notifications: no polling loop, no sleeps.
* ``POST /api/send|tap|open|scale|jump|reset`` — what a click does: a simulated
  person types or taps (the same calls the tests make), or time moves.
* ``GET /media/<chat>/<message>`` — a photo or document the bot sent.
* ``/desk/…`` — the clinic desk Mini App (bot/desk/), served by the running bot's code
  with the sandbox's stand-in for ``window.Telegram.WebApp`` (static/webapp.js);
  ``POST /api/webapp`` opens it as Telegram would: the pane's person taps a ``web_app``
  button (or their chat's menu button) and gets ``initData`` signed with the bot token.

It listens on 127.0.0.1 only. Actions must be JSON posts from the page itself
(checked Host and Origin), so another web page open in the same browser cannot
drive the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.desk.api import DeskContext
from bot.desk.web import PREFIX as DESK_PREFIX
from bot.desk.web import make_desk_app
from bot.desk.web import mount as mount_desk
from sandbox.app import Sandbox, SandboxBusy
from sandbox.botapi import SimUser
from sandbox.botapi.webapp import sign_init_data
from sandbox.guide import pane_meta
from sandbox.people import CAST, PATIENT, sim_user, start_param
from sandbox.view import PaneWatcher, panes_json, web_app_url

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "webapp.js": "text/javascript",
}
KEEPALIVE_SECONDS = 15.0
TAP_ANSWER_SECONDS = 10.0  # Telegram's client gives up on an unanswered tap after about this
MAX_TEXT = 4096
SCALES = (1.0, 60.0, 3600.0)
_PEOPLE = {p.user_id: p for p in CAST}
_CHATS = set(_PEOPLE)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SANDBOX_KEY = web.AppKey("sandbox", Sandbox)


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX_KEY]


@web.middleware
async def same_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse other hosts (DNS rebinding) and cross-site or non-JSON posts (CSRF)."""
    host = request.host.rsplit(":", 1)[0]
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        raise web.HTTPForbidden(text="the sandbox answers on 127.0.0.1 only")
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise web.HTTPForbidden(text="cross-site request")
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send JSON")
    return await handler(request)


@web.middleware
async def busy_is_503(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An action during a reset gets 503 (the page says "starting…"), not a traceback."""
    try:
        return await handler(request)
    except SandboxBusy as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=503)


def make_web_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(middlewares=[same_origin_only, busy_is_503])
    app[SANDBOX_KEY] = sandbox
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/events", events)
    app.router.add_get("/media/{chat_id}/{message_id}", media)
    app.router.add_post("/api/send", send)
    app.router.add_post("/api/tap", tap)
    app.router.add_post("/api/open", open_link)
    app.router.add_post("/api/scale", scale)
    app.router.add_post("/api/jump", jump)
    app.router.add_post("/api/reset", reset)
    app.router.add_post("/api/webapp", open_web_app)
    mount_desk(
        app, make_desk_app(lambda: _desk_context(sandbox), webapp_script="/static/webapp.js")
    )
    return app


def _desk_context(sandbox: Sandbox) -> DeskContext:
    """The running bot's sessions, settings and clock (SandboxBusy during a reset: 503)."""
    app = sandbox.bot().app
    return DeskContext(
        app.sessions, app.settings, app.clock, app.bot, app.protocol, app.bot_username
    )


async def serve(sandbox: Sandbox, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0: a free port); returns the runner and the bound port."""
    runner = web.AppRunner(make_web_app(sandbox), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


# ------------------------------------------------------------------ the page


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name,
        headers={"Content-Type": _STATIC_FILES[name], "Cache-Control": "no-store"},
    )


async def media(request: web.Request) -> web.StreamResponse:
    sandbox = _sandbox(request)
    try:
        chat_id = int(request.match_info["chat_id"])
        message_id = int(request.match_info["message_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    msg = sandbox.fake.find_message(chat_id, message_id) if chat_id in _CHATS else None
    data = None if msg is None else (msg.photo if msg.kind == "photo" else msg.document)
    if msg is None or data is None:
        raise web.HTTPNotFound()
    stored = sandbox.fake.files.get(msg.file_id or "")
    content_type = (stored.mime_type if stored else None) or "application/octet-stream"
    headers = {"Cache-Control": "private, max-age=3600"}
    if msg.kind == "document":
        filename = (msg.filename or "document").replace('"', "")
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return web.Response(body=data, content_type=content_type, headers=headers)


# ------------------------------------------------------------------ live feed


def clock_json(sandbox: Sandbox) -> dict[str, Any] | None:
    """Protocol time now, its speed and zone; the page runs the clock between events."""
    try:
        running = sandbox.bot()
    except SandboxBusy:
        return None
    clock = running.app.clock
    return {
        "now_ms": int(clock.now().timestamp() * 1000),
        "scale": clock.scale,
        "tz": running.app.settings.clinic_timezone.key,
        "version": sandbox.clock_version,
    }


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _stamp(sandbox: Sandbox) -> tuple[int, ...]:
    """Changes whenever anything a pane or the clock shows may have changed."""
    fake = sandbox.fake
    return (
        sandbox.generation,
        sandbox.clock_version,
        int(sandbox.busy),
        fake.seq,
        len(fake.requests),
        sum(len(u.posted) + len(u.inbox) for u in fake.users.values()),
    )


async def events(request: web.Request) -> web.StreamResponse:
    """The live feed of one page: a snapshot, then every change as it happens."""
    sandbox = _sandbox(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    watcher = PaneWatcher(sandbox.fake, sandbox.fake.bot_username)
    generation, clock_version = sandbox.generation, -1
    next_due_ms: int | None = -1
    meta: list[dict[str, Any]] | None = None
    hello = {"bot_username": sandbox.fake.bot_username, "panes": panes_json(), "scales": SCALES}
    with contextlib.suppress(ConnectionResetError):
        await response.write(_event("hello", hello))
        while not sandbox.closing:
            stamp = _stamp(sandbox)
            if sandbox.generation != generation:
                generation = sandbox.generation
                watcher.forget()
                await response.write(_event("reset", {"generation": generation}))
            for change in watcher.changes():
                await response.write(_event("chat", change))
            now_meta = await _pane_meta(sandbox)
            if now_meta is not None and now_meta != meta:
                meta = now_meta
                await response.write(_event("panes", meta))
            clock = clock_json(sandbox)
            if clock is not None:
                due = await _next_due_ms(sandbox)
                if clock["version"] != clock_version or due != next_due_ms:
                    clock_version, next_due_ms = clock["version"], due
                    await response.write(_event("clock", {**clock, "next_due_ms": due}))
            try:
                await sandbox.fake.wait_until(
                    lambda s=stamp: _stamp(sandbox) != s or sandbox.closing,  # type: ignore[misc]
                    timeout=KEEPALIVE_SECONDS,
                )
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
    return response


async def _pane_meta(sandbox: Sandbox) -> list[dict[str, Any]] | None:
    """The panes' hints and the patient's enrolled name (None during a reset)."""
    try:
        running = sandbox.bot()
    except SandboxBusy:
        return None
    async with running.app.sessions() as db:
        return await pane_meta(db)


async def _next_due_ms(sandbox: Sandbox) -> int | None:
    try:
        due = await sandbox.next_due()
    except SandboxBusy:
        return None
    return None if due is None else int(due.timestamp() * 1000)


# -------------------------------------------------------------------- actions


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _chat(body: dict[str, Any]) -> int:
    chat_id = body.get("chat_id")
    if not isinstance(chat_id, int) or chat_id not in _CHATS:
        raise web.HTTPBadRequest(text="unknown pane")
    return chat_id


def _user(sandbox: Sandbox, chat_id: int) -> SimUser:
    """The pane's simulated person (the patient exists only once they first act)."""
    sandbox.bot()  # SandboxBusy during a reset: the people are being set up again
    return sim_user(sandbox.fake, _PEOPLE[chat_id])


def _ok(**extra: Any) -> web.Response:
    return web.json_response({"ok": True, **extra})


async def send(request: web.Request) -> web.StreamResponse:
    """The pane's person types a message (Enter in the text box, or a menu command)."""
    sandbox = _sandbox(request)
    body = await _body(request)
    chat_id = _chat(body)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise web.HTTPBadRequest(text="type 1-4096 characters")
    await _user(sandbox, chat_id).send(text.strip())
    return _ok()


async def tap(request: web.Request) -> web.StreamResponse:
    """The pane's person taps an inline button of one of the bot's messages."""
    sandbox = _sandbox(request)
    body = await _body(request)
    chat_id = _chat(body)
    message_id, label = body.get("message_id"), body.get("text")
    if not isinstance(message_id, int) or not isinstance(label, str):
        raise web.HTTPBadRequest(text="expected message_id and text")
    user = _user(sandbox, chat_id)
    message = user.message(message_id)
    if message is None:
        raise web.HTTPConflict(text="that message is gone")
    try:
        query_id = await user.tap(message, label)
    except (LookupError, ValueError) as exc:  # the keyboard changed under the click
        raise web.HTTPConflict(text=str(exc)) from None
    # answered when the bot has handled the tap: the page then enables the button again
    # (an edit has replaced it by then; a toast-only answer leaves it usable, as in Telegram)
    record = sandbox.fake.callbacks[query_id]
    with contextlib.suppress(TimeoutError):
        await sandbox.fake.wait_until(lambda: record.answered, timeout=TAP_ANSWER_SECONDS)
    return _ok(answered=record.answered)


async def open_link(request: web.Request) -> web.StreamResponse:
    """A join link clicked anywhere opens in the patient's pane: /start <token> as them."""
    sandbox = _sandbox(request)
    body = await _body(request)
    link = body.get("link")
    token = start_param(link) if isinstance(link, str) else None
    if token is None:
        raise web.HTTPBadRequest(text="not a t.me start link")
    if await sandbox.link_kind(token) == "invite":
        # opened by the patient, it would make them staff and unable to join as a patient
        raise web.HTTPConflict(
            text="That is a staff invitation; in the sandbox the therapist and the front "
            "desk are registered already. Join links from /enroll open in the patient's chat."
        )
    await _user(sandbox, PATIENT.user_id).start(token)
    return _ok(chat_id=PATIENT.user_id)


async def scale(request: web.Request) -> web.StreamResponse:
    """Real time, 1 min = 1 h, 1 s = 1 h: protocol time keeps going from where it is."""
    sandbox = _sandbox(request)
    body = await _body(request)
    value = body.get("scale")
    if not isinstance(value, int | float) or float(value) not in SCALES:
        raise web.HTTPBadRequest(text=f"scale must be one of {SCALES}")
    await sandbox.set_scale(float(value))
    return _ok()


async def jump(request: web.Request) -> web.StreamResponse:
    """Skip to the next scheduled message."""
    due = await _sandbox(request).jump()
    return _ok(due=None if due is None else due.astimezone(UTC).isoformat())


async def open_web_app(request: web.Request) -> web.StreamResponse:
    """The pane's person opens a Web App: a `web_app` button of one of the bot's messages
    (message_id and text) or their chat's menu button (no message_id). Only a button the
    bot gave that person opens (a patient has none); the answer is the page's path on
    this server and the `initData` Telegram would hand it, signed with the bot token."""
    sandbox = _sandbox(request)
    body = await _body(request)
    chat_id = _chat(body)
    message_id, label = body.get("message_id"), body.get("text")
    if message_id is not None and (not isinstance(message_id, int) or not isinstance(label, str)):
        raise web.HTTPBadRequest(text="expected message_id and text")
    user = _user(sandbox, chat_id)
    try:
        url = web_app_url(sandbox.fake, user, message_id, label)
    except LookupError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    path = urlsplit(url).path
    if not path.startswith(DESK_PREFIX):
        raise web.HTTPConflict(text="the sandbox opens only the clinic desk")
    person = _PEOPLE[chat_id]
    profile: dict[str, Any] = {"id": person.user_id, "first_name": person.first_name}
    if person.last_name:
        profile["last_name"] = person.last_name
    profile["language_code"] = "en"
    init_data = sign_init_data(sandbox.fake.token, profile, auth_date=datetime.now(UTC))
    return _ok(path=path, init_data=init_data)


async def reset(request: web.Request) -> web.StreamResponse:
    """Start over with an empty database."""
    sandbox = _sandbox(request)
    await sandbox.reset()
    return _ok(at=datetime.now(UTC).isoformat())
