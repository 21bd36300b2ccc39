"""Plain records the fake keeps: the request log, sent messages, files, callback queries.

They are dataclasses on purpose: tests read them directly (``msg.text``,
``req.status``), and ``SentMessage`` is mutated in place when the bot edits it, so a
test holding a message always sees its current state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    """One Bot API call as the fake answered it.

    ``status`` is the HTTP status sent back (200 on success); ``0`` means the client
    went away before an answer existed (an abandoned long poll), which is neither a
    success nor a refusal. ``injected`` marks failures produced on purpose by
    :class:`~sandbox.botapi.faults.Faults`, so :attr:`FakeBotAPI.refused` can tell a
    test's chaos apart from a real mistake of the bot. ``at`` is ``time.monotonic()``
    when the request arrived.
    """

    method: str
    params: dict[str, Any]
    status: int
    description: str | None
    injected: bool
    at: float
    result: Any = None
    via: str = "http"

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter, if any (handy in assertions and filters)."""
        return self.params.get("chat_id")


@dataclass
class SentMessage:
    """A message the bot sent, in its current state (edits are applied in place).

    ``text`` is the visible plain text: the message text, or for a photo/document the
    caption (so predicates like ``"Done" in m.text`` work for every kind). ``html`` is
    the raw string exactly as the bot sent it (text or caption) and ``parse_mode`` the
    mode it was sent with. ``seq`` is the global sequence number of the latest change
    (creation or edit) — the basis of ``wait_for(after=...)``. ``edits`` counts edits.
    """

    message_id: int
    chat_id: int
    text: str
    html: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    seq: int
    kind: str = "text"
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo: bytes | None = None
    document: bytes | None = None
    filename: str | None = None
    caption: str | None = None
    file_id: str | None = None
    attachment: Any = None
    edits: int = 0
    deleted: bool = False
    date: int = 0
    edit_date: int | None = None
    reply_to_message_id: int | None = None

    def _rows(self) -> list[list[dict[str, Any]]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        out: list[list[dict[str, Any]]] = []
        for row in rows:
            out.append([b if isinstance(b, dict) else {"text": b} for b in row])
        return out

    def buttons(self) -> list[list[str]]:
        """Button texts row by row (inline keyboard, else reply keyboard; [] if none)."""
        return [[str(b.get("text", "")) for b in row] for row in self._rows()]

    def button(self, text: str) -> dict[str, Any]:
        """The button whose text is exactly ``text``; LookupError lists what exists."""
        for row in self._rows():
            for b in row:
                if b.get("text") == text:
                    return b
        raise LookupError(
            f"no button {text!r} in message {self.message_id} (chat {self.chat_id}); "
            f"buttons are {self.buttons()}"
        )

    def button_data(self, text: str) -> str:
        """The callback_data of the inline button labelled ``text``."""
        data = self.button(text).get("callback_data")
        if not isinstance(data, str):
            raise LookupError(f"button {text!r} of message {self.message_id} has no callback_data")
        return data

    @property
    def has_text(self) -> bool:
        """True for a text message (editMessageText applies), False for media."""
        return self.kind == "text"


@dataclass
class UploadedFile:
    """A file part of a multipart request, before it is stored."""

    data: bytes
    filename: str | None
    content_type: str | None

    def describe(self) -> dict[str, Any]:
        """How the upload appears in the request log (bytes are not logged)."""
        return {"file": self.filename, "size": len(self.data), "content_type": self.content_type}


@dataclass
class StoredFile:
    """A file the server knows by ``file_id`` (uploaded by the bot or sent by a user)."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    filename: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None

    def as_file(self) -> dict[str, Any]:
        """The ``File`` object getFile returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class CallbackRecord:
    """A callback query the fake created for a tap, to be answered exactly once."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False
    answer: dict[str, Any] | None = None
