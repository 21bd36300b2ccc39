"""``reply_markup`` validation: the keyboard rules Telegram enforces, with its wordings.

Inline keyboards are where bots most often break in production — a 65-byte
``callback_data`` built from an id, a button with no action, a relative URL — and
Telegram refuses the *whole* message for it. Checking here makes such a bug fail
the test that sends the message instead of a patient's phone.
"""

from __future__ import annotations

from typing import Any

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError, bad_request
from sandbox.botapi.urls import check_url

INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MAX_BUTTONS = 100
CALLBACK_DATA_MAX_BYTES = 64
_BOOL_FIELDS = ("resize_keyboard", "one_time_keyboard", "is_persistent", "selective")
_INLINE_BUTTON = "can't parse inline keyboard button: "


def _present(value: Any) -> bool:
    """Telegram treats absent, null, empty string and ``false`` alike."""
    return value is not None and value != "" and value is not False


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request(_INLINE_BUTTON + "InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise bad_request(_INLINE_BUTTON + 'Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise bad_request(_INLINE_BUTTON + 'Field "text" must be of type String')
    if not button["text"].strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in INLINE_ACTIONS if _present(button.get(name))]
    if not actions:
        raise bad_request(_INLINE_BUTTON + "Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request(
            _INLINE_BUTTON + f"exactly one of the optional fields must be used, got {actions}"
        )
    action = actions[0]
    value = button[action]
    if action == "callback_data":
        if not isinstance(value, str):
            raise bad_request(_INLINE_BUTTON + 'Field "callback_data" must be of type String')
        if len(value.encode("utf-8")) > CALLBACK_DATA_MAX_BYTES:
            raise ApiError(400, errors.BUTTON_DATA_INVALID)
    elif action == "url":
        if not isinstance(value, str):
            raise bad_request(_INLINE_BUTTON + 'Field "url" must be of type String')
        problem = check_url(value)
        if problem:
            raise bad_request(f"inline keyboard button URL '{value}' is invalid: {problem}")
    elif action == "web_app":
        url = value.get("url") if isinstance(value, dict) else None
        problem = check_url(str(url or ""), https_only=True)
        if problem:
            raise bad_request(
                f"inline keyboard button Web App URL '{url or ''}' is invalid: {problem}"
            )
    elif action in ("pay", "callback_game"):
        raise bad_request("BUTTON_TYPE_INVALID")
    elif action == "copy_text":
        text = value.get("text") if isinstance(value, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= 256:
            raise bad_request("BUTTON_COPY_TEXT_INVALID")


def _rows(markup: dict[str, Any], key: str) -> list[list[Any]]:
    rows = markup[key]
    if not isinstance(rows, list):
        raise bad_request(f'field "{key}" must be of type Array')
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(f'field "{key}" must be an Array of Arrays of buttons')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    return rows


def _check_reply_keyboard(markup: dict[str, Any]) -> None:
    for row in _rows(markup, "keyboard"):
        for button in row:
            if isinstance(button, str):
                text: Any = button
            elif isinstance(button, dict):
                if "text" not in button:
                    raise bad_request("can't parse keyboard button: Can't find field \"text\"")
                text = button["text"]
                web_app = button.get("web_app")
                if isinstance(web_app, dict):
                    url = str(web_app.get("url") or "")
                    problem = check_url(url, https_only=True)
                    if problem:
                        raise bad_request(
                            f"keyboard button Web App URL '{url}' is invalid: {problem}"
                        )
            else:
                raise bad_request("can't parse keyboard button: KeyboardButton must be an Object")
            if not isinstance(text, str) or not text.strip():
                raise bad_request("keyboard button text is empty")
    for name in _BOOL_FIELDS:
        if name in markup and not isinstance(markup[name], bool):
            raise bad_request(f'field "{name}" must be of type Boolean')


def check_reply_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate ``reply_markup`` (already JSON-decoded); return it, or None if absent.

    ``inline_only`` is for edits, where only an inline keyboard is allowed.
    """
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        for row in _rows(markup, "inline_keyboard"):
            for button in row:
                _check_inline_button(button)
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        _check_reply_keyboard(markup)
        return markup
    for name in ("remove_keyboard", "force_reply"):
        if name in markup:
            if not isinstance(markup[name], bool):
                raise bad_request(f'field "{name}" must be of type Boolean')
            return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def check_web_app_chat(markup: dict[str, Any] | None, chat_id: int) -> None:
    """Web App buttons exist only in private chats: Telegram refuses a keyboard with one
    sent to (or edited in) a group with ``BUTTON_TYPE_INVALID``. A private chat's id is
    the person's (positive) user id; groups' ids are negative."""
    if markup is None or chat_id > 0:
        return
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    for row in rows:
        for button in row:
            if isinstance(button, dict) and _present(button.get("web_app")):
                raise bad_request("BUTTON_TYPE_INVALID")
