"""What each pane shows, as JSON for the page, and what changed since the page last looked.

A pane is one private chat of the local Bot API. Its items are the bot's messages
(current state: an edit replaces the bubble) and what the person typed, ordered
by message id — ids are per chat and shared by both sides, as in Telegram, so
that order is the chat's order. Each item carries a version (the message's
``seq``), so a :class:`PaneWatcher` sends only new, edited or removed items.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from sandbox.botapi import FakeBotAPI, SentMessage, SimUser
from sandbox.people import CAST, Person
from sandbox.richtext import link_html, linkify, safe_html

Json = dict[str, Any]


def _buttons(msg: SentMessage, bot_username: str) -> list[list[Json]]:
    markup = msg.reply_markup or {}
    rows: list[list[Json]] = []
    for row in markup.get("inline_keyboard") or []:
        out: list[Json] = []
        for button in row:
            item: Json = {"text": str(button.get("text", ""))}
            if isinstance(button.get("url"), str):
                item["url"] = button["url"]
                item["link"] = link_html(button["url"], "", bot_username)
            elif isinstance(button.get("web_app"), dict):
                item["web_app"] = True  # opened inside the pane (POST /api/webapp)
            else:
                item["callback"] = isinstance(button.get("callback_data"), str)
            out.append(item)
        rows.append(out)
    return rows


def bot_item(msg: SentMessage, bot_username: str) -> Json:
    """One of the bot's messages, rendered (text, buttons, media address)."""
    item: Json = {
        "key": f"b{msg.message_id}",
        "order": msg.message_id,
        "message_id": msg.message_id,
        "from": "bot",
        "version": msg.seq,
        "kind": msg.kind,
        "html": safe_html(msg.html, msg.parse_mode, bot_username),
        "buttons": _buttons(msg, bot_username),
        "edited": msg.edits > 0,
        "date": msg.edit_date or msg.date,
    }
    if msg.kind in ("photo", "document"):
        item["media"] = f"/media/{msg.chat_id}/{msg.message_id}?v={msg.seq}"
        item["filename"] = msg.filename
    return item


def person_item(message_id: int, posted: Json, bot_username: str) -> Json:
    """What the person wrote (text; other kinds as a short label)."""
    text = posted.get("text")
    if isinstance(text, str):
        body = linkify(text, bot_username)
    else:
        kind = next((k for k in ("photo", "sticker", "location", "contact") if k in posted), "")
        body = f"<i>[{html.escape(kind or 'message')}]</i>"
    return {
        "key": f"u{message_id}",
        "order": message_id,
        "message_id": message_id,
        "from": "person",
        "version": int(posted.get("edit_date") or 0),
        "kind": "text",
        "html": body,
        "buttons": [],
        "edited": "edit_date" in posted,
        "date": posted.get("date", 0),
    }


def pane_items(fake: FakeBotAPI, user: SimUser) -> dict[str, tuple[int, Any]]:
    """key → (version, source) of everything visible in this chat now."""
    items: dict[str, tuple[int, Any]] = {}
    for msg in user.inbox:
        items[f"b{msg.message_id}"] = (msg.seq, msg)
    for message_id, posted in user.posted.items():
        items[f"u{message_id}"] = (int(posted.get("edit_date") or 0), (message_id, posted))
    return items


def menu_of(fake: FakeBotAPI, chat_id: int) -> list[Json]:
    """The chat's command menu as the bot set it (setMyCommands), else the default one."""
    commands = fake.commands.get(f"chat:{chat_id}") or fake.commands.get("default") or []
    return [
        {"command": str(c.get("command", "")), "description": str(c.get("description", ""))}
        for c in commands
    ]


def menu_button_of(fake: FakeBotAPI, chat_id: int) -> Json | None:
    """The chat's menu button when the bot made it a Web App (setChatMenuButton)."""
    button = fake.menu_buttons.get(f"chat:{chat_id}") or fake.menu_buttons.get("default") or {}
    if button.get("type") != "web_app":
        return None
    return {"text": str(button.get("text", ""))}


def web_app_url(fake: FakeBotAPI, user: SimUser, message_id: int | None, text: str | None) -> str:
    """The Web App a person opens: the `web_app` button `text` of the bot's message
    `message_id` in their chat, or (no message) their chat's menu button. LookupError
    when there is no such button: a pane opens only what the bot gave that person."""
    if message_id is None:
        button = fake.menu_buttons.get(f"chat:{user.id}") or fake.menu_buttons.get("default")
        if not button or button.get("type") != "web_app":
            raise LookupError("this chat has no Web App menu button")
        return str(button["web_app"]["url"])
    message = user.message(message_id)
    rows = (message.reply_markup or {}).get("inline_keyboard") or [] if message else []
    for row in rows:
        for button in row:
            if button.get("text") == text and isinstance(button.get("web_app"), dict):
                return str(button["web_app"]["url"])
    raise LookupError("no such Web App button")


def panes_json() -> list[Json]:
    return [
        {
            "key": p.key,
            "title": p.title,
            "chat_id": p.user_id,
            "name": p.name,
            "hint": p.hint,
        }
        for p in CAST
    ]


@dataclass
class _PaneState:
    versions: dict[str, int] = field(default_factory=dict)
    menu: list[Json] | None = None
    menu_button: Json | None = None
    answers_seen: int = 0


class PaneWatcher:
    """One page connection's view of the panes: yields only what changed since last time."""

    def __init__(self, fake: FakeBotAPI, bot_username: str) -> None:
        self.fake = fake
        self.bot_username = bot_username
        self._panes: dict[int, _PaneState] = {}
        self._skip_old_toasts()

    def _skip_old_toasts(self) -> None:
        """A toast is a moment's answer to a tap: a page opened (or reloaded) later does not
        replay the ones it never saw. Messages, unlike toasts, are all sent again."""
        for person in CAST:
            user = self.fake.users.get(person.user_id)
            seen = len(user.callback_answers) if user is not None else 0
            self._panes[person.user_id] = _PaneState(answers_seen=seen)

    def forget(self) -> None:
        """After a reset: everything is new again."""
        self._panes.clear()

    def changes(self) -> list[Json]:
        """One entry per pane that changed: new/edited items, removed keys, menu, toasts."""
        out: list[Json] = []
        for person in CAST:
            change = self._pane_change(person)
            if change is not None:
                out.append(change)
        return out

    def _pane_change(self, person: Person) -> Json | None:
        state = self._panes.setdefault(person.user_id, _PaneState())
        user = self.fake.users.get(person.user_id)
        current = pane_items(self.fake, user) if user is not None else {}
        upserts: list[Json] = []
        for key, (version, source) in current.items():
            if state.versions.get(key) == version:
                continue
            if isinstance(source, SentMessage):
                upserts.append(bot_item(source, self.bot_username))
            else:
                upserts.append(person_item(source[0], source[1], self.bot_username))
            state.versions[key] = version
        removed = [key for key in state.versions if key not in current]
        for key in removed:
            del state.versions[key]
        menu = menu_of(self.fake, person.user_id)
        menu_button = menu_button_of(self.fake, person.user_id)
        menu_changed = menu != state.menu or menu_button != state.menu_button
        state.menu, state.menu_button = menu, menu_button
        toasts: list[Json] = []
        answers = user.callback_answers if user is not None else []
        for answer in answers[state.answers_seen :]:
            if answer.get("text"):
                toasts.append({"text": answer["text"], "alert": bool(answer.get("show_alert"))})
        state.answers_seen = len(answers)
        if not (upserts or removed or menu_changed or toasts):
            return None
        change: Json = {"chat_id": person.user_id, "upserts": upserts, "removed": removed}
        if menu_changed:
            change["menu"] = menu
            change["menu_button"] = menu_button
        if toasts:
            change["toasts"] = toasts
        return change
