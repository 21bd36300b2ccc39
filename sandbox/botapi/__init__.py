"""A strict local Telegram Bot API server (``sandbox.botapi``).

Two users: the end-to-end tests (as ``tests.fakebot``, a re-export), and the sandbox
(``make run`` without a token), where it stands in for Telegram in the running program.

The real bot talks HTTP to it exactly as to ``api.telegram.org``::

    fake = FakeBotAPI()
    await fake.start()                       # http://127.0.0.1:<free port>
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    bot = Bot(fake.token, session=session)   # TELEGRAM_API_URL = fake.url

    alice = fake.user(1001, "Alice")
    await alice.send("/start")
    reply = await alice.wait_for(lambda m: "Welcome" in m.text)
    await alice.tap(reply, "Yes")
    assert fake.refused == []                # the bot made no call Telegram would refuse
    await fake.stop()

It is *strict*: whatever Telegram would refuse is refused with Telegram's status
code and description, so a bug fails a test instead of a patient's chat.

Public API
==========

``FakeBotAPI(*, token="123456:TEST-TOKEN", bot_id=123456, bot_username="careloop_test_bot",
enforce_rate_limits=False, global_per_second=30, per_chat_per_second=1.0, seed=0)``

* ``await start(port: int = 0) -> None`` / ``await stop() -> None`` (also ``async with``).
  ``stop()`` answers a waiting ``getUpdates`` with ``[]``.
* ``url: str`` — ``"http://127.0.0.1:PORT"``; ``token: str``.
* ``user(user_id, first_name="Test", *, last_name=None, username=None,
  language_code="en") -> SimUser`` — the same object on repeated calls.
* ``group(chat_id, title="Clinic alerts") -> SimChat`` — a group (negative id) the
  bot belongs to; sending there is always allowed.
* ``requests: list[RecordedRequest]`` — every call, answered or refused:
  ``method`` (canonical name), ``params`` (decoded; JSON fields as objects; uploads
  as ``{"file", "size", "content_type"}``), ``status``, ``description``,
  ``injected``, ``at`` (``time.monotonic()`` at arrival), ``result``, ``via``
  (``"http"`` or ``"webhook-reply"``). ``status == 0``: client left before an answer.
* ``refused -> list[RecordedRequest]`` — non-2xx answers that were *not* injected:
  the bot's mistakes. Tests assert it is empty.
* ``faults: Faults`` — ``rate_429``, ``retry_after``, ``rate_5xx`` (502 Bad Gateway),
  ``slow`` + ``slow_seconds`` (answer delayed *after* processing), ``only_methods``;
  deterministic per ``seed``; injected failures deliver nothing and are logged
  ``injected=True``. ``faults.reset()`` turns everything off.
* ``hold(method, *, times=1, where=None) -> Hold`` — the next ``times`` calls of
  ``method`` (``where(params)`` true) wait, not yet carried out, until
  ``hold.release()``; ``hold.held`` counts the calls that arrived. A client that goes
  away meanwhile (a killed bot) leaves the call undone (recorded with status 0): a
  request frozen in flight, to kill the bot in the middle of an update.
* ``enforce_rate_limits=True`` — more than ``global_per_second`` messages in any
  sliding second, or two messages to one chat closer than ``1/per_chat_per_second``
  s → 429 with an integer ``retry_after`` >= 1; nothing delivered; counted in
  ``refused``. Only message methods count (send*/edit*/copy*/forward*, not
  sendChatAction, getUpdates or answerCallbackQuery).
* ``sent_messages() -> list[SentMessage]`` — all the bot's messages, all chats, in order.
* ``commands: dict[str, list[dict]]`` — setMyCommands storage by canonical scope key:
  ``"default"``, ``"all_private_chats"``, ``"all_group_chats"``,
  ``"all_chat_administrators"``, ``"chat:<id>"``, ``"chat_administrators:<id>"``,
  ``"chat_member:<chat>:<user>"``; with a language code, ``"/<lang>"`` is appended
  (``"default/ru"``).
* ``menu_buttons: dict[str, dict]`` — setChatMenuButton by ``"default"`` / ``"chat:<id>"``.
* ``await wait_until(predicate, timeout=10.0) -> None`` — waits on an
  ``asyncio.Condition`` notified after every request, person action and webhook
  delivery; TimeoutError describes recent traffic. No polling sleeps.
* ``clear()`` — forget people, messages, files, menus and requests (sandbox Reset).
* Also: ``updates`` (``pending``, ``dropped`` — updates of types outside the bot's
  ``allowed_updates`` are never created, as in Telegram —, ``allowed_updates``),
  ``webhook`` (``url``, ``deliveries``, ``last_error_message``, ``max_backoff``),
  ``webhook_attempts`` (3; set it high for an outage: Telegram goes on redelivering),
  ``files`` (file_id → StoredFile), ``callbacks``, ``chat_actions``,
  ``find_message(chat_id, message_id)``, ``diagnostics()``.

``SimUser`` (a person; private chat id == user id): ``id``, ``first_name``,
``language_code``, ``inbox: list[SentMessage]`` (the bot's live messages here,
current state), ``callback_answers: list[dict]`` (``text``, ``show_alert``, ``url``,
``cache_time``), ``started``, ``blocked`` (set True → every send here gets 403 "bot
was blocked by the user"; the bot also receives ``my_chat_member``), and

* ``await send(text) -> int`` (update_id; a leading /command gets a ``bot_command``
  entity; starts the chat), ``await start(payload=None) -> int``,
* ``await tap(message, button) -> str`` (callback query id; exact button text in the
  message's *current* keyboard, else LookupError), ``await tap_data(message_id, data,
  *, chat_id=None) -> str`` (forged data),
* ``await send_sticker(emoji="👍")``, ``await send_photo(data=None, caption=None)``,
  ``await send_location(latitude, longitude)``, ``await send_contact(phone, *,
  first_name=None, own=True)``, ``await edit(message_id, text)`` (edited_message),
* ``await wait_for(predicate=None, *, timeout=10.0, after=None) -> SentMessage``,
  ``mark() -> int``, ``last() -> SentMessage``, ``message(message_id)``.

``SimChat`` (group): ``id``, ``title``, ``inbox``, ``wait_for``/``mark``/``last``, and
``await send(user, text)`` for a member writing in the group.

``wait_for`` semantics: returns the first message, in order of change, with
``seq > after`` that satisfies ``predicate``; an edit gives a message a new ``seq``,
so edits count as new. ``after=None`` means the conversation's cursor: the later of
the last time a person acted in this chat and the last message ``wait_for``
returned here. So "act, then ``wait_for()``" gets the reaction to that act, and
successive ``wait_for()`` calls read the bot's messages in order. ``after=mark()``
means "from now on"; ``after=0`` searches the whole history.

``SentMessage``: ``message_id``, ``chat_id``, ``text`` (visible plain text; the caption
for media), ``html`` (raw as sent), ``parse_mode``, ``reply_markup``, ``photo``,
``document``, ``filename``, ``caption``, ``edits``, ``seq``, ``kind``, ``entities``,
``deleted``, and ``buttons() -> list[list[str]]``, ``button(text) -> dict``,
``button_data(text) -> str``.

Methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo, sendMessage,
sendPhoto, sendDocument, sendVideo, sendAnimation, getFile (+ ``GET /file/bot<token>/<file_path>``),
editMessageText, editMessageReplyMarkup, editMessageCaption, deleteMessage,
answerCallbackQuery, sendChatAction, setMyCommands, getMyCommands,
deleteMyCommands, setChatMenuButton, getChatMenuButton, close, logOut. Any other
method → 404 "Not Found"; a wrong token → 401 "Unauthorized".

An instance belongs to one event loop (its condition binds to the loop that first
waits on it): create it inside the test or a function-scoped async fixture.

Known differences from Telegram: the HTML check is stricter (see
:mod:`sandbox.botapi.html_check`); MarkdownV2/Markdown text is accepted unvalidated;
URLs are never fetched (a photo by URL → 400 "wrong file identifier/HTTP URL
specified"); no inline mode, channels, media groups, forwarding or copying;
webhooks may be plain HTTP on loopback addresses only.
"""

from sandbox.botapi.faults import Faults, RateLimiter
from sandbox.botapi.models import RecordedRequest, SentMessage, StoredFile
from sandbox.botapi.people import SimChat, SimUser
from sandbox.botapi.server import FakeBotAPI

__all__ = [
    "FakeBotAPI",
    "Faults",
    "RateLimiter",
    "RecordedRequest",
    "SentMessage",
    "SimChat",
    "SimUser",
    "StoredFile",
]
