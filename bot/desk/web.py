"""The desk as an aiohttp sub-application, mounted at /desk/ on the bot's public server.

The page is plain HTML, CSS and JavaScript from static/ (no build step). In live mode
it loads Telegram's `telegram-web-app.js`; the sandbox mounts the same app with its own
stand-in for `window.Telegram.WebApp` instead (sandbox/static/webapp.js).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bot.desk import admin, enroll, frontdesk
from bot.desk.api import SOURCE_KEY, WALL_KEY, DeskSource, add_routes, refusals

PREFIX = "/desk/"
STATIC = Path(__file__).resolve().parent / "static"
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
_STATIC_FILES = {"desk.js": "text/javascript", "desk.css": "text/css"}
_SCRIPT_KEY = web.AppKey("desk_script", str)


def make_desk_app(
    source: DeskSource,
    *,
    webapp_script: str = TELEGRAM_SCRIPT,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    """The page at `/`, its files at `/static/…`, the API at `/api/…` (under PREFIX)."""
    app = web.Application(middlewares=[refusals])
    app[SOURCE_KEY] = source
    app[WALL_KEY] = wall
    app[_SCRIPT_KEY] = webapp_script
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    add_routes(app)
    enroll.add_routes(app)
    frontdesk.add_routes(app)
    admin.add_routes(app)
    return app


def mount(parent: web.Application, desk: web.Application) -> None:
    parent.add_subapp(PREFIX, desk)


async def index(request: web.Request) -> web.StreamResponse:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{WEBAPP_SCRIPT}}", request.app[_SCRIPT_KEY])
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name,
        headers={"Content-Type": _STATIC_FILES[name], "Cache-Control": "no-cache"},
    )
