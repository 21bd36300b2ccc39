"""Bot API methods about the bot itself: identity, updates, webhook, commands, files.

``getUpdates`` is a real long poll: it waits on the server's condition (no
sleeping loop) until an update is pending, the server stops, or ``timeout``
passes. A second poll arriving while one waits terminates the first with
Telegram's 409 "terminated by other getUpdates request" — the symptom of two bot
instances sharing a token, which the fake should expose, not hide.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError, bad_request
from sandbox.botapi.urls import check_url

if TYPE_CHECKING:
    from sandbox.botapi.messaging import Handler
    from sandbox.botapi.params import Params
    from sandbox.botapi.server import FakeBotAPI

_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SCOPES_WITHOUT_CHAT = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
}
MAX_POLL_TIMEOUT = 50


async def get_me(api: FakeBotAPI, p: Params) -> Any:
    """getMe."""
    return {
        **api.bot_user_json(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _allowed_updates(p: Params) -> list[str] | None:
    value = p.get("allowed_updates")
    if value is None or value == "":
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request("can't parse allowed_updates JSON array")
    return list(value)


async def get_updates(api: FakeBotAPI, p: Params) -> Any:
    """getUpdates: confirm by offset, then long-poll for up to ``timeout`` seconds."""
    if api.webhook.url:
        raise ApiError(409, errors.WEBHOOK_CONFLICT)
    offset = p.integer("offset")
    limit = min(max(p.integer("limit") or 100, 1), 100)
    timeout = min(max(p.integer("timeout") or 0, 0), MAX_POLL_TIMEOUT)
    allowed = _allowed_updates(p)
    if allowed is not None:
        api.updates.allowed_updates = allowed
    if offset is not None:
        api.updates.confirm(offset)
    api.poll_generation += 1
    ticket = api.poll_generation
    await api.notify()  # an older poll still waiting must now give way

    def ready() -> bool:
        return (
            bool(api.updates.pending)
            or api.stopping
            or api.poll_generation != ticket
            or bool(api.webhook.url)
        )

    if timeout and not ready():
        try:
            async with asyncio.timeout(timeout):
                async with api.condition:
                    await api.condition.wait_for(ready)
        except TimeoutError:
            pass
    if api.poll_generation != ticket:
        raise ApiError(409, errors.POLLING_CONFLICT)
    if api.stopping or api.webhook.url:
        return []
    return api.updates.take(limit)


def _check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in _LOOPBACK:
        # Local delivery is the fake's purpose: plain HTTP and any port are allowed here.
        if parts.scheme not in ("http", "https"):
            raise bad_request("bad webhook: Unsupported URL protocol")
        return
    if parts.scheme != "https":
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if (parts.port or 443) not in (80, 88, 443, 8443):
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    problem = check_url(url)
    if problem:
        raise bad_request(f"bad webhook: {problem}")


async def set_webhook(api: FakeBotAPI, p: Params) -> Any:
    """setWebhook: later updates are POSTed to ``url``; an empty url removes it."""
    url = (p.string("url") or "").strip()
    if p.flag("drop_pending_updates"):
        api.updates.drop_all()
    allowed = _allowed_updates(p)
    if allowed is not None:
        api.updates.allowed_updates = allowed
    if not url:
        await api.webhook.clear()
        return True
    _check_webhook_url(url)
    secret = p.string("secret_token")
    if secret is not None and secret != "" and not _SECRET.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = p.integer("max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    await api.webhook.set(url, secret or None, max_connections)
    return True


async def delete_webhook(api: FakeBotAPI, p: Params) -> Any:
    """deleteWebhook (optionally dropping pending updates)."""
    if p.flag("drop_pending_updates"):
        api.updates.drop_all()
    await api.webhook.clear()
    return True


async def get_webhook_info(api: FakeBotAPI, p: Params) -> Any:
    """getWebhookInfo."""
    return api.webhook.info()


def _scope_key(api: FakeBotAPI, p: Params) -> str:
    """Canonical storage key of (scope, language_code), e.g. ``chat:42`` or ``default/ru``."""
    scope = p.get("scope")
    if scope is None or scope == "":
        key = "default"
    else:
        if not isinstance(scope, dict):
            raise bad_request("can't parse BotCommandScope JSON object")
        kind = scope.get("type")
        if kind in _SCOPES_WITHOUT_CHAT:
            key = str(kind)
        elif kind in ("chat", "chat_administrators", "chat_member"):
            try:
                chat_id = int(str(scope.get("chat_id")))
            except ValueError:
                raise ApiError(400, errors.CHAT_NOT_FOUND) from None
            if api.conversation(chat_id) is None:
                raise ApiError(400, errors.CHAT_NOT_FOUND)
            key = f"{kind}:{chat_id}"
            if kind == "chat_member":
                user_id = scope.get("user_id")
                if user_id is None:
                    raise bad_request('can\'t find field "user_id"')
                key += f":{int(user_id)}"
        else:
            raise bad_request("unsupported bot command scope type specified")
    language = p.string("language_code") or ""
    if language:
        if not _LANGUAGE.match(language):
            raise bad_request("invalid language code specified")
        key += f"/{language}"
    return key


async def set_my_commands(api: FakeBotAPI, p: Params) -> Any:
    """setMyCommands: validated like Telegram; an empty list deletes the scope's commands."""
    commands = p.get("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON array")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    clean: list[dict[str, Any]] = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: BotCommand must be an Object")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not _COMMAND.match(name.removeprefix("/")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": name.removeprefix("/"), "description": description})
    key = _scope_key(api, p)
    if clean:
        api.commands[key] = clean
    else:
        api.commands.pop(key, None)
    return True


async def get_my_commands(api: FakeBotAPI, p: Params) -> Any:
    """getMyCommands for exactly that scope and language (no fallback, like Telegram)."""
    return api.commands.get(_scope_key(api, p), [])


async def delete_my_commands(api: FakeBotAPI, p: Params) -> Any:
    """deleteMyCommands."""
    api.commands.pop(_scope_key(api, p), None)
    return True


def _menu_key(api: FakeBotAPI, p: Params) -> str:
    chat_id = p.integer("chat_id")
    if chat_id is None:
        return "default"
    if chat_id not in api.users:
        raise ApiError(400, errors.CHAT_NOT_FOUND)
    return f"chat:{chat_id}"


async def set_chat_menu_button(api: FakeBotAPI, p: Params) -> Any:
    """setChatMenuButton (stored in ``fake.menu_buttons`` by ``default`` / ``chat:<id>``)."""
    key = _menu_key(api, p)
    button = p.get("menu_button")
    if button is None or button == "":
        button = {"type": "default"}
    if not isinstance(button, dict):
        raise bad_request("can't parse menu button JSON object")
    kind = button.get("type")
    if kind == "web_app":
        if not isinstance(button.get("text"), str) or not button["text"]:
            raise bad_request("menu button text is empty")
        web_app = button.get("web_app")
        url = str(web_app.get("url") or "") if isinstance(web_app, dict) else ""
        problem = check_url(url, https_only=True)
        if problem:
            raise bad_request(f"menu button Web App URL '{url}' is invalid: {problem}")
    elif kind not in ("commands", "default"):
        raise bad_request("can't parse menu button: Unsupported type specified")
    api.menu_buttons[key] = button
    return True


async def get_chat_menu_button(api: FakeBotAPI, p: Params) -> Any:
    """getChatMenuButton."""
    key = _menu_key(api, p)
    return api.menu_buttons.get(key) or api.menu_buttons.get("default") or {"type": "default"}


async def get_file(api: FakeBotAPI, p: Params) -> Any:
    """getFile: the File object; download from ``{url}/file/bot{token}/{file_path}``."""
    stored = api.files.get(p.string("file_id") or "")
    if stored is None:
        raise ApiError(400, errors.INVALID_FILE_ID)
    return stored.as_file()


async def close(api: FakeBotAPI, p: Params) -> Any:
    """close."""
    api.closed = True
    return True


async def log_out(api: FakeBotAPI, p: Params) -> Any:
    """logOut."""
    api.logged_out = True
    return True


MANAGEMENT_METHODS: dict[str, Handler] = {
    "getMe": get_me,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "setChatMenuButton": set_chat_menu_button,
    "getChatMenuButton": get_chat_menu_button,
    "getFile": get_file,
    "close": close,
    "logOut": log_out,
}
