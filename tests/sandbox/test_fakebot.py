"""The strict fake Bot API (tests/fakebot) through a real aiogram ``Bot``.

Each strictness rule is checked the way the project's end-to-end tests will meet
it: aiogram talks HTTP to the fake and must raise the matching exception type with
Telegram's own description. No test sleeps to wait: waiting goes through the
fake's condition (``wait_for`` / ``wait_until``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    MenuButtonDefault,
    MenuButtonWebApp,
    Message,
    WebAppInfo,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from sandbox.botapi.html_check import HtmlError, parse_html
from sandbox.botapi.media import tiny_png
from tests.fakebot import FakeBotAPI, SimUser

PNG = tiny_png(8, 6)


class FastSession(AiohttpSession):
    """aiogram's session without the 250 ms grace sleep on close (keeps tests fast)."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(fake: FakeBotAPI, token: str | None = None, *, base: str | None = None) -> Bot:
    api = (
        TelegramAPIServer(base=base, file=f"{fake.url}/file/bot{{token}}/{{path}}")
        if base
        else TelegramAPIServer.from_base(fake.url)
    )
    return Bot(
        token or fake.token,
        session=FastSession(api=api),
        default=DefaultBotProperties(parse_mode="HTML"),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    b = make_bot(fake)
    yield b
    await b.session.close()


@pytest.fixture
async def alice(fake: FakeBotAPI) -> SimUser:
    """A patient who has already written to the bot (so the bot may message her)."""
    user = fake.user(1001, "Alice", username="alice")
    await user.start()
    return user


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free local port; yields its base URL (a webhook target)."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def kb(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(buttons)])


def cb(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


# --------------------------------------------------------------------- basics


async def test_get_me_and_url(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id
    assert me.username == "careloop_test_bot"
    assert me.is_bot
    assert fake.url.startswith("http://127.0.0.1:")
    assert [r.method for r in fake.requests] == ["getMe"]
    assert fake.refused == []


async def test_wrong_token_is_401(fake: FakeBotAPI) -> None:
    intruder = make_bot(fake, token="654321:WRONG-TOKEN")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert fake.refused[-1].status == 401


async def test_unknown_method_is_404(fake: FakeBotAPI) -> None:
    odd = make_bot(fake, base=f"{fake.url}/bot{{token}}/noSuch{{method}}")
    try:
        with pytest.raises(TelegramNotFound, match="Not Found"):
            await odd.get_me()
    finally:
        await odd.session.close()
    assert fake.refused[-1].method == "noSuchgetMe"


async def test_plain_http_clients_get_telegram_shaped_answers(
    fake: FakeBotAPI, alice: SimUser
) -> None:
    base = f"{fake.url}/bot{fake.token}"
    markup = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/sendMessage",
            json={"chat_id": alice.id, "text": "json", "reply_markup": markup},
        ) as resp:
            body = await resp.json()
            assert resp.status == 200
            assert body["ok"] is True and body["result"]["text"] == "json"
        async with http.post(
            f"{base}/sendMessage",
            data={"chat_id": str(alice.id), "text": "<b>x", "parse_mode": "HTML"},
        ) as resp:
            assert resp.status == 400
            assert await resp.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: can't parse entities: Can't find end tag "
                'corresponding to start tag "b"',
            }
        async with http.post(f"{base}/sendMessage", data={"text": "x"}) as resp:
            assert (await resp.json())["description"] == "Bad Request: chat_id is empty"
        async with http.get(f"{fake.url}/elsewhere") as resp:
            assert resp.status == 404
    first = fake.requests[0]
    assert first.params["reply_markup"] == markup  # JSON fields are decoded in the log
    assert alice.last().buttons() == [["OK"]]


# ----------------------------------------------------------------- reachability


async def test_user_who_never_wrote_cannot_be_messaged(fake: FakeBotAPI, bot: Bot) -> None:
    fake.user(2002, "Bob")
    with pytest.raises(TelegramForbiddenError) as exc:
        await bot.send_message(2002, "Hello Bob")
    assert exc.value.message == "Forbidden: bot can't initiate conversation with a user"
    assert fake.user(2002).inbox == []


async def test_unknown_chat_is_not_found(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(987654, "anyone?")
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message("@nobody", "anyone?")


async def test_blocked_user_gets_403_and_bot_is_told(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    alice.blocked = True
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "Reminder")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_chat_action(alice.id, "typing")
    kinds = [next(k for k in u if k != "update_id") for u in fake.updates.pending]
    assert kinds == ["message", "my_chat_member"]
    assert fake.updates.pending[-1]["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    await alice.send("/start")  # writing again means "Restart": unblocks
    assert not alice.blocked
    await bot.send_message(alice.id, "Welcome back")


async def test_group_messages_and_group_taps(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    alerts = fake.group(-1001234567890)
    sent = await bot.send_message(
        alerts.id, "🚨 Alice reports pain 8/10", reply_markup=kb(cb("Ack", "ack:1"))
    )
    assert sent.chat.type == "supergroup"
    msg = await alerts.wait_for(after=0)
    query_id = await alice.tap(msg, "Ack")
    updates = await bot.get_updates(offset=-1)
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.message is not None
    assert updates[0].callback_query.message.chat.id == alerts.id
    assert await bot.answer_callback_query(query_id, text="Acknowledged")
    assert alice.callback_answers[-1]["text"] == "Acknowledged"


# ------------------------------------------------------------------------ HTML


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("Hello<foo>bar</foo>", 'Unsupported start tag "foo" at byte offset 5'),
        ("line<br>next", 'Unsupported start tag "br" at byte offset 4'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        (
            "<b><i>test</b></i>",
            'Unmatched end tag at byte offset 10, expected "</i>", found "</b>"',
        ),
        ("pain < 5", 'Unsupported start tag "" at byte offset 5'),
        ("ends with <", "Unclosed start tag at byte offset 10"),
        ("oops</b>", "Unexpected end tag at byte offset 4"),
        ("Tom & Jerry", 'Character "&" at byte offset 4 does not start an HTML entity'),
        ("&nbsp;", 'Character "&" at byte offset 0 does not start an HTML entity'),
        ("<a>link</a>", 'Tag "a" must have a non-empty attribute "href"'),
        (
            '<a href="/relative">x</a>',
            "URL '/relative' of the tag \"a\" at byte offset 0 is invalid",
        ),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        ("<b class>x</b>", 'Expected equal sign in declaration of an attribute of the tag "b"'),
    ],
)
async def test_bad_html_is_refused(
    bot: Bot, alice: SimUser, fake: FakeBotAPI, html: str, description: str
) -> None:
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(alice.id, html)
    assert exc.value.message.startswith("Bad Request: can't parse entities: ")
    assert description in exc.value.message
    assert alice.inbox == []
    assert fake.refused[-1].description == exc.value.message


async def test_good_html_is_parsed_into_text_and_entities(bot: Bot, alice: SimUser) -> None:
    html = (
        "<b>Bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins> <s>s</s> "
        "<strike>k</strike> <del>d</del> <a href='https://example.com/?a=1&b=2'>link</a> "
        '<code>c</code> <pre><code class="language-python">p</code></pre> '
        '<span class="tg-spoiler">sp</span> <tg-spoiler>t</tg-spoiler> '
        "<blockquote expandable>q</blockquote> "
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> '
        "&lt;5 &gt; &amp; &quot; &#65; &#x42; 😀 > x"
    )
    sent = await bot.send_message(alice.id, html)
    msg = alice.last()
    assert msg.html == html
    assert msg.text == sent.text
    assert msg.text.endswith('<5 > & " A B 😀 > x')
    kinds = {e["type"] for e in msg.entities}
    assert kinds >= {
        "bold", "italic", "underline", "strikethrough", "text_link", "code", "pre",
        "spoiler", "expandable_blockquote", "custom_emoji",
    }  # fmt: skip
    pre = next(e for e in msg.entities if e["type"] == "pre")
    assert pre["language"] == "python"
    link = next(e for e in msg.entities if e["type"] == "text_link")
    assert link["url"] == "https://example.com/?a=1&b=2"


def test_entity_offsets_are_utf16() -> None:
    parsed = parse_html("😀 <b>hi</b>")
    assert parsed.text == "😀 hi"
    assert parsed.entities == [{"type": "bold", "offset": 3, "length": 2}]
    with pytest.raises(HtmlError, match="byte offset 5"):
        parse_html("😀 <x>")  # the emoji is 4 UTF-8 bytes


async def test_text_length_rules(bot: Bot, alice: SimUser) -> None:
    await bot.send_message(alice.id, "x" * 4096)
    await bot.send_message(alice.id, "<b>" + "x" * 4096 + "</b>")  # markup is not counted
    await bot.send_message(alice.id, "😀" * 2048)  # 4096 UTF-16 units
    for too_long in ("x" * 4097, "😀" * 2049, "&amp;" * 4097):
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.send_message(alice.id, too_long)
        assert exc.value.message == "Bad Request: message is too long"
    with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
        await bot.send_message(alice.id, "")
    with pytest.raises(TelegramBadRequest, match="Bad Request: text must be non-empty"):
        await bot.send_message(alice.id, "  <b> </b> ")
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.send_message(alice.id, "x" * 4097, parse_mode=None)
    with pytest.raises(TelegramBadRequest, match="Bad Request: unsupported parse_mode"):
        await bot.send_message(alice.id, "x", parse_mode="BBCode")
    assert len(alice.inbox) == 3


async def test_caption_length(bot: Bot, alice: SimUser) -> None:
    photo = BufferedInputFile(PNG, "p.png")
    await bot.send_photo(alice.id, photo, caption="c" * 1024)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message caption is too long"):
        await bot.send_photo(alice.id, photo, caption="c" * 1025)


# ---------------------------------------------------------------- reply markup


@pytest.mark.parametrize(
    ("button", "description"),
    [
        (cb("Too long", "x" * 65), "Bad Request: BUTTON_DATA_INVALID"),
        (cb("Multibyte", "é" * 33), "Bad Request: BUTTON_DATA_INVALID"),
        (
            InlineKeyboardButton(text="No action"),
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            InlineKeyboardButton(text="Two", callback_data="a", url="https://example.com"),
            "exactly one of the optional fields must be used",
        ),
        (
            InlineKeyboardButton(text="FTP", url="ftp://example.com"),
            "Bad Request: inline keyboard button URL 'ftp://example.com' is invalid: "
            "Unsupported URL protocol",
        ),
        (
            InlineKeyboardButton(text="Rel", url="not-a-url"),
            "Bad Request: inline keyboard button URL 'not-a-url' is invalid: Wrong HTTP URL",
        ),
    ],
)
async def test_bad_inline_keyboards_are_refused(
    bot: Bot, alice: SimUser, button: InlineKeyboardButton, description: str
) -> None:
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(alice.id, "Pick one", reply_markup=kb(button))
    assert description in exc.value.message
    assert alice.inbox == []


async def test_good_keyboards_are_kept(bot: Bot, alice: SimUser) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [cb("64 bytes", "x" * 64), cb("é", "é" * 32)],
            [InlineKeyboardButton(text="Site", url="https://example.com/care")],
            [InlineKeyboardButton(text="Chat", url="tg://resolve?domain=clinic")],
        ]
    )
    sent = await bot.send_message(alice.id, "Options", reply_markup=markup)
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)
    msg = alice.last()
    assert msg.buttons() == [["64 bytes", "é"], ["Site"], ["Chat"]]
    assert msg.button_data("é") == "é" * 32


# ------------------------------------------------------------------------ edits


async def test_edit_rules(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    sent = await bot.send_message(alice.id, "<b>Day 1</b>", reply_markup=kb(cb("Done", "d")))
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_text(
            "<strong>Day 1</strong>",  # same visible content and entities
            chat_id=alice.id,
            message_id=sent.message_id,
            reply_markup=kb(cb("Done", "d")),
        )
    assert exc.value.message == (
        "Bad Request: message is not modified: specified new message content and reply "
        "markup are exactly the same as a current content and reply markup of the message"
    )
    # Same text, new keyboard: allowed.
    await bot.edit_message_text(
        "<b>Day 1</b>",
        chat_id=alice.id,
        message_id=sent.message_id,
        reply_markup=kb(cb("Undo", "u")),
    )
    msg = alice.last()
    assert msg.buttons() == [["Undo"]] and msg.edits == 1
    # Omitting reply_markup removes the keyboard, as Telegram does.
    await bot.edit_message_text("Day 1 ✅", chat_id=alice.id, message_id=sent.message_id)
    assert msg.reply_markup is None and msg.text == "Day 1 ✅" and msg.edits == 2
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=alice.id, message_id=sent.message_id, reply_markup=kb(cb("Again", "a"))
    )
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message can't be edited"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=1)  # Alice's /start
    photo = await bot.send_photo(alice.id, BufferedInputFile(PNG, "p.png"), caption="old")
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_text("x", chat_id=alice.id, message_id=photo.message_id)
    assert exc.value.message == "Bad Request: there is no text in the message to edit"
    await bot.edit_message_caption(chat_id=alice.id, message_id=photo.message_id, caption="new")
    assert alice.last().caption == "new"
    assert [r.status for r in fake.refused] == [400, 400, 400, 400, 400]


async def test_delete_message(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    sent = await bot.send_message(alice.id, "temporary")
    msg = alice.last()
    assert await bot.delete_message(alice.id, sent.message_id)
    assert msg.deleted and msg not in alice.inbox and msg in fake.sent_messages()
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("back", chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(LookupError, match="deleted"):
        await alice.tap(msg, "anything")


# -------------------------------------------------------------- callback queries


async def test_answer_callback_query_rules(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    await bot.send_message(alice.id, "Pain today?", reply_markup=kb(cb("Low", "pain:low")))
    query_id = await alice.tap(alice.last(), "Low")
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert exc.value.message == "Bad Request: MESSAGE_TOO_LONG"
    assert await bot.answer_callback_query(query_id, text="Noted", show_alert=True)
    assert alice.callback_answers == [
        {
            "callback_query_id": query_id,
            "text": "Noted",
            "show_alert": True,
            "url": None,
            "cache_time": 0,
        }
    ]
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.answer_callback_query(query_id)
    assert exc.value.message == too_old
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("12345")


async def test_tap_uses_the_current_keyboard(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    sent = await bot.send_message(alice.id, "Q", reply_markup=kb(cb("Yes", "y")))
    msg = alice.last()
    with pytest.raises(LookupError, match=r"no button 'No'.*\[\['Yes'\]\]"):
        await alice.tap(msg, "No")
    await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(LookupError, match="no button 'Yes'"):
        await alice.tap(msg, "Yes")
    forged = await alice.tap_data(sent.message_id, "admin:delete_all")
    update = fake.updates.pending[-1]["callback_query"]
    assert update["id"] == forged and update["data"] == "admin:delete_all"
    await alice.tap_data(4242, "ghost")
    assert fake.updates.pending[-1]["callback_query"]["message"]["date"] == 0


# ----------------------------------------------------------------------- faults


async def test_injected_429_is_not_delivered(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    fake.faults.rate_429 = 1.0
    fake.faults.retry_after = 7
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(alice.id, "hello")
    assert exc.value.retry_after == 7
    assert "Original description: Too Many Requests: retry after 7" in exc.value.message
    assert fake.requests[-1].description == "Too Many Requests: retry after 7"
    assert alice.inbox == []
    assert fake.requests[-1].injected and fake.requests[-1].status == 429
    assert fake.refused == []
    await bot.send_chat_action(alice.id, "typing")  # not a message method: unaffected


async def test_injected_5xx_and_only_methods(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    fake.faults.rate_5xx = 1.0
    fake.faults.only_methods = {"sendPhoto"}
    await bot.send_message(alice.id, "text is fine")
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_photo(alice.id, BufferedInputFile(PNG, "p.png"))
    assert [m.kind for m in alice.inbox] == ["text"]
    assert fake.refused == []
    fake.faults.reset()
    await bot.send_photo(alice.id, BufferedInputFile(PNG, "p.png"))


async def test_faults_are_deterministic_per_seed(alice: SimUser) -> None:
    async def outcomes(seed: int) -> list[int]:
        other = FakeBotAPI(seed=seed)
        await other.start()
        b = make_bot(other)
        try:
            user = other.user(1, "U")
            await user.start()
            other.faults.rate_429 = 0.5
            result = []
            for i in range(12):
                try:
                    await b.send_message(user.id, f"m{i}")
                    result.append(200)
                except TelegramRetryAfter:
                    result.append(429)
            return result
        finally:
            await b.session.close()
            await other.stop()

    first, again, other_seed = await outcomes(3), await outcomes(3), await outcomes(4)
    assert first == again
    assert 200 in first and 429 in first
    assert first != other_seed


async def test_slow_answers_arrive_late_but_delivered(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    fake.faults.slow = 1.0
    fake.faults.slow_seconds = 0.2
    started = time.monotonic()
    await bot.send_message(alice.id, "eventually")
    assert time.monotonic() - started >= 0.2
    assert alice.last().text == "eventually"


# ------------------------------------------------------------------ rate limits


async def test_per_chat_rate_limit() -> None:
    fake = FakeBotAPI(enforce_rate_limits=True)
    await fake.start()
    bot = make_bot(fake)
    try:
        alice = fake.user(1, "Alice")
        await alice.start()
        await bot.send_message(alice.id, "first")
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(alice.id, "second, too soon")
        assert isinstance(exc.value.retry_after, int) and exc.value.retry_after >= 1
        assert [m.text for m in alice.inbox] == ["first"]
        assert [r.status for r in fake.refused] == [429]
        assert not fake.refused[0].injected
        # Not message methods: never limited.
        await bot.send_chat_action(alice.id, "typing")
        await bot.get_updates()
    finally:
        await bot.session.close()
        await fake.stop()


async def test_global_rate_limit() -> None:
    fake = FakeBotAPI(enforce_rate_limits=True, global_per_second=3)
    await fake.start()
    bot = make_bot(fake)
    try:
        users = [fake.user(i, f"U{i}") for i in range(1, 5)]
        for user in users:
            await user.start()
        for user in users[:3]:
            await bot.send_message(user.id, "hi")
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(users[3].id, "hi")
        assert exc.value.retry_after >= 1
        assert users[3].inbox == []
        assert len(fake.refused) == 1
    finally:
        await bot.session.close()
        await fake.stop()


# ----------------------------------------------------------------- getUpdates


async def test_get_updates_confirms_and_shapes_updates(bot: Bot, fake: FakeBotAPI) -> None:
    carol = fake.user(3003, "Carol", last_name="C", username="carol", language_code="ro")
    first = await carol.start("invite-abc")
    await carol.send("my knee hurts")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, first + 1]
    start = updates[0].message
    assert start is not None and start.text == "/start invite-abc"
    assert start.entities is not None and start.entities[0].type == "bot_command"
    assert start.entities[0].length == 6
    assert start.from_user is not None and start.from_user.language_code == "ro"
    assert start.chat.id == carol.id and start.chat.type == "private"
    assert (await bot.get_updates(limit=1))[0].update_id == first  # not confirmed yet
    assert await bot.get_updates(offset=first + 2) == []
    assert fake.updates.pending == []


async def test_long_poll_wakes_on_new_update(bot: Bot, fake: FakeBotAPI) -> None:
    dave = fake.user(4004, "Dave")
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await fake.wait_until(lambda: fake.poll_generation == 1)
    started = time.monotonic()
    await dave.send("hello")
    updates = await poll
    assert time.monotonic() - started < 2
    assert updates[0].message is not None and updates[0].message.text == "hello"


async def test_long_poll_returns_empty_after_timeout(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_second_poller_terminates_the_first(bot: Bot, fake: FakeBotAPI) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=20))
    await fake.wait_until(lambda: fake.poll_generation == 1)
    second = asyncio.create_task(bot.get_updates(timeout=20))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    await fake.user(5, "E").send("x")
    assert len(await second) == 1


async def test_allowed_updates_drop_other_kinds(bot: Bot, fake: FakeBotAPI, alice: SimUser) -> None:
    await bot.get_updates(offset=-1, allowed_updates=["message"])
    await bot.send_message(alice.id, "Q", reply_markup=kb(cb("Yes", "y")))
    await alice.tap(alice.last(), "Yes")
    await alice.send("typed")
    updates = await bot.get_updates(offset=-1)
    assert updates[0].message is not None and updates[0].message.text == "typed"
    assert [next(k for k in u if k != "update_id") for u in fake.updates.dropped] == [
        "callback_query"
    ]


async def test_stop_releases_a_waiting_poll() -> None:
    fake = FakeBotAPI()
    await fake.start()
    bot = make_bot(fake)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await fake.wait_until(lambda: fake.poll_generation == 1)
        await fake.stop()
        assert await poll == []
    finally:
        await bot.session.close()


# --------------------------------------------------------------------- webhook


async def test_webhook_delivery_secret_retries_and_conflict(fake: FakeBotAPI, bot: Bot) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    failures = [500, 502]

    async def hook(request: web.Request) -> web.Response:
        if failures:
            return web.Response(status=failures.pop(0))
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app) as base:
        assert await bot.set_webhook(f"{base}/hook", secret_token="s3cr3t")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        assert [r.status for r in fake.refused] == [409]
        erin = fake.user(6006, "Erin")
        update_id = await erin.send("via webhook")
        await fake.wait_until(lambda: bool(received))
        update, secret = received[0]
        assert secret == "s3cr3t"
        assert update["update_id"] == update_id
        assert update["message"]["text"] == "via webhook"
        assert [d["status"] for d in fake.webhook.deliveries] == [500, 502, 200]
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        assert info.last_error_message is not None and "502" in info.last_error_message
        assert await bot.delete_webhook()
        assert await bot.get_updates() == []


async def test_webhook_reply_method_is_executed(fake: FakeBotAPI, bot: Bot) -> None:
    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "pong"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app) as base:
        await bot.set_webhook(f"{base}/hook")
        frank = fake.user(7007, "Frank")
        await frank.send("ping")
        reply = await frank.wait_for()
        assert reply.text == "pong"
        assert fake.requests[-1].via == "webhook-reply"


async def test_aiogram_webhook_mode_with_reply_in_the_response(fake: FakeBotAPI) -> None:
    bot = make_bot(fake)
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def echo(message: Message) -> Any:
        return message.answer(f"echo: <i>{message.text}</i>")  # answered through the webhook

    dp.include_router(router)
    app = web.Application()
    handler = SimpleRequestHandler(dp, bot, secret_token="tok", handle_in_background=False)
    handler.register(app, path="/wh")
    try:
        async with serve(app) as base:
            await bot.set_webhook(f"{base}/wh", secret_token="wrong")
            ivan = fake.user(9009, "Ivan")
            await ivan.send("lost")
            await fake.wait_until(lambda: not fake.updates.pending)
            assert [d["status"] for d in fake.webhook.deliveries] == [401, 401, 401]
            assert ivan.inbox == []
            await bot.set_webhook(f"{base}/wh", secret_token="tok")
            await ivan.send("hi")
            reply = await ivan.wait_for()
            assert reply.text == "echo: hi" and reply.entities[0]["type"] == "italic"
            assert fake.requests[-1].via == "webhook-reply"
            assert fake.refused == []
    finally:
        await bot.session.close()


async def test_webhook_must_be_https_outside_loopback(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided"):
        await bot.set_webhook("http://example.com/hook")


# ------------------------------------------------------------------- files


async def test_photo_upload_file_id_and_download(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    sent = await bot.send_photo(alice.id, BufferedInputFile(PNG, "qr.png"), caption="<b>QR</b>")
    assert sent.photo is not None and (sent.photo[-1].width, sent.photo[-1].height) == (8, 6)
    msg = alice.last()
    assert msg.photo == PNG and msg.caption == "QR" and msg.kind == "photo"
    assert fake.requests[-1].params["photo"]["size"] == len(PNG)
    again = await bot.send_photo(alice.id, sent.photo[-1].file_id)
    assert alice.last().photo == PNG and again.photo is not None
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == PNG
    with pytest.raises(TelegramBadRequest, match="Bad Request: IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.id, BufferedInputFile(b"<html>not an image</html>", "x.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(alice.id, "AgACnope")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_big_photo_gets_several_sizes(bot: Bot, alice: SimUser) -> None:
    sent = await bot.send_photo(alice.id, BufferedInputFile(tiny_png(1000, 500), "big.png"))
    assert sent.photo is not None
    assert [(p.width, p.height) for p in sent.photo] == [
        (90, 45),
        (320, 160),
        (800, 400),
        (1000, 500),
    ]


async def test_document_upload(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    data = b"%PDF-1.4 discharge instructions"
    sent = await bot.send_document(
        alice.id, BufferedInputFile(data, "aftercare.pdf"), caption="Read me"
    )
    assert sent.document is not None and sent.document.file_name == "aftercare.pdf"
    assert sent.document.mime_type == "application/pdf"
    msg = alice.last()
    assert (msg.document, msg.filename, msg.caption, msg.text) == (
        data,
        "aftercare.pdf",
        "Read me",
        "Read me",
    )
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(alice.id, BufferedInputFile(b"", "empty.txt"))


# ------------------------------------------------------------ commands & menu


async def test_commands_by_scope(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    patient = [
        BotCommand(command="start", description="Begin"),
        BotCommand(command="help", description="Help"),
    ]
    staff = [BotCommand(command="alerts", description="Open alerts")]
    assert await bot.set_my_commands(patient)
    assert await bot.set_my_commands(
        patient, scope=BotCommandScopeAllPrivateChats(), language_code="ro"
    )
    assert await bot.set_my_commands(staff, scope=BotCommandScopeChat(chat_id=alice.id))
    assert set(fake.commands) == {"default", "all_private_chats/ro", f"chat:{alice.id}"}
    assert fake.commands["default"] == [
        {"command": "start", "description": "Begin"},
        {"command": "help", "description": "Help"},
    ]
    got = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=alice.id))
    assert [c.command for c in got] == ["alerts"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_my_commands(staff, scope=BotCommandScopeChat(chat_id=555))


async def test_web_app_buttons_only_in_private_chats_and_over_https(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    desk = InlineKeyboardButton(text="Open desk", web_app=WebAppInfo(url="https://c.example/desk/"))
    assert await bot.send_message(alice.id, "Alert", reply_markup=kb(desk))
    group = fake.group(-1001234567890)
    with pytest.raises(TelegramBadRequest, match="BUTTON_TYPE_INVALID"):
        await bot.send_message(group.id, "Alert", reply_markup=kb(desk))
    sent = await bot.send_message(group.id, "Alert", reply_markup=kb(cb("Ack", "ack:1")))
    with pytest.raises(TelegramBadRequest, match="BUTTON_TYPE_INVALID"):
        await bot.edit_message_reply_markup(
            chat_id=group.id, message_id=sent.message_id, reply_markup=kb(desk)
        )
    plain = InlineKeyboardButton(text="Open desk", web_app=WebAppInfo(url="http://c.example/"))
    with pytest.raises(TelegramBadRequest, match="Only HTTPS links are allowed"):
        await bot.send_message(alice.id, "Alert", reply_markup=kb(plain))
    assert [m.text for m in group.inbox] == ["Alert"]  # only the callback card


async def test_menu_button_web_app_is_validated(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    desk = MenuButtonWebApp(text="Desk", web_app=WebAppInfo(url="https://c.example/desk/"))
    assert await bot.set_chat_menu_button(chat_id=alice.id, menu_button=desk)
    assert fake.menu_buttons[f"chat:{alice.id}"]["web_app"] == {"url": "https://c.example/desk/"}
    plain = MenuButtonWebApp(text="Desk", web_app=WebAppInfo(url="http://c.example/desk/"))
    with pytest.raises(TelegramBadRequest, match="Only HTTPS links are allowed"):
        await bot.set_chat_menu_button(chat_id=alice.id, menu_button=plain)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_chat_menu_button(chat_id=424242, menu_button=desk)
    assert await bot.set_chat_menu_button(chat_id=alice.id, menu_button=MenuButtonDefault())
    assert fake.menu_buttons[f"chat:{alice.id}"] == {"type": "default"}


async def test_menu_button_and_misc_methods(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    assert await bot.set_chat_menu_button(chat_id=alice.id, menu_button=MenuButtonCommands())
    assert fake.menu_buttons == {f"chat:{alice.id}": {"type": "commands"}}
    assert await bot.send_chat_action(alice.id, "typing")
    assert fake.chat_actions == [(alice.id, "typing")]
    assert await bot.log_out() and await bot.close()


# --------------------------------------------------- simulated people & waiting


async def test_wait_for_cursor_and_mark(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    await bot.send_message(alice.id, "one")
    await bot.send_message(alice.id, "two")
    assert (await alice.wait_for()).text == "one"  # reads in order
    assert (await alice.wait_for()).text == "two"
    assert (await alice.wait_for(lambda m: m.text == "one", after=0)).text == "one"
    mark = alice.mark()
    sent = await bot.send_message(alice.id, "three")
    await bot.edit_message_text("three!", chat_id=alice.id, message_id=sent.message_id)
    assert (await alice.wait_for(after=mark)).text == "three!"  # edits count as changes
    await alice.send("anything new?")  # acting moves the cursor past older messages
    with pytest.raises(TimeoutError, match=r"chat 1001: no message with seq > \d+"):
        await alice.wait_for(timeout=0.05)
    with pytest.raises(TimeoutError, match="Last requests"):
        await fake.wait_until(lambda: False, timeout=0.05)


async def test_other_update_kinds(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    await bot.get_updates(offset=-1)  # forget the /start
    await alice.send_sticker()
    await alice.send_photo(caption="my leg")
    await alice.send_location(44.43, 26.10)
    await alice.send_contact("+40700000000")
    typed = await alice.send("my kne hurts")
    updates = await bot.get_updates(offset=-5)
    messages = [u.message for u in updates]
    assert all(m is not None for m in messages)
    sticker, photo, location, contact, text = (m for m in messages if m is not None)
    assert sticker.sticker is not None
    assert photo.photo is not None and photo.caption == "my leg"
    assert location.location is not None and location.location.latitude == 44.43
    assert contact.contact is not None and contact.contact.user_id == alice.id
    assert text.text == "my kne hurts"
    await alice.edit(text.message_id, "my knee hurts")
    edited = (await bot.get_updates(offset=typed + 1))[0].edited_message
    assert edited is not None and edited.text == "my knee hurts" and edited.edit_date
    file = await bot.get_file(photo.photo[-1].file_id)
    assert file.file_path is not None
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read().startswith(b"\x89PNG")


async def test_user_identity_is_stable(fake: FakeBotAPI) -> None:
    first = fake.user(42, "Zoe")
    assert fake.user(42) is first
    assert fake.group(-5) is fake.group(-5)
    with pytest.raises(ValueError):
        fake.group(5)


# ------------------------------------------------------- a real aiogram bot


def _router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(
            f"Welcome <b>{message.chat.first_name}</b>! Invite: <code>{command.args}</code>",
            reply_markup=kb(cb("I feel fine", "feel:fine"), cb("It hurts", "feel:pain")),
        )

    @router.callback_query(F.data.startswith("feel:"))
    async def feel(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"Thanks, noted: {query.data}")
        await query.answer("Saved")

    return router


async def test_end_to_end_with_dispatcher_polling(fake: FakeBotAPI) -> None:
    bot = make_bot(fake)
    dp = Dispatcher()
    dp.include_router(_router())
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        gina = fake.user(8008, "Gina")
        await gina.start("clinic-7")
        welcome = await gina.wait_for(lambda m: "Welcome" in m.text)
        assert welcome.text == "Welcome Gina! Invite: clinic-7"
        assert welcome.buttons() == [["I feel fine", "It hurts"]]
        await gina.tap(welcome, "It hurts")
        edited = await gina.wait_for()
        assert edited is welcome and edited.text == "Thanks, noted: feel:pain"
        assert edited.reply_markup is None
        await fake.wait_until(lambda: bool(gina.callback_answers))
        assert gina.callback_answers[0]["text"] == "Saved"
        assert fake.refused == []
    finally:
        await dp.stop_polling()
        await polling
    assert fake.refused == [] and not fake.internal_errors
    assert {r.method for r in fake.requests} >= {"getMe", "getUpdates", "sendMessage"}
    sent = fake.sent_messages()
    assert [m.chat_id for m in sent] == [gina.id]
    json.dumps([r.params for r in fake.requests])  # the log is plain JSON data


# -------------------------------------------------------------- copyMessage, refused edits


async def test_copy_message_copies_a_persons_media_strictly(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    bob = fake.user(2002, "Bob")
    await bob.start()
    await alice.send_photo(caption="my needle site")
    photo_id = max(alice.posted)
    await alice.send_voice()
    voice_id = max(alice.posted)
    await alice.send_sticker("🤕")
    sticker_id = max(alice.posted)
    copied = await bot.copy_message(bob.id, from_chat_id=alice.id, message_id=photo_id)
    photo = bob.message(copied.message_id)
    assert photo is not None and photo.kind == "photo" and photo.photo == tiny_png()
    assert photo.caption == "my needle site"
    copied = await bot.copy_message(bob.id, from_chat_id=alice.id, message_id=voice_id)
    assert bob.message(copied.message_id).kind == "voice"  # type: ignore[union-attr]
    copied = await bot.copy_message(
        bob.id, from_chat_id=alice.id, message_id=sticker_id, caption="ignored by stickers"
    )
    assert bob.message(copied.message_id).kind == "sticker"  # type: ignore[union-attr]
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to copy not found"):
        await bot.copy_message(bob.id, from_chat_id=alice.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.copy_message(bob.id, from_chat_id=31337, message_id=photo_id)
    silent = fake.user(2003, "Never wrote")
    with pytest.raises(TelegramForbiddenError):
        await bot.copy_message(silent.id, from_chat_id=alice.id, message_id=photo_id)
    await alice.send_location(40.4, -3.7)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message can't be copied"):
        await bot.copy_message(bob.id, from_chat_id=alice.id, message_id=max(alice.posted))
    assert len(fake.refused) == 4


async def test_refused_edits_fault(fake: FakeBotAPI, bot: Bot, alice: SimUser) -> None:
    sent = await bot.send_message(alice.id, "Question 1", reply_markup=kb(cb("0", "a")))
    fake.faults.refuse_edits = "Bad Request: message can't be edited"
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("Question 2", chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)
    await bot.send_message(alice.id, "sending still works")
    assert alice.message(sent.message_id).text == "Question 1"  # type: ignore[union-attr]
    assert fake.refused == [] and sum(r.injected for r in fake.requests) == 2
    fake.faults.reset()
    await bot.edit_message_text("Question 2", chat_id=alice.id, message_id=sent.message_id)


async def test_hold_keeps_a_call_undone_until_released_or_abandoned(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    sent = await bot.send_message(alice.id, "Question 1", reply_markup=kb(cb("0", "a")))
    hold = fake.hold("editMessageText", where=lambda p: str(p.get("chat_id")) == str(alice.id))
    # held: not carried out, not answered
    edit = asyncio.create_task(
        bot.edit_message_text("Question 2", chat_id=alice.id, message_id=sent.message_id)
    )
    await fake.wait_until(lambda: hold.held == 1)
    assert alice.message(sent.message_id).text == "Question 1"  # type: ignore[union-attr]
    assert not edit.done()
    hold.release()
    await edit
    assert alice.message(sent.message_id).text == "Question 2"  # type: ignore[union-attr]
    # a client that goes away while its call is held (a killed bot): nothing done
    again = fake.hold("editMessageText")
    async with aiohttp.ClientSession() as http:
        post = asyncio.create_task(
            http.post(
                f"{fake.url}/bot{fake.token}/editMessageText",
                json={"chat_id": alice.id, "message_id": sent.message_id, "text": "Question 3"},
            )
        )
        await fake.wait_until(lambda: again.held == 1)
        post.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await post
    await fake.wait_until(lambda: fake.requests[-1].status == 0)
    assert "held" in (fake.requests[-1].description or "")
    again.release()
    assert alice.message(sent.message_id).text == "Question 2"  # type: ignore[union-attr]
    assert fake.refused == []


async def test_video_and_animation_by_file_id_strictly(
    fake: FakeBotAPI, bot: Bot, alice: SimUser
) -> None:
    """sendVideo / sendAnimation (issue 15: the clinic's exercise media): a file_id a user
    sent is re-sent by id; an unknown one, or one of another kind, is refused as by
    Telegram, and nothing is sent."""
    await alice.send_clip("video", caption="/media glute_bridge")
    await alice.send_clip("animation")
    video_id, gif_id = (
        m["video"]["file_id"] if "video" in m else m["animation"]["file_id"]
        for m in list(alice.posted.values())[-2:]
    )
    sent = await bot.send_video(alice.id, video_id, caption="<b>Glute bridge</b>")
    assert sent.video is not None and sent.video.file_id == video_id
    assert alice.last().kind == "video" and alice.last().caption == "Glute bridge"
    gif = await bot.send_animation(alice.id, gif_id, caption="x")
    assert gif.animation is not None and alice.last().kind == "animation"
    before = len(alice.inbox)
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_video(alice.id, "BAACnope")
    with pytest.raises(TelegramBadRequest, match="type of file to send mismatch"):
        await bot.send_video(alice.id, gif_id)
    with pytest.raises(TelegramBadRequest, match="type of file to send mismatch"):
        await bot.send_animation(alice.id, video_id)
    photo = await bot.send_photo(alice.id, BufferedInputFile(PNG, "p.png"))
    assert photo.photo is not None
    with pytest.raises(TelegramBadRequest, match="type of file to send mismatch"):
        await bot.send_video(alice.id, photo.photo[-1].file_id)
    assert len(alice.inbox) == before + 1  # only the photo
