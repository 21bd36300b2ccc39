"""A patient's pain over time as a PNG, for the therapist (and the patient) in Telegram.

Pure drawing over plain data: the caller loads the answers and sessions and
passes them in, so this module never touches the database or the bot.

Why it is built the way it is:

- Only the object API (`Figure` + `FigureCanvasAgg`), never pyplot: pyplot keeps
  a global list of open figures, which leaks memory and is not safe when charts
  are drawn from several asyncio tasks through `asyncio.to_thread`.
- Matplotlib does not promise thread safety (font caches, rcParams), so drawing
  is serialised with a module lock. A chart takes tens of milliseconds and the
  lock is held in a worker thread, so the event loop never waits on it.
- The style is fixed inside that lock (matplotlib's defaults plus `_STYLE`),
  and the PNG carries no "Software" text, so the same input gives the same
  bytes whatever matplotlibrc the host has.
- Titles carry patient names, which may hold any character: mathtext and TeX
  are switched off for them (a '$' in a name must not become maths), and
  characters the bundled font cannot draw become '□' up front instead of
  raising a warning on every chart.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.style
from babel.dates import format_skeleton
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath

__all__ = [
    "HEIGHT_PX",
    "STRIP_COLORS",
    "WIDTH_PX",
    "ChartPoint",
    "DayMark",
    "pain_chart_png",
    "responder_ceiling",
]

#: Output size in pixels: wide enough for weeks of daily points, and a 12:7
#: shape that Telegram shows uncropped in a chat.
WIDTH_PX = 1200
HEIGHT_PX = 700
_DPI = 100

#: Bundled with matplotlib, so charts look (and hash) the same on every host.
_FONT = "DejaVu Sans"
_MISSING_GLYPH = "□"

_USUAL_COLOR = "#1f4e9c"
_SORENESS_COLOR = "#e07b00"
_BASELINE_COLOR = "#b3261e"
_RESPONDER_COLOR = "#2e7d32"
_SESSION_COLOR = "#6b6b6b"

_STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [_FONT],
    "font.size": 12,
    "text.usetex": False,
    "axes.titlesize": 16,
    "axes.labelsize": 13,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "path.simplify": False,
}

_DRAW_LOCK = threading.Lock()

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "strip": "Exercises",
        "logged": "Exercises logged",
        "missed": "Planned, not logged",
        "rest": "Not planned",
        "usual": "Usual pain (Q2)",
        "soreness": "Soreness at the needle sites (Q1)",
        "baseline": "Baseline usual pain (B = {b})",
        "responder": "Responder if usual pain ≤ {p} (at least −{drop} points and −{pct}% from B)",
        "session": "Needling session (S1, S2, …)",
        "y": "Pain (0 = none, 10 = worst imaginable)",
        "x": "Date ({tz})",
        "empty": "No ratings yet",
    },
    "es": {
        "strip": "Ejercicios",
        "logged": "Ejercicios registrados",
        "missed": "Previstos, no registrados",
        "rest": "No previstos",
        "usual": "Dolor habitual (Q2)",
        "soreness": "Molestias en los puntos de punción (Q1)",
        "baseline": "Dolor habitual inicial (B = {b})",
        "responder": (
            "Respondedor si el dolor habitual ≤ {p} (al menos −{drop} puntos y −{pct} % desde B)"
        ),
        "session": "Sesión de punción (S1, S2, …)",
        "y": "Dolor (0 = nada, 10 = el peor imaginable)",
        "x": "Fecha ({tz})",
        "empty": "Aún no hay valoraciones",
    },
}

# Dates on the axis are written by Babel for the reader's locale ("23 Nov", "Nov 23",
# "23 nov"), never by strftime: the process locale is not the reader's.
_DEFAULT_LOCALES = {"en": "en_GB", "es": "es_ES"}

#: Title lines: at most this many, each at most this wide (points; the image is 864 pt wide).
_TITLE_MAX_PT = 820
_TITLE_LINES = 3
_TITLE_MAX_CHARS = 1000
#: At most this many date labels on the x axis, so they never collide.
_MAX_DATE_TICKS = 12
#: The x axis spans at least this many days, so a single rating is not a sliver.
_MIN_SPAN_DAYS = 3


class DayMark(StrEnum):
    """One day of the adherence strip under the pain lines."""

    LOGGED = "logged"  # at least one exercise logged done
    MISSED = "missed"  # exercises were planned, none logged
    REST = "rest"  # nothing planned (before the course, a needling day, a rest day)


#: the strip's cell colours, apart from every line's colour
STRIP_COLORS: dict[DayMark, str] = {
    DayMark.LOGGED: "#43a047",
    DayMark.MISSED: "#ef9a9a",
    DayMark.REST: "#e6e6e6",
}


@dataclass(frozen=True)
class ChartPoint:
    """One 0–10 rating at an aware instant (Answer.answered_at)."""

    at: datetime
    value: int


def responder_ceiling(baseline: int, *, drop: int = 2, fraction: float = 0.30) -> int:
    """The highest usual pain P that still counts as a responder for baseline B.

    clinical.md: B − P ≥ drop and B − P ≥ fraction·B, i.e. P ≤ B − max(drop,
    ⌈fraction·B⌉) — with the defaults, min(B − 2, ⌊0.7·B⌋). The fraction is
    taken as the decimal written (0.30 → 3/10, as in flows.progress), so
    B = 10 gives 7, not 6 through binary rounding. Negative when no P can
    qualify (B ≤ 1 with the defaults).
    """
    share = Fraction(repr(fraction)) * baseline
    return baseline - max(drop, math.ceil(share))


def pain_chart_png(
    *,
    title: str,
    usual_pain: Sequence[ChartPoint],
    soreness: Sequence[ChartPoint],
    sessions: Sequence[datetime],
    baseline: int,
    tz: ZoneInfo,
    lang: str = "en",
    locale: str | None = None,
    responder_drop: int = 2,
    responder_fraction: float = 0.30,
    adherence: Sequence[tuple[date, DayMark]] = (),
) -> bytes:
    """Usual pain (Q2) and soreness (Q1) over time, with sessions, B and the responder line.

    `sessions` are the end times of the whole course (labelled S1, S2, … in
    time order, so pass every session, not only those in view). Dates are
    shown in `tz`, the patient's zone, because "the day after treatment" is
    the patient's day. `responder_drop`/`responder_fraction` default to
    clinical.md; pass `protocol.progress.responder_drop`/`responder_fraction`
    when a clinic changed them. Unknown `lang` falls back to English. `locale` (a Babel
    identifier such as en_US) writes the dates; by default the language's usual one.
    `adherence`: one cell per local day in a strip under the pain lines (exercises
    logged / planned but not logged / not planned), on the same date axis; none, no strip.

    Returns PNG bytes of exactly WIDTH_PX × HEIGHT_PX (about 50–100 kB). Raises
    ValueError for naive datetimes or values/baseline outside 0–10: those are
    caller bugs (the wrong question, a lost time zone), not data to draw.
    """
    _check(usual_pain, soreness, sessions, baseline)
    texts = _TEXTS.get(lang, _TEXTS["en"])
    date_locale = locale or _DEFAULT_LOCALES.get(lang, "en_GB")
    with _DRAW_LOCK, matplotlib.style.context(["default", _STYLE]):
        safe_title = _wrapped(_drawable(title))
        fig = Figure(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        strip: Axes | None = None
        if adherence:
            grid = fig.add_gridspec(2, 1, height_ratios=(12, 1))
            ax = fig.add_subplot(grid[0])
            strip = fig.add_subplot(grid[1], sharex=ax)
        else:
            ax = fig.add_subplot()
        _draw(
            ax,
            title=safe_title,
            usual_pain=sorted(usual_pain, key=lambda p: p.at),
            soreness=sorted(soreness, key=lambda p: p.at),
            sessions=sorted(sessions),
            baseline=baseline,
            ceiling=responder_ceiling(baseline, drop=responder_drop, fraction=responder_fraction),
            drop=responder_drop,
            fraction=responder_fraction,
            tz=tz,
            texts=texts,
            date_locale=date_locale,
            strip_days=[day for day, _ in adherence],
        )
        if strip is not None:
            _strip(ax, strip, adherence, tz, texts)
        extra = (
            [Patch(facecolor=STRIP_COLORS[m], label=texts[m.value]) for m in DayMark]
            if strip is not None
            else []
        )
        _legend(fig, ax, texts, extra)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _legend(fig: Figure, ax: Axes, texts: dict[str, str], extra: Sequence[Patch] = ()) -> None:
    """The legend below the plot, data lines first: what was measured, then the references,
    then the adherence strip's cells (`extra`)."""
    handles, labels = ax.get_legend_handles_labels()
    handles += list(extra)
    labels += [patch.get_label() for patch in extra]
    first = (texts["usual"], texts["soreness"])
    order = sorted(
        range(len(labels)),
        key=lambda i: (first.index(labels[i]) if labels[i] in first else len(first), i),
    )
    fig.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )


def _check(
    usual_pain: Sequence[ChartPoint],
    soreness: Sequence[ChartPoint],
    sessions: Sequence[datetime],
    baseline: int,
) -> None:
    """Refuse what would draw a wrong chart silently (see pain_chart_png)."""
    if not 0 <= baseline <= 10:
        raise ValueError(f"baseline must be 0–10, got {baseline}")
    for point in (*usual_pain, *soreness):
        if not 0 <= point.value <= 10:
            raise ValueError(f"a rating must be 0–10, got {point.value}")
        if point.at.utcoffset() is None:
            raise ValueError("chart points need aware datetimes")
    for at in sessions:
        if at.utcoffset() is None:
            raise ValueError("session times need aware datetimes")


def _draw(
    ax: Axes,
    *,
    title: str,
    usual_pain: Sequence[ChartPoint],
    soreness: Sequence[ChartPoint],
    sessions: Sequence[datetime],
    baseline: int,
    ceiling: int,
    drop: int,
    fraction: float,
    tz: ZoneInfo,
    texts: dict[str, str],
    date_locale: str,
    strip_days: Sequence[date] = (),
) -> None:
    """Everything inside the axes; legend entries come from the artists' labels."""
    ax.set_title(title, parse_math=False, usetex=False, pad=28)
    ax.set_ylim(-0.5, 10.5)
    ax.set_yticks(range(11))
    ax.set_ylabel(texts["y"])
    ax.set_xlabel(texts["x"].format(tz=tz.key))
    ax.grid(axis="y", color="#e3e3e3", linewidth=0.8)
    ax.set_axisbelow(True)

    ax.axhline(
        baseline,
        color=_BASELINE_COLOR,
        linewidth=1.6,
        label=texts["baseline"].format(b=baseline),
        zorder=1,
    )
    if ceiling >= 0:
        pct = Fraction(repr(fraction)) * 100
        ax.axhline(
            ceiling,
            color=_RESPONDER_COLOR,
            linewidth=1.6,
            linestyle=(0, (6, 3, 1, 3)),
            label=texts["responder"].format(p=ceiling, drop=drop, pct=f"{float(pct):g}"),
            zorder=1,
        )

    for i, at in enumerate(sessions, start=1):
        x = _num(at)
        ax.axvline(
            x,
            color=_SESSION_COLOR,
            linestyle="--",
            linewidth=1.2,
            label=texts["session"] if i == 1 else "_nolegend_",
            zorder=1,
        )
        ax.text(
            x,
            1.005,
            f"S{i}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=11,
            fontweight="bold",
            color=_SESSION_COLOR,
            parse_math=False,
            usetex=False,
        )

    for points, key, color, marker, width, breaks in (
        (soreness, "soreness", _SORENESS_COLOR, "s", 1.8, sessions),
        (usual_pain, "usual", _USUAL_COLOR, "o", 2.6, ()),
    ):
        xs, ys = _series(points, breaks)
        ax.plot(
            xs,
            ys,
            color=color,
            marker=marker,
            markersize=7,
            linewidth=width,
            label=texts[key],
            zorder=3,
        )

    if not usual_pain and not soreness:
        ax.text(
            0.5,
            0.5,
            texts["empty"],
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=18,
            color="#777777",
            parse_math=False,
            usetex=False,
        )

    instants = [p.at for p in (*usual_pain, *soreness)] + list(sessions)
    instants += [datetime.combine(day, time(12), tzinfo=tz) for day in strip_days]
    _date_axis(ax, instants, tz, date_locale)


def _strip(
    ax: Axes,
    strip: Axes,
    days: Sequence[tuple[date, DayMark]],
    tz: ZoneInfo,
    texts: dict[str, str],
) -> None:
    """The adherence strip: a cell per local day, midnight to midnight, under the pain
    axes (sharing their dates, whose label moves down to it)."""
    for day, mark in days:
        strip.axvspan(
            _local_num(day, time(0), tz),
            _local_num(day + timedelta(days=1), time(0), tz),
            facecolor=STRIP_COLORS[DayMark(mark)],
            edgecolor="white",
            linewidth=1.0,
        )
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_ylabel(texts["strip"], rotation=0, ha="right", va="center")
    strip.set_xlabel(ax.get_xlabel())
    ax.set_xlabel("")
    ax.tick_params(axis="x", which="both", labelbottom=False)
    strip.tick_params(axis="x", length=0)


def _series(
    points: Sequence[ChartPoint], breaks: Sequence[datetime]
) -> tuple[list[float], list[float]]:
    """x/y lists for one line, with a gap (NaN) wherever a session falls between two points.

    Soreness is the needles' own after-effect: it starts afresh with each
    session, so joining the last rating after one session to the first after
    the next would draw a week-long rise that never happened. Usual pain is
    one continuous course and is passed without breaks.
    """
    xs: list[float] = []
    ys: list[float] = []
    previous: datetime | None = None
    for point in points:
        if previous is not None and any(previous < at <= point.at for at in breaks):
            xs.append(math.nan)
            ys.append(math.nan)
        xs.append(_num(point.at))
        ys.append(float(point.value))
        previous = point.at
    return xs, ys


def _date_axis(ax: Axes, instants: Sequence[datetime], tz: ZoneInfo, date_locale: str) -> None:
    """Whole local days on the x axis, labelled "3 Mar" at local noon.

    Ticks are placed by hand rather than by AutoDateLocator, which picks hours
    for a short span and repeats the same day label; noon centres each label
    on its day, and faint lines mark local midnights.
    """
    if not instants:
        ax.set_xlim(0, 1)
        ax.set_xticks([])
        return
    first = min(instants).astimezone(tz).date()
    last = max(instants).astimezone(tz).date()
    if (last - first).days + 1 < _MIN_SPAN_DAYS:
        pad = _MIN_SPAN_DAYS - ((last - first).days + 1)
        first -= timedelta(days=pad // 2)
        last += timedelta(days=pad - pad // 2)
    days = (last - first).days + 1
    step = math.ceil(days / _MAX_DATE_TICKS)
    ax.set_xlim(_local_num(first, time(0), tz), _local_num(last + timedelta(days=1), time(0), tz))

    labelled = [first + timedelta(days=d) for d in range(0, days, step)]
    ax.set_xticks(
        [_local_num(d, time(12), tz) for d in labelled],
        [format_skeleton("MMMd", d, locale=date_locale) for d in labelled],
    )
    ax.tick_params(axis="x", length=0)
    ax.set_xticks(
        [_local_num(first + timedelta(days=d), time(0), tz) for d in range(1, days)], minor=True
    )
    ax.tick_params(axis="x", which="minor", length=5)
    if days <= 31:
        ax.grid(axis="x", which="minor", color="#f0f0f0", linewidth=0.8)


def _local_num(day: date, at: time, tz: ZoneInfo) -> float:
    """Matplotlib's float date of a local wall-clock time in tz."""
    return _num(datetime.combine(day, at, tzinfo=tz))


def _num(at: datetime) -> float:
    """Matplotlib's float date (days since its epoch, in UTC) of an aware instant."""
    return float(date2num(at))


def _wrapped(text: str) -> str:
    """The title broken at spaces into lines that fit the image, at most _TITLE_LINES.

    Done here, not with matplotlib's wrap=True: its wrapping measures words
    with mathtext even when parse_math is off (matplotlib 3.11), so a title
    like "$$ $" raised ValueError. Widths are measured with the real font
    (a line of "W" is twice as wide as one of "i"); a word wider than a line
    is cut by characters, and a title longer than the lines allow ends in "…"
    rather than running off the image. Must run under _DRAW_LOCK (font cache).
    """
    prop = FontProperties(family=_FONT, size=_STYLE["axes.titlesize"])
    measure = TextToPath()

    def fits(line: str) -> bool:
        width, _, _ = measure.get_text_width_height_descent(line, prop, ismath=False)
        return bool(width <= _TITLE_MAX_PT)

    # More than the lines can hold even in the narrowest glyphs: cut before
    # measuring, so a pathological title costs no more than a long one.
    clipped = len(text) > _TITLE_MAX_CHARS
    lines: list[str] = []
    for given in text[:_TITLE_MAX_CHARS].split("\n"):
        line = ""
        for word in given.split(" "):
            candidate = f"{line} {word}" if line else word
            if fits(candidate):
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while not fits(line):
                cut = 1
                while cut < len(line) and fits(line[: cut + 1]):
                    cut += 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    if clipped or len(lines) > _TITLE_LINES:
        last = lines[min(len(lines), _TITLE_LINES) - 1]
        while last and not fits(last + "…"):
            last = last[:-1]
        lines = [*lines[: _TITLE_LINES - 1], last.rstrip() + "…"]
    return "\n".join(lines)


def _drawable(text: str) -> str:
    """The title with what the font cannot draw replaced: '□' for glyphs, ' ' for controls.

    Newlines are kept (a title may have two lines); other control and format
    characters (tabs, zero-width joiners of emoji sequences) would otherwise
    draw as boxes of their own or trigger "glyph missing" warnings.
    """
    charmap = _charmap()
    out: list[str] = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(" " if unicodedata.category(ch) == "Cc" else "")
        elif ord(ch) in charmap or ch.isspace():
            out.append(ch)
        else:
            out.append(_MISSING_GLYPH)
    return "".join(out)


@lru_cache(maxsize=1)
def _charmap() -> frozenset[int]:
    """Code points the bundled font can draw (the title is set in its regular weight)."""
    path = findfont(FontProperties(family=_FONT), fallback_to_default=True)
    return frozenset(get_font(path).get_charmap())
