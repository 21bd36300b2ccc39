"""The pain chart: a valid 1200×700 PNG for any data and any title, byte-for-byte repeatable."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import warnings
import zlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from care.charts import (
    HEIGHT_PX,
    STRIP_COLORS,
    WIDTH_PX,
    ChartPoint,
    DayMark,
    pain_chart_png,
    responder_ceiling,
)
from tests.support.pixels import pixels_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MADRID = ZoneInfo("Europe/Madrid")
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
HOSTILE_TITLES = [
    "Zoë <O'Brien> & 🦵",
    "$x^2$ costs $5 \\frac{a}{b} _under_ ^hat^ %d {braces}",
    "\\textbf{x} $\\alpha$ $$ $",
    "line one\nline two\tand\x00a NUL, \u200d zero-width, 👩🏽‍⚕️ nurse",
    "",
    "A" * 400,
    "W" * 5000,
]


def _course() -> tuple[list[ChartPoint], list[ChartPoint], list[datetime]]:
    sessions = [T0 + timedelta(days=7 * i) for i in range(3)]
    usual: list[ChartPoint] = []
    sore: list[ChartPoint] = []
    for i, s in enumerate(sessions):
        sore += [ChartPoint(s + timedelta(hours=h), max(0, 6 - i - h // 20)) for h in (3, 24, 48)]
        usual += [
            ChartPoint(s + timedelta(hours=24), 7 - i),
            ChartPoint(s + timedelta(days=6), 6 - i),
        ]
    return usual, sore, sessions


def _chart(**overrides: object) -> bytes:
    usual, sore, sessions = _course()
    args: dict[str, object] = {
        "title": "Ana — usual pain",
        "usual_pain": usual,
        "soreness": sore,
        "sessions": sessions,
        "baseline": 7,
        "tz": MADRID,
    }
    args.update(overrides)
    return pain_chart_png(**args)  # type: ignore[arg-type]


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking each CRC: a truncated or corrupt PNG fails here."""
    assert png[:8] == PNG_MAGIC
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        pos += 12 + length
    return chunks


def _assert_valid(png: bytes) -> None:
    chunks = _chunks(png)
    assert chunks[0][0] == b"IHDR"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (WIDTH_PX, HEIGHT_PX) == (1200, 700)
    assert chunks[-1][0] == b"IEND"
    assert len(png) < 1_000_000  # Telegram allows 10 MB for photos; we stay far below


def test_png_magic_and_size_from_ihdr() -> None:
    png = _chart()
    assert png.startswith(PNG_MAGIC)
    _assert_valid(png)


def test_no_software_or_time_metadata() -> None:
    kinds = {kind for kind, _ in _chunks(_chart())}
    assert b"tIME" not in kinds
    texts = b"".join(data for kind, data in _chunks(_chart()) if kind in (b"tEXt", b"iTXt"))
    assert b"Software" not in texts and b"matplotlib" not in texts.lower()


def test_empty_data_is_still_a_chart() -> None:
    png = pain_chart_png(
        title="Nobody yet", usual_pain=[], soreness=[], sessions=[], baseline=5, tz=MADRID
    )
    _assert_valid(png)


def test_sessions_without_ratings_and_a_single_point() -> None:
    _assert_valid(_chart(usual_pain=[], soreness=[]))
    _assert_valid(_chart(usual_pain=[ChartPoint(T0, 4)], soreness=[], sessions=[]))


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_title_renders_without_error_or_warning(title: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_valid(_chart(title=title))


def test_deterministic() -> None:
    assert _chart() == _chart()
    assert _chart(lang="es") == _chart(lang="es")


def test_input_order_does_not_matter() -> None:
    usual, sore, sessions = _course()
    reordered = _chart(usual_pain=usual[::-1], soreness=sore[::-1], sessions=sessions[::-1])
    assert reordered == _chart()


def test_language_and_time_zone_change_the_picture() -> None:
    base = _chart()
    assert _chart(lang="es") != base
    assert _chart(tz=ZoneInfo("Pacific/Auckland")) != base
    assert _chart(lang="xx") == base  # unknown language falls back to English


@pytest.mark.parametrize("baseline", [0, 1, 2, 10])
def test_baselines_with_and_without_a_responder_line(baseline: int) -> None:
    _assert_valid(_chart(baseline=baseline))


@pytest.mark.parametrize(
    ("baseline", "ceiling"),
    [(0, -2), (1, -1), (2, 0), (3, 1), (5, 3), (6, 4), (7, 4), (9, 6), (10, 7)],
)
def test_responder_ceiling_is_min_of_two_points_and_thirty_percent(
    baseline: int, ceiling: int
) -> None:
    assert responder_ceiling(baseline) == ceiling == min(baseline - 2, (7 * baseline) // 10)


def test_responder_ceiling_agrees_with_the_rule_for_every_pair() -> None:
    for b in range(11):
        qualifying = [p for p in range(11) if b - p >= 2 and 10 * (b - p) >= 3 * b]
        if qualifying:
            assert responder_ceiling(b) == max(qualifying)
        else:
            assert responder_ceiling(b) < 0


def test_responder_ceiling_follows_clinic_numbers() -> None:
    assert responder_ceiling(10, drop=3, fraction=0.5) == 5
    assert responder_ceiling(10, drop=4, fraction=0.1) == 6


@pytest.mark.parametrize(
    "bad",
    [
        {"baseline": 11},
        {"baseline": -1},
        {"usual_pain": [ChartPoint(T0, 12)]},
        {"soreness": [ChartPoint(datetime(2026, 3, 2, 10, 0), 3)]},
        {"sessions": [datetime(2026, 3, 2, 10, 0)]},
    ],
)
def test_caller_bugs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _chart(**bad)


async def test_safe_from_several_tasks_in_threads() -> None:
    expected = {lang: hashlib.sha256(_chart(lang=lang)).hexdigest() for lang in ("en", "es")}
    langs = ["en", "es"] * 4
    results = await asyncio.gather(*(asyncio.to_thread(_chart, lang=lang) for lang in langs))
    for lang, png in zip(langs, results, strict=True):
        assert hashlib.sha256(png).hexdigest() == expected[lang]


def test_a_real_chart_is_small_enough_for_a_chat() -> None:
    assert 10_000 < len(_chart(title="Zoë <O'Brien> & 🦵")) < 300_000


# -- the adherence strip (issue 15 step 6) ------------------------------------------------


def test_adherence_strip_has_a_cell_per_day_in_its_colour() -> None:
    """Ten days logged, five planned and not logged, six not planned: the cells' areas
    are in those proportions (each cell a day wide on the pain lines' date axis), and a
    chart without the strip has none of its colours."""
    start = T0.astimezone(MADRID).date()
    marks = [DayMark.LOGGED] * 10 + [DayMark.MISSED] * 5 + [DayMark.REST] * 6
    days = [(start + timedelta(days=i), mark) for i, mark in enumerate(marks)]
    png = _chart(adherence=days)
    _assert_valid(png)
    logged, missed = (pixels_of(png, STRIP_COLORS[m]) for m in (DayMark.LOGGED, DayMark.MISSED))
    assert missed > 0 and 1.8 < logged / missed < 2.2
    plain = _chart()
    assert pixels_of(plain, STRIP_COLORS[DayMark.LOGGED]) == 0
    assert pixels_of(plain, STRIP_COLORS[DayMark.MISSED]) == 0
    # one more day logged instead of missed: more green, less red, same size
    days[10] = (days[10][0], DayMark.LOGGED)
    more = _chart(adherence=days)
    assert pixels_of(more, STRIP_COLORS[DayMark.LOGGED]) > logged
    assert pixels_of(more, STRIP_COLORS[DayMark.MISSED]) < missed
    assert _chart(adherence=days) == more  # still byte-for-byte repeatable
