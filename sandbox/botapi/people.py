"""Simulated people and chats: what a test drives instead of a phone.

A :class:`SimUser` is a person in a private chat with the bot (chat id == user id);
a :class:`SimChat` is a group the bot is a member of. Both keep an ``inbox`` of the
bot's messages in their current state and offer :meth:`wait_for` to wait — without
sleeping — for the bot's next message.

``wait_for`` semantics (the same for users and groups): it returns the first
message, in order of change, whose ``seq`` is greater than ``after`` and that
satisfies ``predicate``. A message counts again when it is edited (its ``seq``
becomes that of the edit). When ``after`` is None the conversation's *cursor* is
used: the larger of (a) the sequence number when a person last acted in this chat
(``send``/``start``/``tap``/...) and (b) the ``seq`` of the last message
``wait_for`` returned here. So ``await alice.send("/start"); await
alice.wait_for()`` returns the reply to that ``/start`` — never an older message —
and repeated ``wait_for()`` calls read the bot's messages one after another.
``mark()`` returns the current global sequence number to pass as ``after`` for
anything that happens from now on; ``after=0`` searches the whole history.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.botapi.media import tiny_png
from sandbox.botapi.models import SentMessage

if TYPE_CHECKING:
    from sandbox.botapi.server import FakeBotAPI

# A 1x1 lossless WebP: enough for a bot that downloads a sticker to get real bytes.
_STICKER_BYTES = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
    b"/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)


def _short(msg: SentMessage) -> str:
    text = msg.text.replace("\n", " ")
    text = text if len(text) <= 70 else text[:67] + "..."
    buttons = f" buttons={msg.buttons()}" if msg.reply_markup else ""
    return f"#{msg.message_id} seq={msg.seq} edits={msg.edits} {text!r}{buttons}"


class _Conversation:
    """What private chats and groups share: message ids, inbox, cursor, waiting."""

    def __init__(self, api: FakeBotAPI, chat_id: int) -> None:
        self._api = api
        self.id = chat_id
        self.inbox: list[SentMessage] = []
        self.posted: dict[int, dict[str, Any]] = {}
        self._next_message_id = 1
        self._cursor = 0

    def chat_json(self) -> dict[str, Any]:
        """The ``Chat`` object of this conversation."""
        raise NotImplementedError

    def next_message_id(self) -> int:
        """Message ids are per chat and shared by everyone writing in it, as in Telegram."""
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def mark(self) -> int:
        """The current global sequence number; pass it as ``after`` to ``wait_for``."""
        return self._api.seq

    def message(self, message_id: int) -> SentMessage | None:
        """The bot's message with that id in this chat (None if absent or deleted)."""
        for msg in self.inbox:
            if msg.message_id == message_id:
                return msg
        return None

    def last(self) -> SentMessage:
        """The bot's most recently changed message here (AssertionError if none)."""
        if not self.inbox:
            raise AssertionError(f"the bot has sent nothing (visible) to chat {self.id}")
        return max(self.inbox, key=lambda m: m.seq)

    def _find(
        self, predicate: Callable[[SentMessage], bool] | None, after: int
    ) -> SentMessage | None:
        for msg in sorted(self.inbox, key=lambda m: m.seq):
            if msg.seq > after and (predicate is None or predicate(msg)):
                return msg
        return None

    async def wait_for(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - the public API the tests use
        after: int | None = None,
    ) -> SentMessage:
        """Wait for the bot's next matching message here (see the module docstring)."""
        floor = self._cursor if after is None else after
        found: list[SentMessage] = []

        def ready() -> bool:
            hit = self._find(predicate, floor)
            if hit is not None:
                found.append(hit)
            return hit is not None

        try:
            await self._api.wait_until(ready, timeout=timeout)
        except TimeoutError:
            recent = "\n  ".join(_short(m) for m in sorted(self.inbox, key=lambda m: m.seq)[-6:])
            raise TimeoutError(
                f"chat {self.id}: no message with seq > {floor} matching "
                f"{getattr(predicate, '__name__', predicate)!r} within {timeout}s.\n"
                f"Recent messages here:\n  {recent or '(none)'}\n"
                f"{self._api.diagnostics()}"
            ) from None
        msg = found[-1]
        self._cursor = max(self._cursor, msg.seq)
        return msg

    def _acted(self) -> None:
        """A person acted here: later ``wait_for()`` calls look only at what follows."""
        self._cursor = max(self._cursor, self._api.seq)

    def _message_json(self, sender: SimUser, content: dict[str, Any]) -> dict[str, Any]:
        message_id = self.next_message_id()
        message = {
            "message_id": message_id,
            "from": sender.user_json(),
            "chat": self.chat_json(),
            "date": int(time.time()),
            **content,
        }
        self.posted[message_id] = message
        return message

    async def _post(self, sender: SimUser, content: dict[str, Any]) -> int:
        message = self._message_json(sender, content)
        self._acted()
        return await self._api.queue_update("message", message)


_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,32})?(?=\s|$)")


def _text_content(text: str) -> dict[str, Any]:
    """A typed text, with the ``bot_command`` entity Telegram adds for a leading /command."""
    content: dict[str, Any] = {"text": text}
    match = _COMMAND.match(text)
    if match:
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
    return content


class SimUser(_Conversation):
    """A person in a private chat with the bot. Get one with ``fake.user(id)``."""

    def __init__(
        self,
        api: FakeBotAPI,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> None:
        super().__init__(api, user_id)
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.started = False
        self.callback_answers: list[dict[str, Any]] = []
        self._blocked = False

    def __repr__(self) -> str:
        return f"SimUser({self.id}, {self.first_name!r}, started={self.started})"

    def user_json(self) -> dict[str, Any]:
        """The ``User`` object Telegram sends for this person."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    @property
    def blocked(self) -> bool:
        """True while the person has blocked the bot: every send here gets a 403."""
        return self._blocked

    @blocked.setter
    def blocked(self, value: bool) -> None:
        if value == self._blocked:
            return
        self._blocked = value
        if self.started:
            # Telegram tells the bot with a my_chat_member update (kicked <-> member).
            old, new = ("member", "kicked") if value else ("kicked", "member")
            self._api.queue_update_nowait(
                "my_chat_member",
                {
                    "chat": self.chat_json(),
                    "from": self.user_json(),
                    "date": int(time.time()),
                    "old_chat_member": {"status": old, "user": self._api.bot_user_json()},
                    "new_chat_member": {
                        "status": new,
                        "user": self._api.bot_user_json(),
                        **({"until_date": 0} if value else {}),
                    },
                },
            )

    async def _say(self, content: dict[str, Any]) -> int:
        if self._blocked:
            self.blocked = False  # writing to a bot you blocked means pressing "Restart"
        self.started = True
        return await self._post(self, content)

    async def send(self, text: str) -> int:
        """The person types ``text``; returns the update_id. Starts the chat."""
        return await self._say(_text_content(text))

    async def start(self, payload: str | None = None) -> int:
        """``/start``, or ``/start <payload>`` as a ``t.me/<bot>?start=<payload>`` link sends."""
        return await self.send("/start" if payload is None else f"/start {payload}")

    async def send_sticker(self, emoji: str = "👍") -> int:
        """A sticker message."""
        stored = self._api.store_file("sticker", _STICKER_BYTES, mime_type="image/webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(_STICKER_BYTES),
        }
        return await self._say({"sticker": sticker})

    async def send_photo(self, data: bytes | None = None, caption: str | None = None) -> int:
        """A photo message (a small valid PNG unless ``data`` is given)."""
        sizes = self._api.store_photo(data if data is not None else tiny_png())
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return await self._say(content)

    async def send_clip(
        self, kind: str = "video", data: bytes = b"\x00\x00\x00\x18ftypmp42", caption: str = ""
    ) -> int:
        """A short video (``kind="video"``) or a GIF (``kind="animation"``: Telegram sends
        it as both ``animation`` and ``document``), with an optional caption."""
        mime = "video/mp4" if kind == "video" else "image/gif"
        stored = self._api.store_file(kind, data, mime_type=mime)
        clip = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 320,
            "height": 240,
            "duration": 3,
            "mime_type": mime,
            "file_size": len(data),
        }
        content: dict[str, Any] = {kind: clip}
        if kind == "animation":
            content["document"] = {k: clip[k] for k in ("file_id", "file_unique_id", "mime_type")}
        if caption:
            content["caption"] = caption
        return await self._say(content)

    async def send_voice(self, data: bytes = b"OggS\x00fake-voice", duration: int = 3) -> int:
        """A voice note (the bytes are kept as a file; nobody plays them here)."""
        stored = self._api.store_file("voice", data, mime_type="audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return await self._say({"voice": voice})

    async def send_location(self, latitude: float, longitude: float) -> int:
        """A location message."""
        return await self._say({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_contact(
        self, phone: str, *, first_name: str | None = None, own: bool = True
    ) -> int:
        """A contact message; ``own=True`` is the person sharing their own number."""
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or self.first_name,
        }
        if own:
            contact["user_id"] = self.id
        return await self._say({"contact": contact})

    async def edit(self, message_id: int, text: str) -> int:
        """The person edits a message they wrote earlier here → ``edited_message``."""
        original = self.posted.get(message_id)
        if original is None:
            raise LookupError(f"{self!r} wrote no message {message_id}")
        content = _text_content(text)
        edited = {**original, **content, "edit_date": int(time.time())}
        if "entities" not in content:
            edited.pop("entities", None)
        self.posted[message_id] = edited
        self._acted()
        return await self._api.queue_update("edited_message", edited)

    async def tap(self, message: SentMessage, button: str) -> str:
        """Press the inline button labelled exactly ``button``; returns the query id.

        Looks at the message's *current* keyboard (a keyboard the bot removed or
        replaced cannot be pressed), refuses URL buttons and deleted messages.
        """
        if message.deleted:
            raise LookupError(f"message {message.message_id} was deleted; nothing to tap")
        if message.chat_id != self.id and message.chat_id not in self._api.groups:
            raise PermissionError(f"{self!r} cannot see message in chat {message.chat_id}")
        found = message.button(button)
        data = found.get("callback_data")
        if not isinstance(data, str):
            raise ValueError(f"button {button!r} is not a callback button: {found}")
        return await self._callback(message.chat_id, message.message_id, data)

    async def tap_data(self, message_id: int, data: str, *, chat_id: int | None = None) -> str:
        """Send any callback data for any message id (forged, as a hostile client could)."""
        return await self._callback(self.id if chat_id is None else chat_id, message_id, data)

    async def _callback(self, chat_id: int, message_id: int, data: str) -> str:
        record = self._api.new_callback(self.id, chat_id, message_id, data)
        msg = self._api.find_message(chat_id, message_id)
        conversation = self._api.conversation(chat_id)
        chat = conversation.chat_json() if conversation else {"id": chat_id, "type": "private"}
        message = (
            self._api.message_json(msg)
            if msg is not None
            else {"chat": chat, "message_id": message_id, "date": 0}
        )
        if conversation is not None:
            conversation._acted()
        await self._api.queue_update(
            "callback_query",
            {
                "id": record.id,
                "from": self.user_json(),
                "message": message,
                "chat_instance": str(abs(chat_id) * 7919 % 10**12),
                "data": data,
            },
        )
        return record.id


class SimChat(_Conversation):
    """A group the bot belongs to (negative id), e.g. the clinic's alert group."""

    def __init__(self, api: FakeBotAPI, chat_id: int, title: str) -> None:
        if chat_id >= 0:
            raise ValueError(f"group ids are negative, got {chat_id}")
        super().__init__(api, chat_id)
        self.title = title

    def __repr__(self) -> str:
        return f"SimChat({self.id}, {self.title!r})"

    def chat_json(self) -> dict[str, Any]:
        kind = "supergroup" if str(self.id).startswith("-100") and self.id < -(10**12) else "group"
        return {"id": self.id, "type": kind, "title": self.title}

    async def send(self, user: SimUser, text: str) -> int:
        """``user`` writes ``text`` in the group; returns the update_id."""
        return await self._post(user, _text_content(text))
