"""Bot API methods that put, change or remove messages, and callback answers.

Each handler validates like Telegram (text, markup, chat, target message) and only
then changes state, so a refused call never leaves a half-delivered message. Every
message creation or edit takes a new global sequence number (``SentMessage.seq``),
which is what ``wait_for`` keys on.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError, bad_request
from sandbox.botapi.markup import check_reply_markup, check_web_app_chat
from sandbox.botapi.models import SentMessage, UploadedFile
from sandbox.botapi.texts import FormattedText, format_body

if TYPE_CHECKING:
    from sandbox.botapi.params import Params
    from sandbox.botapi.people import _Conversation
    from sandbox.botapi.server import FakeBotAPI

Handler = Callable[["FakeBotAPI", "Params"], Awaitable[Any]]

CALLBACK_TEXT_LIMIT = 200
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip


def _inline(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The inline keyboard part that edits compare; an empty keyboard equals none."""
    if not markup or not markup.get("inline_keyboard"):
        return None
    return markup


def _reply_to(conversation: _Conversation, p: Params) -> int | None:
    """Resolve ``reply_parameters`` / ``reply_to_message_id`` like Telegram."""
    params = p.get("reply_parameters")
    allow_missing = p.flag("allow_sending_without_reply")
    if isinstance(params, dict):
        if "message_id" not in params:
            raise bad_request('can\'t find field "message_id"')
        target = params["message_id"]
        allow_missing = bool(params.get("allow_sending_without_reply", allow_missing))
    else:
        target = p.integer("reply_to_message_id")
    if target is None:
        return None
    target = int(target)
    if conversation.message(target) is None and target not in conversation.posted:
        if allow_missing:
            return None
        raise bad_request("message to be replied not found")
    return target


def _new_message(
    api: FakeBotAPI,
    conversation: _Conversation,
    body: FormattedText,
    markup: dict[str, Any] | None,
    p: Params,
    *,
    kind: str = "text",
) -> SentMessage:
    check_web_app_chat(markup, conversation.id)
    reply_to = _reply_to(conversation, p)
    msg = SentMessage(
        message_id=conversation.next_message_id(),
        chat_id=conversation.id,
        text=body.text,
        html=body.raw,
        parse_mode=body.parse_mode,
        reply_markup=markup,
        seq=api.next_seq(),
        kind=kind,
        entities=body.entities,
        caption=body.text if kind != "text" else None,
        date=int(time.time()),
        reply_to_message_id=reply_to,
    )
    api.add_message(conversation, msg)
    return msg


async def send_message(api: FakeBotAPI, p: Params) -> Any:
    """sendMessage."""
    body = format_body(p.string("text"), p.string("parse_mode"), p.get("entities"))
    markup = check_reply_markup(p.get("reply_markup"))
    conversation = api.resolve_chat(p)
    msg = _new_message(api, conversation, body, markup, p)
    return api.message_json(msg)


def _caption(p: Params) -> FormattedText:
    return format_body(
        p.string("caption"), p.string("parse_mode"), p.get("caption_entities"), caption=True
    )


def _existing_file(api: FakeBotAPI, file_id: str, kind: str) -> Any:
    if file_id.startswith(("http://", "https://")):
        # The fake never fetches the internet; Telegram says this for unreachable URLs.
        raise ApiError(400, errors.WRONG_FILE_ID)
    stored = api.files.get(file_id)
    if stored is None:
        raise ApiError(400, errors.WRONG_FILE_ID)
    if stored.kind != kind:
        raise bad_request("type of file to send mismatch")
    return stored


async def send_photo(api: FakeBotAPI, p: Params) -> Any:
    """sendPhoto: an upload must be a real PNG/JPEG, a string must be a known file_id."""
    body = _caption(p)
    markup = check_reply_markup(p.get("reply_markup"))
    conversation = api.resolve_chat(p)
    photo = p.file("photo")
    if photo is None:
        raise bad_request("there is no photo in the request")
    if isinstance(photo, UploadedFile):
        sizes = api.store_photo(photo.data)
        data = photo.data
    else:
        stored = _existing_file(api, photo, "photo")
        sizes, data = api.photo_sets[stored.file_id], stored.data
    msg = _new_message(api, conversation, body, markup, p, kind="photo")
    msg.photo, msg.attachment, msg.file_id = data, sizes, sizes[-1]["file_id"]
    return api.message_json(msg)


async def send_document(api: FakeBotAPI, p: Params) -> Any:
    """sendDocument: any non-empty upload, or a known document file_id."""
    body = _caption(p)
    markup = check_reply_markup(p.get("reply_markup"))
    conversation = api.resolve_chat(p)
    document = p.file("document")
    if document is None:
        raise bad_request("there is no document in the request")
    if isinstance(document, UploadedFile):
        if not document.data:
            raise ApiError(400, errors.FILE_EMPTY)
        filename = document.filename or "document"
        mime = (
            document.content_type
            if document.content_type and document.content_type != "application/octet-stream"
            else mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        stored = api.store_file("document", document.data, filename=filename, mime_type=mime)
    else:
        stored = _existing_file(api, document, "document")
    attachment = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": stored.filename,
        "mime_type": stored.mime_type,
        "file_size": len(stored.data),
    }
    msg = _new_message(api, conversation, body, markup, p, kind="document")
    msg.document, msg.filename, msg.attachment = stored.data, stored.filename, attachment
    msg.file_id = stored.file_id
    return api.message_json(msg)


async def _send_clip(api: FakeBotAPI, p: Params, kind: str) -> Any:
    """sendVideo / sendAnimation: a non-empty upload, or a known file_id of the same kind
    (Telegram refuses a photo's file_id here: "type of file to send mismatch")."""
    body = _caption(p)
    markup = check_reply_markup(p.get("reply_markup"))
    conversation = api.resolve_chat(p)
    given = p.file(kind)
    if given is None:
        raise bad_request(f"there is no {kind} in the request")
    if isinstance(given, UploadedFile):
        if not given.data:
            raise ApiError(400, errors.FILE_EMPTY)
        mime = "video/mp4" if kind == "video" else "image/gif"
        stored = api.store_file(kind, given.data, filename=given.filename, mime_type=mime)
    else:
        stored = _existing_file(api, given, kind)
    attachment = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "mime_type": stored.mime_type,
        "file_size": len(stored.data),
        "duration": 3,
        "width": 320,
        "height": 240,
    }
    msg = _new_message(api, conversation, body, markup, p, kind=kind)
    msg.attachment, msg.file_id = attachment, stored.file_id
    return api.message_json(msg)


async def send_video(api: FakeBotAPI, p: Params) -> Any:
    return await _send_clip(api, p, "video")


async def send_animation(api: FakeBotAPI, p: Params) -> Any:
    return await _send_clip(api, p, "animation")


def _target(api: FakeBotAPI, p: Params) -> SentMessage:
    """The message an edit addresses, refused like Telegram when it cannot be edited."""
    if "inline_message_id" in p:
        raise ApiError(400, errors.MESSAGE_ID_INVALID)  # the fake has no inline mode
    conversation = api.resolve_chat(p)
    message_id = p.integer("message_id", missing="message identifier is not specified")
    assert message_id is not None
    msg = conversation.message(message_id)
    if msg is None:
        if message_id in conversation.posted:
            raise ApiError(400, errors.CANT_BE_EDITED)
        raise ApiError(400, errors.EDIT_NOT_FOUND)
    return msg


def _apply_edit(
    api: FakeBotAPI, msg: SentMessage, body: FormattedText | None, markup: dict[str, Any] | None
) -> Any:
    check_web_app_chat(markup, msg.chat_id)
    if body is not None:
        msg.text, msg.html, msg.parse_mode, msg.entities = (
            body.text,
            body.raw,
            body.parse_mode,
            body.entities,
        )
        if msg.kind != "text":
            msg.caption = body.text or None
    msg.reply_markup = markup
    msg.edits += 1
    msg.edit_date = int(time.time())
    msg.seq = api.next_seq()
    return api.message_json(msg)


async def edit_message_text(api: FakeBotAPI, p: Params) -> Any:
    """editMessageText. Omitting reply_markup removes the inline keyboard, as in Telegram."""
    body = format_body(p.string("text"), p.string("parse_mode"), p.get("entities"))
    markup = _inline(check_reply_markup(p.get("reply_markup"), inline_only=True))
    msg = _target(api, p)
    if not msg.has_text:
        raise ApiError(400, errors.NO_TEXT_TO_EDIT)
    if body.same_content(msg.text, msg.entities) and markup == _inline(msg.reply_markup):
        raise ApiError(400, errors.NOT_MODIFIED)
    return _apply_edit(api, msg, body, markup)


async def edit_message_caption(api: FakeBotAPI, p: Params) -> Any:
    """editMessageCaption (photo/document messages only)."""
    body = _caption(p)
    markup = _inline(check_reply_markup(p.get("reply_markup"), inline_only=True))
    msg = _target(api, p)
    if msg.has_text:
        raise ApiError(400, errors.NO_CAPTION_TO_EDIT)
    if body.same_content(msg.text, msg.entities) and markup == _inline(msg.reply_markup):
        raise ApiError(400, errors.NOT_MODIFIED)
    return _apply_edit(api, msg, body, markup)


async def edit_message_reply_markup(api: FakeBotAPI, p: Params) -> Any:
    """editMessageReplyMarkup; no reply_markup means "remove the keyboard"."""
    markup = _inline(check_reply_markup(p.get("reply_markup"), inline_only=True))
    msg = _target(api, p)
    if markup == _inline(msg.reply_markup):
        raise ApiError(400, errors.NOT_MODIFIED)
    return _apply_edit(api, msg, None, markup)


async def delete_message(api: FakeBotAPI, p: Params) -> Any:
    """deleteMessage: the bot's own messages, or a person's in a private chat or group."""
    conversation = api.resolve_chat(p, for_sending=False)
    message_id = p.integer("message_id", missing="message identifier is not specified")
    assert message_id is not None
    msg = conversation.message(message_id)
    if msg is not None:
        msg.deleted = True
        conversation.inbox.remove(msg)
        return True
    if message_id in conversation.posted:
        del conversation.posted[message_id]
        return True
    raise ApiError(400, errors.DELETE_NOT_FOUND)


#: Message contents copyMessage reproduces (service messages, polls, dice … are refused).
COPYABLE = (
    "text", "photo", "voice", "video_note", "video", "document", "sticker", "audio",
    "animation",
)  # fmt: skip


async def copy_message(api: FakeBotAPI, p: Params) -> Any:
    """copyMessage: a message of chat ``from_chat_id`` (a person's or the bot's own) sent
    to ``chat_id`` as a new message of the bot, with no link to the original. Answers a
    ``MessageId`` only, as Telegram does. A ``caption`` parameter replaces the caption."""
    raw_source = p.get("from_chat_id")
    if raw_source is None or raw_source == "":
        raise bad_request("from_chat_id is empty")
    try:
        source = api.conversation(int(str(raw_source).strip()))
    except ValueError:
        source = None
    if source is None:
        raise ApiError(400, errors.CHAT_NOT_FOUND)
    message_id = p.integer("message_id", missing="message identifier is not specified")
    assert message_id is not None
    own = source.message(message_id)
    original = api.message_json(own) if own is not None else source.posted.get(message_id)
    if original is None:
        raise ApiError(400, errors.COPY_NOT_FOUND)
    kind = next((k for k in COPYABLE if k in original), None)
    if kind is None:
        raise ApiError(400, errors.CANT_BE_COPIED)
    markup = check_reply_markup(p.get("reply_markup"))
    target = api.resolve_chat(p)
    if kind == "text":
        body = format_body(original["text"], None, original.get("entities") or None)
    elif "caption" in p:
        body = _caption(p)
    else:
        body = format_body(
            original.get("caption"), None, original.get("caption_entities"), caption=True
        )
    msg = _new_message(api, target, body, markup, p, kind=kind)
    if kind != "text":
        msg.attachment = original[kind]
        first = original[kind][-1] if isinstance(original[kind], list) else original[kind]
        msg.file_id = first.get("file_id")
        stored = api.files.get(msg.file_id or "")
        if stored is not None and kind == "photo":
            msg.photo = stored.data
        elif stored is not None and kind == "document":
            msg.document, msg.filename = stored.data, stored.filename
    return {"message_id": msg.message_id}


async def answer_callback_query(api: FakeBotAPI, p: Params) -> Any:
    """answerCallbackQuery: once per query, text up to 200 characters."""
    record = api.callbacks.get(p.string("callback_query_id") or "")
    if record is None or record.answered:
        raise ApiError(400, errors.QUERY_TOO_OLD)
    text = p.string("text")
    if text is not None and len(text) > CALLBACK_TEXT_LIMIT:
        raise ApiError(400, errors.CALLBACK_TEXT_TOO_LONG)
    record.answered = True
    record.answer = {
        "callback_query_id": record.id,
        "text": text,
        "show_alert": p.flag("show_alert"),
        "url": p.string("url"),
        "cache_time": p.integer("cache_time") or 0,
    }
    user = api.users.get(record.user_id)
    if user is not None:
        user.callback_answers.append(record.answer)
    return True


async def send_chat_action(api: FakeBotAPI, p: Params) -> Any:
    """sendChatAction ("typing" ...): same reachability rules as sending."""
    action = p.string("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    conversation = api.resolve_chat(p)
    api.chat_actions.append((conversation.id, action))
    return True


MESSAGING_METHODS: dict[str, Handler] = {
    "sendMessage": send_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "sendVideo": send_video,
    "sendAnimation": send_animation,
    "copyMessage": copy_message,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "answerCallbackQuery": answer_callback_query,
    "sendChatAction": send_chat_action,
}
