"""Hostile input against the real dispatcher, the strict fake Bot API and a migrated SQLite.

Patients, front-desk staff, therapists, the admin and people the bot does not know
throw random and huge texts, every Unicode plane, HTML-looking and command-looking
text, stickers, photos, locations, contacts, edits and forged callback data at the
bot. For every input: no unhandled exception (nothing logged at ERROR), no request
Telegram would refuse, exactly one reply to a message from a person, an answer to
every callback query, and a database left exactly as it was unless the input was
legitimate (a patient's typed words are kept as a `patient_note`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.filters.callback_data import CallbackData
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot import callbacks as cb
from bot.commands import DESCRIPTIONS
from bot.controls_view import REMINDER_CHOICES
from bot.texts import t
from bot.typed import has_control
from tests.fakebot import FakeBotAPI, SimUser
from tests.support.dbutil import snapshot
from tests.support.hostile import Clinic, clinic_at_rest
from tests.support.journey import enroll

# Monday 23 November 2026, 10:00 in Madrid: no quiet hours, no digest due
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SENDERS = ("patient", "staff", "therapist", "admin", "stranger")
NOTE_MAX = 4000
BIG = str(2**70)

HYPOTHESIS = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI(token="123456:TEST-TOKEN-0123456789abcdefghij")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def clinic(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Clinic]:
    async with clinic_at_rest(fake, sqlite_url) as clinic:
        yield clinic


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
    ]


# --------------------------------------------------------------------------- strategies

NO_NUL_NO_SURROGATE = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=("Cs",))
CONTROL = st.characters(min_codepoint=1, max_codepoint=0x1F) | st.characters(
    min_codepoint=0x7F, max_codepoint=0x9F
)
MARKS = st.sampled_from(
    [
        "\u200e",  # LRM
        "\u200f",  # RLM
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",  # RLO
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u061c",
        "\u200b",  # zero-width space
        "\u200c",  # ZWNJ
        "\u200d",  # ZWJ
        "\u2060",
        "\ufeff",
        "\u2028",
        "\u2029",
        "\ufffd",
        "\ufff9",
        "\U000e0001",
        "\U000e007f",
        "\u0301\u0301\u0301",
        "👩\u200d👩\u200d👧\u200d👦",
        "🏳️\u200d🌈",
        "\U0010ffff",
        "\U000f0000",
        "\U0001d4aa",
    ]
)
HTML_BITS = st.sampled_from(
    [
        "<b>",
        "</b>",
        "&amp;",
        "&",
        "&lt;",
        "&gt",
        "&#0;",
        "&#x110000;",
        "&#xD800;",
        "</a>",
        '<a href="tg://user?id=1">',
        "<a href='javascript:alert(1)'>x</a>",
        "<i><b>",
        "</i>",
        '<pre><code class="language-x">',
        "<tg-spoiler>",
        '<span class="x">',
        "<br/>",
        "<script>alert(1)</script>",
        "<",
        ">",
        '"',
        "'",
        "<!--",
        "]]>",
        "{name}",
        "{0}",
        "%s",
        "%(x)s",
        "\\",
        "`",
        "*_~",
    ]
)
COMMAND_LIKE = st.sampled_from(
    [
        "/start x",
        "/start",
        "/start " + "A" * 32,
        "/start " + "x" * 65,
        "/start ../../etc",
        "/start <b>",
        "/start@careloop_test_bot",
        "/start@otherbot payload",
        "/enroll@otherbot",
        "/invite@otherbot",
        "/delete@otherbot",
        "/START",
        "/Start x",
        "/ start",
        "/",
        "//",
        "/help@otherbot",
        "/help extra words",
        "/help@careloop_test_bot",
        "/cancel",
        "/cancel@otherbot",
        "/unknown",
        "/a",
        "/" + "x" * 64,
        "/" + "x" * 65,
        "/enroll\u200b",
        "/ѕtart",  # a Cyrillic s
        "／start",  # fullwidth solidus
        "\u202e/start",
        " /start",
        "\n/help",
        " /START",
        "/start@",
        "/start\n/enroll",
        "/stop@otherbot",
    ]
)
BOT_USERNAME = "careloop_test_bot"
SAFE_COMMANDS = {"start", "help", "cancel"}
REAL_COMMANDS = set(DESCRIPTIONS)


def command_of(text: str) -> str | None:
    """The command aiogram's `Command` filter reads in `text` (None: not one of ours)."""
    parts = text.split(maxsplit=1)
    if not parts or not parts[0].startswith("/"):
        return None
    name, _, mention = parts[0][1:].partition("@")
    if mention and mention.lower() != BOT_USERNAME:
        return None
    return name


def _not_a_real_command(text: str) -> bool:
    """A role's commands are legitimate input with effects: only harmless or nonsense ones."""
    name = command_of(text)
    return name is None or name in SAFE_COMMANDS or name not in REAL_COMMANDS


def kept_as_note(text: str) -> bool:
    """A patient's typed words are kept unless they are a command, or hold a control
    character (refused with a clear reply, issue 11 item 4)."""
    return (
        not text.startswith("/") and command_of(text) not in SAFE_COMMANDS and not has_control(text)
    )


RANDOM_COMMANDS = st.builds(
    lambda name, mention, args: f"/{name}{mention}{args}",
    st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True),
    st.sampled_from(["", "@otherbot", "@careloop_test_bot", "@", "@x"]),
    st.sampled_from(["", " ", " x", " <b>&", " " + "é" * 100]) | st.text(NO_NUL_NO_SURROGATE),
)

PIECES = st.one_of(
    st.text(NO_NUL_NO_SURROGATE, min_size=1, max_size=30),
    st.text(ASTRAL, min_size=1, max_size=8),
    st.text(CONTROL, min_size=1, max_size=4),
    MARKS,
    HTML_BITS,
)
MIXED = st.lists(PIECES, min_size=1, max_size=25).map("".join)
HUGE = st.builds(
    lambda piece, n, tail: (piece * n)[: 10_000 - len(tail)] + tail,
    st.one_of(MIXED, st.text(ASTRAL, min_size=1, max_size=3), HTML_BITS),
    st.integers(100, 10_000),
    st.sampled_from(["", "<b>", "&", "\u202e", "🦵"]),
)
HOSTILE_TEXT = st.one_of(
    MIXED, HUGE, COMMAND_LIKE, RANDOM_COMMANDS, st.text(NO_NUL_NO_SURROGATE, min_size=1)
).filter(lambda s: s != "" and _not_a_real_command(s))
FIRST_NAMES = st.one_of(
    st.sampled_from(["Eve", "<b>Mallory</b>", "&amp;", "\u202eevE", "👩\u200d👩\u200d👧"]),
    st.text(NO_NUL_NO_SURROGATE, min_size=1, max_size=64),
)
LANGUAGE_CODES = st.sampled_from([None, "en", "es", "es-MX", "ES", "zh-hans", "xx", "-", "ru"])


@st.composite
def people(draw: st.DrawFn) -> tuple[str, int, str, str | None]:
    """(role, a stranger's id, a stranger's first name, language code)."""
    role = draw(st.sampled_from(SENDERS))
    return (
        role,
        draw(st.integers(5000, 999_999_999)),
        draw(FIRST_NAMES),
        draw(LANGUAGE_CODES),
    )


def sender_of(clinic: Clinic, person: tuple[str, int, str, str | None]) -> SimUser:
    role, stranger_id, first_name, language = person
    if role == "stranger":
        return clinic.fake.user(stranger_id, first_name, language_code=language)
    return {
        "patient": clinic.patient,
        "staff": clinic.staff,
        "therapist": clinic.therapist,
        "admin": clinic.admin,
    }[role]


# ----------------------------------------------------------------------------- helpers


async def settle(clinic: Clinic, update_id: int) -> None:
    """The dispatcher has finished with this update (or Telegram never created it)."""
    if any(u["update_id"] == update_id for u in clinic.fake.updates.dropped):
        return
    await clinic.finished.wait(update_id)


def update_of_query(fake: FakeBotAPI, query_id: str) -> int:
    for update in [*fake.updates.delivered, *fake.updates.pending]:
        if update.get("callback_query", {}).get("id") == query_id:
            return int(update["update_id"])
    raise AssertionError(f"no update for callback query {query_id}")


def replies_since(user: SimUser, mark: int) -> list[Any]:
    return [m for m in user.inbox if m.seq > mark]


def only_notes_changed(
    before: dict[str, list[tuple[object, ...]]], after: dict[str, list[tuple[object, ...]]]
) -> list[tuple[object, ...]]:
    """Every table but patient_note unchanged; returns the new note rows."""
    assert {k: v for k, v in after.items() if k != "patient_note"} == {
        k: v for k, v in before.items() if k != "patient_note"
    }
    old = before["patient_note"]
    assert after["patient_note"][: len(old)] == old
    return after["patient_note"][len(old) :]


class Watch:
    """What one example did wrong: errors logged and requests Telegram refused since it began."""

    def __init__(self, clinic: Clinic, caplog: pytest.LogCaptureFixture) -> None:
        caplog.clear()
        self.clinic, self.caplog = clinic, caplog
        self.refused_before = len(clinic.fake.refused)

    def check(self) -> None:
        assert logged_errors(self.caplog) == []
        assert self.clinic.fake.refused[self.refused_before :] == []
        assert self.clinic.fake.refused == []


# ------------------------------------------------------------------------------ texts


@settings(max_examples=70, **HYPOTHESIS)
@given(person=people(), text=HOSTILE_TEXT)
@example(person=("patient", 5000, "Eve", "en"), text="x" * 10_000)
@example(person=("stranger", 5001, "<b>Eve</b>", None), text="<b>hi</b> &amp; </a>")
@example(person=("staff", 5000, "Eve", "en"), text="/enroll@otherbot")
@example(person=("therapist", 5000, "Eve", "en"), text="/START")
@example(person=("patient", 5000, "Eve", "en"), text="/ start")
@example(person=("admin", 5000, "Eve", "en"), text="/start x")
@example(person=("patient", 5000, "Eve", "en"), text="\U0001f9b5\u202e\u200d" * 3000)
async def test_hostile_texts_get_one_reply_and_change_nothing(
    clinic: Clinic,
    sqlite_url: str,
    errors: pytest.LogCaptureFixture,
    person: tuple[str, int, str, str | None],
    text: str,
) -> None:
    watch = Watch(clinic, errors)
    user = sender_of(clinic, person)
    before = await snapshot(sqlite_url)
    mark = user.mark()
    update_id = await user.send(text)
    await user.wait_for(after=mark)
    await settle(clinic, update_id)
    replies = replies_since(user, mark)
    assert len(replies) == 1, [m.text[:80] for m in replies]
    after = await snapshot(sqlite_url)
    if person[0] == "patient" and kept_as_note(text):
        new = only_notes_changed(before, after)
        assert len(new) == 1 and text[:NOTE_MAX] in new[0]
        assert replies[0].reply_markup is not None  # one tap passes the words on
    else:
        assert after == before
    watch.check()


# ------------------------------------------------------------------ media and edits

MEDIA = st.one_of(
    st.tuples(st.just("sticker"), st.sampled_from(["👍", "🦵", "\u202e", "❤️", "🏳️\u200d🌈"])),
    st.tuples(st.just("photo"), st.one_of(st.none(), HOSTILE_TEXT.map(lambda s: s[:1024]))),
    st.tuples(
        st.just("location"),
        st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False)),
    ),
    st.tuples(
        st.just("contact"),
        st.tuples(
            st.one_of(st.from_regex(r"\+?[0-9 ]{1,20}", fullmatch=True), HTML_BITS, MIXED),
            FIRST_NAMES,
            st.booleans(),
        ),
    ),
    st.tuples(st.just("edit"), HOSTILE_TEXT),
)


@settings(max_examples=40, **HYPOTHESIS)
@given(person=people(), media=MEDIA)
@example(person=("patient", 5000, "Eve", "en"), media=("edit", "I am bleeding <a lot>"))
@example(person=("stranger", 5002, "Eve", "en"), media=("photo", "<b>caption</b> &"))
@example(person=("staff", 5000, "Eve", "en"), media=("contact", ("+34 600", "Eve", False)))
async def test_stickers_photos_locations_contacts_and_edits(
    clinic: Clinic,
    sqlite_url: str,
    errors: pytest.LogCaptureFixture,
    person: tuple[str, int, str, str | None],
    media: tuple[str, Any],
) -> None:
    watch = Watch(clinic, errors)
    user = sender_of(clinic, person)
    kind, value = media
    if kind == "edit":
        # edit a message the person wrote earlier here (write one first if need be)
        if not user.posted:
            mark = user.mark()
            first = await user.send_sticker()
            await user.wait_for(after=mark)
            await settle(clinic, first)
    before = await snapshot(sqlite_url)
    mark = user.mark()
    if kind == "sticker":
        update_id = await user.send_sticker(value)
    elif kind == "photo":
        update_id = await user.send_photo(caption=value)
    elif kind == "location":
        update_id = await user.send_location(*value)
    elif kind == "contact":
        phone, first_name, own = value
        update_id = await user.send_contact(phone, first_name=first_name, own=own)
    else:
        update_id = await user.edit(max(user.posted), value)
    await settle(clinic, update_id)
    replies = replies_since(user, mark)
    if kind == "edit" and any(u["update_id"] == update_id for u in clinic.fake.updates.dropped):
        assert replies == []  # the bot does not subscribe to edits: Telegram never sends them
    else:
        assert len(replies) == 1, [m.text[:80] for m in replies]
    after = await snapshot(sqlite_url)
    command_caption = kind == "photo" and str(value).startswith("/")  # aiogram: a command
    refused = kind == "photo" and has_control(value)  # a control character: refused
    if person[0] == "patient" and kind in ("sticker", "photo") and not (command_caption or refused):
        # a patient's photo or sticker is kept like typed words (its id, not its content),
        # with the safety line and one tap to pass it on (issue 10)
        (note,) = only_notes_changed(before, after)
        assert kind in note and "Pass this message to my therapist" in str(replies[0].buttons())
    else:
        assert after == before
    watch.check()


# ---------------------------------------------------------------------- forged callbacks

# placeholders filled with the clinic's ids: @C1@ the patient's open check-in, @C2@ the
# other patient's, @P1@/@P2@ the patients, @N1@/@N2@ their notes, @AL@ the other
# therapist's alert, @T1@/@T2@ the therapists' staff ids, @BIG@ an id beyond any integer
FORGED = [
    "a:1",
    "a:x:Q1:3",
    "a:1:Q1:-1",
    "a:1:Q1",
    "a::Q1:3",
    "a:@C1@:Q1:3:4",
    "a:@C2@:Q1:3",
    "a:@C2@:Q1:0",
    "a:@C1@:Q1:11",
    "a:@C1@:Q1:-1",
    "a:@C1@:Q99:1",
    "a:@C1@:Q1:@BIG@",
    "a:@BIG@:Q1:1",
    "a:-@BIG@:Q1:1",
    "a:@C1@:Q1:1e3",
    "al:ack:999",
    "al:ack",
    "al:ack:x",
    "al:ack:@AL@",
    "al:cb:@AL@",
    "al:hist:@AL@",
    "al:zap:@AL@",
    "al:ack:@BIG@",
    "al:hist:@BIG@",
    "al:ack:-1",
    "cs:1:1",
    "cs:@P2@:1",
    "cs:@P2@:0",
    "cs:@P1@:1",
    "cs:@P1@:0",
    "cs:1:maybe",
    "cs:@BIG@:1",
    "cs:1",
    "inv:admin",
    "inv:staff",
    "inv:therapist",
    "inv:",
    "inv",
    "inv:staff:1",
    "sp:1",
    "sp:@P1@",
    "sp:@P2@",
    "sp:x",
    "sp:@BIG@",
    "del:1",
    "del:0",
    "del:maybe",
    "del",
    "del:1:1",
    "pz:1",
    "pz:2",
    "pz:-1",
    "pz:x",
    "pz:@BIG@",
    "st:1",
    "st:0",
    "st:maybe",
    "st",
    "set:xyz",
    "set:",
    "set:tz",
    "rt:0900",
    "rt:2500",
    "rt:abc",
    "rt:",
    "rt:07:30",
    "rt:@BIG@",
    "lg:es",
    "lg:fr",
    "lg:",
    "lg:en:es",
    "ex:snooze",
    "ex:stop",
    "ex:bogus",
    "ex:",
    "et:1",
    "et:@T1@",
    "et:@T2@",
    "et:x",
    "et:@BIG@",
    "etm:5",
    "etm:30",
    "etm:@BIG@",
    "erg:nowhere",
    "erg:piriformis",
    "ergd",
    "ergd:1",
    "ebl:11",
    "ebl:5",
    "ebl:@BIG@",
    "elg:1",
    "elg:x",
    "esc:t:2",
    "esc:t:99",
    "esc:d:0",
    "esc:n:0",
    "esc:z:0",
    "pg:session:1",
    "pg:discharge:@BIG@",
    "pg:ended:0",
    "pg:patients:0",
    "pg:pick:0",
    "pg:patients:1",
    "pg:patients:-1",
    "pg:nope:0",
    "pg:patients:@BIG@",
    "pg:patients:x",
    "pc:@P1@",
    "pc:@P2@",
    "pc:999999",
    "pc:@BIG@",
    "pc:-1",
    "nt:@N1@",
    "nt:@N2@",
    "nt:999999",
    "nt:@BIG@",
    "nt:x",
    "dc:@P1@",
    "dc:@P2@",
    "dc:999999",
    "dc:x",
    "dc:@BIG@",
    "dc:-1",
    ":",
    "::::",
    " ",
    "a",
    "al",
    "\u202e:1",
    "a:1:Q1:3\n",
    "<b>:&amp;",
    "🦵" * 16,
    "é" * 32,
]
PREFIXES = [
    "a", "al", "cs", "inv", "sp", "del", "pz", "st", "set", "rt", "lg", "ex", "et", "etm",
    "erg", "ergd", "ebl", "elg", "esc", "pg", "pc", "nt", "dc", "dcc", "",
]  # fmt: skip
FIELD = st.one_of(
    st.integers(-(2**80), 2**80).map(str),
    st.integers(-3, 12).map(str),
    st.sampled_from(["@C1@", "@C2@", "@P1@", "@P2@", "@N1@", "@N2@", "@AL@", "@BIG@", "Q1"]),
    st.sampled_from(["ack", "hist", "cb", "true", "false", "1", "0", "", "Q2", "Q9", "None"]),
    st.text(NO_NUL_NO_SURROGATE, max_size=8),
)
STRUCTURED = st.builds(
    lambda prefix, fields: ":".join([prefix, *fields]),
    st.sampled_from(PREFIXES),
    st.lists(FIELD, max_size=5),
)
JUNK = st.one_of(
    st.binary(min_size=1, max_size=64).map(lambda b: b.decode("utf-8", "replace")),
    st.binary(min_size=1, max_size=64).map(lambda b: b.decode("latin-1")),
    st.text(NO_NUL_NO_SURROGATE, min_size=1, max_size=64),
)
CALLBACK_DATA = st.one_of(st.sampled_from(FORGED), STRUCTURED, JUNK)
ALL_CALLBACKS: list[type[CallbackData]] = [
    obj
    for obj in vars(cb).values()
    if isinstance(obj, type) and issubclass(obj, CallbackData) and obj is not CallbackData
]


def fill(template: str, clinic: Clinic) -> str:
    values = {
        "@C1@": clinic.checkin_id,
        "@C2@": clinic.other_checkin_id,
        "@P1@": clinic.patient_id,
        "@P2@": clinic.other_patient_id,
        "@N1@": clinic.note_id,
        "@N2@": clinic.other_note_id,
        "@AL@": clinic.other_alert_id,
        "@T1@": clinic.therapist_ids[0],
        "@T2@": clinic.therapist_ids[1],
        "@BIG@": BIG,
    }
    for key, value in values.items():
        template = template.replace(key, str(value))
    return template


def unpacked(data: str) -> CallbackData | None:
    """What the bot's own filters would make of the data (None: no button of ours)."""
    for kind in ALL_CALLBACKS:
        if not data.startswith(kind.__prefix__ + kind.__separator__) and data != kind.__prefix__:
            continue
        try:
            return kind.unpack(data)
        except (TypeError, ValueError):
            continue
    return None


def legitimate(role: str, data: str, clinic: Clinic) -> bool:
    """Would this tap be a real button of this person's, with effects in the database?"""
    value = unpacked(data)
    own_patients = {
        "therapist": {clinic.patient_id},
        "admin": {clinic.patient_id, clinic.other_patient_id},
    }
    if role == "patient":
        match value:
            case cb.AnswerCb(c=c, q=q, v=v):
                # their own open check-in, a question of the protocol, a value it may have
                question = clinic.bot.app.protocol.questions.get(q.split(".", 1)[0])  # "Q7.2"
                return c == clinic.checkin_id and question is not None and v <= question.max_value
            case cb.ExerciseCb(action=action):
                return action in ("snooze", "stop")
            case cb.PauseCb(days=days):
                return days in (1, 3, 7)
            case cb.StopCb(confirm=confirm) | cb.DeleteCb(confirm=confirm):
                return confirm
            case cb.LanguageCb(lang=lang):
                return lang in ("en", "es")
            case cb.ReminderTimeCb(hhmm=raw):
                return f"{raw[:2]}:{raw[2:]}" in REMINDER_CHOICES or raw in REMINDER_CHOICES
            case cb.NoteCb(note_id=note_id):
                return note_id == clinic.note_id
        return False
    # a name on /discharge only asks to confirm (issue 14): "Yes, discharge" changes rows
    if role in ("staff", "admin") and isinstance(value, cb.DischargeConfirmCb):
        return value.action == cb.DischargeAction.confirm and value.patient_id in (
            clinic.patient_id,
            clinic.other_patient_id,
        )
    if role in own_patients and isinstance(value, cb.PatientCardCb):
        return value.patient_id in own_patients[role]
    if role == "admin" and isinstance(value, cb.AlertCb):
        return value.alert_id == clinic.other_alert_id
    if role == "admin" and isinstance(value, cb.InviteRoleCb):
        return value.role in ("staff", "therapist")
    return False


@settings(max_examples=150, **HYPOTHESIS)
@given(
    person=people(),
    template=CALLBACK_DATA,
    target=st.one_of(st.sampled_from(["none", "media", "keyboard"]), st.integers(0, 1000)),
)
@example(person=("patient", 5000, "E", "en"), template="a:@BIG@:Q1:1", target="none")
@example(person=("therapist", 5000, "E", "en"), template="pg:patients:0", target="keyboard")
@example(person=("therapist", 5000, "E", "en"), template="pg:pick:0", target="none")
@example(person=("therapist", 5000, "E", "en"), template="pg:patients:@BIG@", target="none")
@example(person=("therapist", 5000, "E", "en"), template="al:ack:@AL@", target="none")
@example(person=("therapist", 5000, "E", "en"), template="pc:@P2@", target="none")
@example(person=("patient", 5000, "E", "en"), template="a:@C2@:Q1:3", target=3)
@example(person=("patient", 5000, "E", "en"), template="nt:@N2@", target="none")
@example(person=("patient", 5000, "E", "en"), template="cs:@P2@:1", target="none")
@example(person=("patient", 5000, "E", "en"), template="sp:1", target="none")
@example(person=("staff", 5000, "E", "en"), template="del:1", target="none")
@example(person=("staff", 5000, "E", "en"), template="cs:@P1@:1", target="none")
@example(person=("stranger", 5003, "E", "en"), template="inv:admin", target="none")
@example(person=("therapist", 5000, "E", "en"), template="pg:patients:0", target="media")
@example(person=("patient", 5000, "E", "en"), template="st:0", target="media")
@example(person=("patient", 5000, "E", "en"), template="del:0", target="media")
@example(person=("staff", 5000, "E", "en"), template="dc:999999", target="media")
@example(person=("admin", 5000, "E", "en"), template="inv:admin", target="none")
async def test_forged_callbacks_are_answered_and_change_nothing(
    clinic: Clinic,
    sqlite_url: str,
    errors: pytest.LogCaptureFixture,
    person: tuple[str, int, str, str | None],
    template: str,
    target: int | str,
) -> None:
    data = fill(template, clinic)
    # Telegram carries 1-64 bytes; a person's real buttons with effects are other tests' work
    assume(1 <= len(data.encode("utf-8")) <= 64 and not legitimate(person[0], data, clinic))
    watch = Watch(clinic, errors)
    user = sender_of(clinic, person)
    before = await snapshot(sqlite_url)
    await forge(clinic, user, data, target)
    assert await snapshot(sqlite_url) == before, data
    watch.check()


def pick_message(user: SimUser, target: int | str) -> int:
    """The message a forged button sits under: one of the bot's in this chat (a photo or a
    document for "media", the oldest with buttons for "keyboard"), or none at all."""
    inbox = sorted(user.inbox, key=lambda m: m.message_id)
    media = [m for m in inbox if m.photo is not None or m.document is not None]
    keyboards = [m for m in inbox if m.reply_markup is not None]
    if isinstance(target, int) and inbox:
        return inbox[target % len(inbox)].message_id
    if target == "media" and media:
        return media[0].message_id
    if target == "keyboard" and keyboards:
        return keyboards[0].message_id
    return 10**6


async def forge(clinic: Clinic, user: SimUser, data: str, target: int | str) -> None:
    """Tap forged data; the query is answered exactly once and the update fully handled."""
    query_id = await user.tap_data(pick_message(user, target), data)
    await clinic.fake.wait_until(
        lambda: any(a.get("callback_query_id") == query_id for a in user.callback_answers)
    )
    await settle(clinic, update_of_query(clinic.fake, query_id))
    answers = [a for a in user.callback_answers if a.get("callback_query_id") == query_id]
    assert len(answers) == 1


# ------------------------------------------------------------- unknown button actions

# (who taps, data): an action, field or list no handler of that button knows
UNKNOWN_ACTIONS = [
    ("patient", "ex:bogus"),
    ("patient", "ex:"),
    ("patient", "set:xyz"),
    ("patient", "set:"),
    ("patient", "sy:go"),
    ("therapist", "al:zap:@AL@"),  # not their patient's alert
    ("therapist", "al:zap:999999"),  # no such alert
    ("other_therapist", "al:zap:@AL@"),  # their own patient's alert
    ("admin", "al:zap:@AL@"),
    ("therapist", "al::@AL@"),
    ("therapist", "pg:nope:0"),
    ("therapist", "pg::0"),
    ("admin", "inv:admin"),  # a role, but never invited (ADMIN_IDS)
    ("admin", "inv:nurse"),
]


async def test_unknown_button_actions_reach_the_fallback_and_change_nothing(
    clinic: Clinic, sqlite_url: str, errors: pytest.LogCaptureFixture
) -> None:
    """A button's action is an Enum field: an action no handler knows does not parse as
    that button's data, so none of its handlers runs — whether or not the alert it names
    is the tapper's — and the one fallback answers: "This button has expired", in an
    alert box, the same for everyone. Nothing in the database changes."""
    watch = Watch(clinic, errors)
    before = await snapshot(sqlite_url)
    for who, template in UNKNOWN_ACTIONS:
        user: SimUser = getattr(clinic, who)
        data = fill(template, clinic)
        query_id = await user.tap_data(pick_message(user, "keyboard"), data)
        await clinic.fake.wait_until(
            lambda q=query_id, u=user: any(
                a.get("callback_query_id") == q for a in u.callback_answers
            )
        )
        await settle(clinic, update_of_query(clinic.fake, query_id))
        answers = [a for a in user.callback_answers if a.get("callback_query_id") == query_id]
        assert len(answers) == 1, data
        assert answers[0].get("text") == "This button has expired.", (who, data, answers[0])
        assert answers[0].get("show_alert") is True, data
    assert await snapshot(sqlite_url) == before
    watch.check()


def test_enum_actions_pack_to_the_strings_buttons_always_carried() -> None:
    """Buttons already in people's chats keep working: every action packs to the string
    it was before it became an Enum, and those strings parse back to the member."""
    packed: list[tuple[CallbackData, str]] = [
        (cb.ExerciseCb(action=cb.ExerciseAction.snooze), "ex:snooze"),
        (cb.ExerciseCb(action=cb.ExerciseAction.stop), "ex:stop"),
        (cb.SettingsCb(field=cb.SettingsField.time), "set:time"),
        (cb.SettingsCb(field=cb.SettingsField.tz), "set:tz"),
        (cb.SettingsCb(field=cb.SettingsField.lang), "set:lang"),
        (cb.AlertCb(action=cb.AlertAction.ack, alert_id=7), "al:ack:7"),
        (cb.AlertCb(action=cb.AlertAction.history, alert_id=7), "al:hist:7"),
        (cb.AlertCb(action=cb.AlertAction.called_back, alert_id=7), "al:cb:7"),
        (cb.PageCb(what=cb.PatientList.patients, page=2), "pg:patients:2"),
        (cb.PageCb(what=cb.PatientList.pick, page=0), "pg:pick:0"),
        (cb.SymptomCb(action=cb.SymptomAction.start), "sy:start"),
    ]
    for value, data in packed:
        assert value.pack() == data
        assert type(value).unpack(data) == value


# ------------------------------------------------------- the front desk's steps, mid-way

STEPS = (
    "name",
    "therapist",
    "time",
    "regions",
    "legs",
    "screening",
    "baseline",
    "session_patient",
    "session_time",
    "session_regions",
)
TARGETS = st.one_of(st.sampled_from(["none", "media", "keyboard"]), st.integers(0, 1000))
STEP_INPUT = st.one_of(
    st.tuples(st.just("text"), HOSTILE_TEXT),
    st.tuples(st.just("text"), st.sampled_from(["09:30", "9.30", "23:59", "00:00", "7h05"])),
    st.tuples(st.just("sticker"), st.just("🦵")),
    st.tuples(st.just("photo"), st.one_of(st.none(), MIXED)),
    st.tuples(st.just("callback"), st.tuples(CALLBACK_DATA, TARGETS)),
)


async def say(clinic: Clinic, user: SimUser, text: str) -> Any:
    mark = user.mark()
    update_id = await user.send(text)
    reply = await user.wait_for(after=mark)
    await settle(clinic, update_id)
    return reply


async def press(clinic: Clinic, user: SimUser, message: Any, button: str) -> Any:
    mark = user.mark()
    query_id = await user.tap(message, button)
    await settle(clinic, update_of_query(clinic.fake, query_id))
    return [m for m in user.inbox if m.seq > mark]


async def walk_to(clinic: Clinic, step: str) -> None:
    """The desk member stops at `step` of /enroll or /session (nothing stored yet)."""
    staff = clinic.staff
    await say(clinic, staff, "/cancel")
    if step.startswith("session"):
        picker = await say(clinic, staff, "/session")
        if step == "session_patient":
            return
        time_q = (await press(clinic, staff, picker, picker.buttons()[0][0]))[-1]
        if step == "session_time":
            return
        await press(clinic, staff, time_q, "30 min ago")
        return
    await say(clinic, staff, "/enroll")
    if step == "name":
        return
    therapist_q = await say(clinic, staff, "Walk <Through> & Co")
    if step == "therapist":
        return
    time_q = (await press(clinic, staff, therapist_q, "Theo Rapist"))[-1]
    if step == "time":
        return
    regions_q = (await press(clinic, staff, time_q, "30 min ago"))[-1]
    if step == "regions":
        return
    regions_q = (await press(clinic, staff, regions_q, "Piriformis"))[-1]
    legs_q = (await press(clinic, staff, regions_q, "Done"))[-1]
    if step == "legs":
        return
    screening_q = (await press(clinic, staff, legs_q, "Yes"))[-1]
    if step == "screening":
        return
    await press(clinic, staff, screening_q, "None of these")


@settings(max_examples=30, **HYPOTHESIS)
@given(step=st.sampled_from(STEPS), given_input=STEP_INPUT)
@example(step="baseline", given_input=("callback", ("ebl:@BIG@", "keyboard")))
@example(step="therapist", given_input=("callback", ("et:@BIG@", "keyboard")))
@example(step="session_patient", given_input=("callback", ("sp:@BIG@", "keyboard")))
@example(step="session_regions", given_input=("callback", ("erg:piriformis", "keyboard")))
@example(step="time", given_input=("text", "23:59"))
@example(step="regions", given_input=("callback", ("erg:piriformis", "media")))
async def test_hostile_input_in_the_middle_of_enrollment(
    clinic: Clinic,
    sqlite_url: str,
    errors: pytest.LogCaptureFixture,
    step: str,
    given_input: tuple[str, Any],
) -> None:
    kind, value = given_input
    if kind == "callback":
        data = fill(value[0], clinic)
        assume(1 <= len(data.encode("utf-8")) <= 64)
        # the last tap of an enrollment creates the patient: a legitimate step
        assume(not (step == "baseline" and isinstance(unpacked(data), cb.EnrollBaselineCb)))
        # /session ticks the last session's regions (issue 14): Done there records a session
        assume(
            not (step == "session_regions" and isinstance(unpacked(data), cb.EnrollRegionsDoneCb))
        )
        # the front desk may discharge a patient at any moment: a legitimate action too
        assume(not isinstance(unpacked(data), (cb.DischargeCb, cb.DischargeConfirmCb)))
    watch = Watch(clinic, errors)
    staff = clinic.staff
    await walk_to(clinic, step)
    before = await snapshot(sqlite_url)
    mark = staff.mark()
    if kind == "callback":
        await forge(clinic, staff, data, value[1])
    else:
        if kind == "text":
            update_id = await staff.send(value)
        elif kind == "sticker":
            update_id = await staff.send_sticker(value)
        else:
            update_id = await staff.send_photo(caption=value)
        await settle(clinic, update_id)
        replies = replies_since(staff, mark)
        assert len(replies) == 1, [m.text[:80] for m in replies]
    assert await snapshot(sqlite_url) == before
    watch.check()
    await say(clinic, staff, "/cancel")


# ------------------------------------------------------ a patient's words, passed on

WORDS = st.one_of(HUGE, MIXED, st.sampled_from(["<b>help</b> &amp; </a>", "&", "\u202e" * 600]))


@settings(max_examples=25, **HYPOTHESIS)
@given(words=WORDS.filter(kept_as_note))
@example(words="<" * 499 + "&" * 10)
@example(words="🦵" * 496 + "\u200d👩")
async def test_hostile_words_passed_to_the_therapist(
    clinic: Clinic, errors: pytest.LogCaptureFixture, words: str
) -> None:
    """Legitimate, with hostile content: the note, the alert, its edits and /alerts."""
    watch = Watch(clinic, errors)
    patient, therapist = clinic.patient, clinic.therapist
    offer = await say(clinic, patient, words)
    (passed,) = await press(clinic, patient, offer, offer.buttons()[0][0])
    assert passed.reply_markup is None  # the button is gone: the words went once
    mark = therapist.mark()
    await clinic.bot.background.run_once()
    pushed = await therapist.wait_for(lambda m: "(#" in m.text, after=mark)
    # the first passed message is a card; later ones (the examples share one patient) are
    # notices replying to it, and the card is edited to list every message
    alert = pushed if pushed.reply_markup else therapist.message(pushed.reply_to_message_id or 0)
    assert alert is not None and "Acknowledge" in str(alert.buttons())
    await clinic.bot.background.run_once()
    shown = alert.text
    listed = await say(clinic, therapist, "/alerts")  # a line; its button opens the card
    assert "Asked to talk to you and passed on a message" in listed.text
    opened = await press(clinic, therapist, listed, listed.buttons()[0][0])
    assert [m.text for m in opened] == [shown]
    watch.check()


# --------------------------------------------------------------- typed settings answers

TYPED_ZONES = st.one_of(
    st.sampled_from(
        [
            "Europe",
            "America/Argentina",
            "Etc",
            "Europe/__pycache__",
            "Europe/__init__.py",
            "zone1970.tab",
            "a" * 300,
            "Europe/" + "x" * 5000,
            "../../../etc/passwd",
            "/etc/localtime",
            "Europe/../Europe/Madrid",
            "Europe//Madrid",
            "Europe/Madrid\u202e",
            "europe/madrid",
            "\u202eEurope/Madrid",
            "<b>Europe/Madrid</b>",
            "25:61",
            "１２:００",
            "9" * 5000 + ":00",
            "12:" + "0" * 5000,
            "²³:00",
            "٠٩:٣٠",
            "12.30",
            "-1:30",
        ]
    ),
    HOSTILE_TEXT.filter(lambda s: not s.startswith("/")),
)


def zone_accepted(raw: str) -> bool:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ValueError, OSError):
        return False
    return "/" in name or name == "UTC"


@settings(max_examples=40, **HYPOTHESIS)
@given(field=st.sampled_from(["Time zone", "Reminder time"]), text=TYPED_ZONES)
@example(field="Time zone", text="Europe")
@example(field="Time zone", text="a" * 300)
@example(field="Reminder time", text="9" * 5000 + ":00")
async def test_typed_settings_answers(
    clinic: Clinic, sqlite_url: str, errors: pytest.LogCaptureFixture, field: str, text: str
) -> None:
    watch = Watch(clinic, errors)
    patient = clinic.patient
    mark = patient.mark()
    await patient.send("/settings")
    menu = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(menu, field)
    # the step's own question (the menu may be edited first, a late answer to the last
    # example may come too: not those)
    asked = t("settings_tz_ask" if field == "Time zone" else "settings_time_ask", "en")
    await patient.wait_for(lambda m: m.text == asked, after=mark)
    before = await snapshot(sqlite_url)
    mark = patient.mark()
    update_id = await patient.send(text)
    await patient.wait_for(after=mark)
    await settle(clinic, update_id)
    assert len(replies_since(patient, mark)) == 1
    after = await snapshot(sqlite_url)
    if after != before:  # only a real zone or time may change the patient's settings
        assert "Your settings" in patient.last().text
        if field == "Time zone":
            assert zone_accepted(text)
    watch.check()
    # leave the step, so the next example starts from the menu again
    mark = patient.mark()
    await patient.send("/cancel")
    await patient.wait_for(after=mark)


# ---------------------------------------------------------------- hostile patient names

NAMES = st.one_of(MIXED, st.text(NO_NUL_NO_SURROGATE, min_size=1, max_size=64)).filter(
    lambda s: 0 < len(" ".join(s.split())) <= 64 and not s.startswith("/") and not has_control(s)
)


@settings(max_examples=8, **HYPOTHESIS)
@given(name=NAMES, too_long=HUGE)
@example(name="<b>&amp;</b> \u202e🦵" * 3, too_long="<b>" * 3000)
async def test_hostile_names_through_enrollment(
    clinic: Clinic, sqlite_url: str, errors: pytest.LogCaptureFixture, name: str, too_long: str
) -> None:
    watch = Watch(clinic, errors)
    staff = clinic.staff
    cleaned = " ".join(name.split())
    # a name that is too long is refused at once and nothing is stored
    before = await snapshot(sqlite_url)
    mark = staff.mark()
    await staff.send("/enroll")
    await staff.wait_for(after=mark)
    if len(" ".join(too_long.split())) > 64 and command_of(too_long) is None:
        mark = staff.mark()
        update_id = await staff.send(too_long)
        await staff.wait_for(after=mark)
        await settle(clinic, update_id)
        assert len(replies_since(staff, mark)) == 1
        # a control character is refused first (tests/e2e/test_e2e_control_chars.py)
        expected = "control characters" if has_control(too_long) else "the limit is 64"
        assert expected in staff.last().text
    mark = staff.mark()
    await staff.send("/cancel")
    await staff.wait_for(after=mark)
    assert await snapshot(sqlite_url) == before
    # a name that fits goes everywhere, escaped: the link, the QR, the pickers, the list
    _, done, qr = await enroll(clinic.fake, staff, name=name)
    assert cleaned in done.text and qr.photo is not None
    for user, command in (
        (staff, "/discharge"),
        (staff, "/session"),
        (clinic.therapist, "/patients"),
    ):
        mark = user.mark()
        update_id = await user.send(command)
        await user.wait_for(after=mark)
        await settle(clinic, update_id)
    mark = staff.mark()
    await staff.send("/cancel")
    await staff.wait_for(after=mark)
    watch.check()
