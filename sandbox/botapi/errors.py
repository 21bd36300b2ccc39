"""The one exception the fake raises to refuse a call, and the real Telegram wordings.

Every refusal goes through :class:`ApiError` so the HTTP layer can turn it into the
exact Telegram shape (``{"ok": false, "error_code": N, "description": ...}``). The
descriptions live here as constants because tests and the bot's own error handling
match on their text: keeping them in one place keeps them identical to Telegram's.
"""

from __future__ import annotations

from typing import Any

CHAT_NOT_FOUND = "Bad Request: chat not found"
CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
BLOCKED = "Forbidden: bot was blocked by the user"
TEXT_EMPTY = "Bad Request: message text is empty"
TEXT_NON_EMPTY = "Bad Request: text must be non-empty"
TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
PARSE_ENTITIES = "Bad Request: can't parse entities: "
UNSUPPORTED_PARSE_MODE = "Bad Request: unsupported parse_mode"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
NO_CAPTION_TO_EDIT = "Bad Request: there is no caption in the message to edit"
CANT_BE_EDITED = "Bad Request: message can't be edited"
MESSAGE_ID_INVALID = "Bad Request: MESSAGE_ID_INVALID"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
COPY_NOT_FOUND = "Bad Request: message to copy not found"
CANT_BE_COPIED = "Bad Request: message can't be copied"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CALLBACK_TEXT_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Not Found"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
IMAGE_PROCESS_FAILED = "Bad Request: IMAGE_PROCESS_FAILED"
PHOTO_INVALID_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
INVALID_FILE_ID = "Bad Request: invalid file_id"
FILE_EMPTY = "Bad Request: file must be non-empty"
BAD_GATEWAY = "Bad Gateway"
ENTITY_TOO_LARGE = "Request Entity Too Large"


def retry_after_text(seconds: int) -> str:
    """Telegram's flood-wait description, e.g. ``Too Many Requests: retry after 3``."""
    return f"Too Many Requests: retry after {seconds}"


class ApiError(Exception):
    """A refusal in Telegram's terms: the HTTP status doubles as ``error_code``."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this refusal."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(description: str) -> ApiError:
    """A 400; ``description`` may omit the ``Bad Request:`` prefix."""
    if not description.startswith("Bad Request: "):
        description = "Bad Request: " + description
    return ApiError(400, description)


def too_many_requests(seconds: int) -> ApiError:
    """A 429 flood wait carrying ``parameters.retry_after`` like Telegram's."""
    return ApiError(429, retry_after_text(seconds), retry_after=seconds)
