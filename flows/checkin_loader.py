"""Reading [checkins.*] and [[after]] from the protocol file.

Check-ins refer to each other (the 72 h check-in looks at the 48 h answers), so
they are read in two passes: a tolerant first pass learns every check-in's
offset and questions, the strict second pass reads each one fully and can then
check every reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any

from flows.condition_loader import TEST_KEYS, EarlierCheckins, read_guard, read_value_test
from flows.errors import ProtocolError
from flows.protocol import (
    WEEKDAYS,
    AfterRule,
    AfterSession,
    CheckinDef,
    CourseWeekly,
    Expiry,
    OnDemand,
    OnWeekday,
    ProtocolInfo,
    Question,
    QuestionEntry,
    QuietHours,
    Schedule,
)
from flows.text import CLINIC_PLACEHOLDERS, Text
from flows.toml_reader import Table, TextRules, read_text

CHECKIN_KEY = r"[a-z][a-z0-9_]{0,15}"
SCHEDULES = ("after_session", "course_weekly", "weekday", "on_demand")
_COMMON = (
    "schedule",
    "intro",
    "questions",
    "when_any",
    "when_all",
    "expires_after_hours",
    "expires_at_local",
    "nudge_after_hours",
    "superseded_by_new_session",
    "routine",
)
_SCHEDULE_KEYS: dict[str, tuple[str, ...]] = {
    "after_session": (
        "offset_hours",
        "evening_from",
        "evening_offset_hours",
        "not_after",
        "min_offset_hours",
        "window",
    ),
    "course_weekly": ("every_days", "at", "day_before_next_session", "min_days_between"),
    "weekday": ("weekday", "at"),
    "on_demand": (),
}
#: Longest offset or delay we accept, so that a typo (720 for 72) is caught.
MAX_HOURS = 24.0 * 28
INTRO_MAX = 300


class CheckinReader:
    """Reads all check-ins of one file against the already-read question bank."""

    def __init__(
        self,
        file: str,
        info: ProtocolInfo,
        rules: TextRules,
        quiet: QuietHours,
        questions: Mapping[str, Question],
    ) -> None:
        self.file = file
        self.info = info
        self.rules = rules
        self.quiet = quiet
        self.questions = questions

    def read_all(self, raw: object) -> dict[str, CheckinDef]:
        section = Table(self.file, "[checkins]", raw, _any_keys(raw))
        if not section.data:
            raise section.error("defines no check-ins")
        offsets, asks = _first_pass(section.data)
        checkins: dict[str, CheckinDef] = {}
        for key, body in section.data.items():
            entry = f'checkin "{key}"'
            if re.fullmatch(CHECKIN_KEY, key) is None:
                raise ProtocolError(
                    self.file,
                    entry,
                    f"key must match {CHECKIN_KEY} (short: it travels in callbacks)",
                )
            earlier = EarlierCheckins(
                current=key if key in offsets else None, offsets=offsets, asks=asks
            )
            checkins[key] = self.read_one(key, entry, body, earlier)
        on_demand = [k for k, c in checkins.items() if isinstance(c.schedule, OnDemand)]
        if len(on_demand) > 1:
            raise section.error(
                f"at most one on_demand check-in (the patient's /symptom); found {on_demand}"
            )
        return checkins

    def read_one(self, key: str, entry: str, body: object, earlier: EarlierCheckins) -> CheckinDef:
        kind_probe = body.get("schedule") if isinstance(body, dict) else None
        extra = _SCHEDULE_KEYS.get(kind_probe, ()) if isinstance(kind_probe, str) else ()
        table = Table(self.file, entry, body, (*_COMMON, *extra))
        kind = table.one_of("schedule", SCHEDULES)
        schedule = self.read_schedule(table, kind)
        questions = self.read_questions(table, earlier)
        guard = read_guard(table, self.questions, earlier)
        expiry = self.read_expiry(table)
        nudge_hours = table.number("nudge_after_hours", 0, MAX_HOURS, None, lo_inclusive=False)
        if nudge_hours is not None and expiry.after is not None:
            if timedelta(hours=nudge_hours) >= expiry.after:
                raise table.error(
                    '"nudge_after_hours" must be shorter than "expires_after_hours",'
                    " or the reminder would never be sent"
                )
        return CheckinDef(
            key=key,
            intro=table.text(
                "intro", self.rules, placeholders=CLINIC_PLACEHOLDERS, max_length=INTRO_MAX
            ),
            schedule=schedule,
            questions=questions,
            guard=guard,
            expiry=expiry,
            nudge_after=None if nudge_hours is None else timedelta(hours=nudge_hours),
            superseded_by_new_session=table.boolean("superseded_by_new_session"),
            routine=table.boolean("routine"),
            max_questions=self.info.max_questions_per_checkin,
            max_activities=self.info.max_activities,
        )

    # -- schedules -----------------------------------------------------------------

    def read_schedule(self, table: Table, kind: str) -> Schedule:
        if kind == "after_session":
            return self.read_after_session(table)
        if kind == "course_weekly":
            every = table.integer("every_days", 1, 28)
            weekly_at = self.not_quiet(table, "at", table.clock("at"))
            gap = table.integer("min_days_between", 0, every - 1)
            return CourseWeekly(
                every_days=every,
                at=weekly_at,
                day_before_next_session=table.boolean("day_before_next_session"),
                min_days_between=gap,
            )
        if kind == "on_demand":
            return OnDemand()
        day = table.one_of("weekday", WEEKDAYS)
        if table.raw("at") == "reminder_time":
            return OnWeekday(weekday=WEEKDAYS.index(day), at=None)
        at = self.not_quiet(table, "at", table.clock("at"))
        return OnWeekday(weekday=WEEKDAYS.index(day), at=at)

    def read_after_session(self, table: Table) -> AfterSession:
        offset = table.number("offset_hours", 0, MAX_HOURS, lo_inclusive=False)
        evening_from = table.clock("evening_from", None)
        evening_hours = table.number("evening_offset_hours", 0, MAX_HOURS, None, lo_inclusive=False)
        if (evening_from is None) != (evening_hours is None):
            raise table.error('"evening_from" and "evening_offset_hours" go together')
        not_after = table.clock("not_after", None)
        if not_after is not None:
            self.not_quiet(table, "not_after", not_after)
        min_offset = table.number("min_offset_hours", 0, MAX_HOURS, None)
        if min_offset is not None and not_after is None:
            raise table.error('"min_offset_hours" only applies with "not_after"')
        if evening_from is not None and not_after is not None and evening_from >= not_after:
            raise table.error('"evening_from" must be earlier than "not_after"')
        window = self.read_window(table)
        if window is not None and not_after is not None:
            raise table.error('"window" and "not_after" cannot be combined')
        return AfterSession(
            offset=timedelta(hours=offset),
            evening_from=evening_from,
            evening_offset=None if evening_hours is None else timedelta(hours=evening_hours),
            not_after=not_after,
            min_offset=timedelta(hours=min_offset or 0),
            window=window,
        )

    def read_window(self, table: Table) -> tuple[time, time] | None:
        raw = table.raw("window", None)
        if raw is None:
            return None
        if not isinstance(raw, list) or len(raw) != 2:
            raise table.error('"window" must be ["HH:MM", "HH:MM"]')
        probe = Table(self.file, table.entry, {"start": raw[0], "end": raw[1]}, ("start", "end"))
        start, end = probe.clock("start"), probe.clock("end")
        if start >= end:
            raise table.error(f'"window" start {start:%H:%M} must be before its end {end:%H:%M}')
        if _overlaps_quiet(self.quiet, start, end):
            raise table.error(
                f'"window" {start:%H:%M}–{end:%H:%M} overlaps quiet hours'
                f" {self.quiet.start:%H:%M}–{self.quiet.end:%H:%M}"
            )
        return start, end

    def not_quiet(self, table: Table, key: str, value: time) -> time:
        if self.quiet.contains(value):
            raise table.error(
                f'"{key}" = "{value:%H:%M}" is inside quiet hours'
                f" {self.quiet.start:%H:%M}–{self.quiet.end:%H:%M}"
            )
        return value

    def read_expiry(self, table: Table) -> Expiry:
        after = table.number("expires_after_hours", 0, MAX_HOURS, None, lo_inclusive=False)
        at_local = table.clock("expires_at_local", None)
        if after is None and at_local is None:
            raise table.error(
                'needs "expires_after_hours" and/or "expires_at_local": when is it too late?'
            )
        return Expiry(after=None if after is None else timedelta(hours=after), at_local=at_local)

    # -- questions -----------------------------------------------------------------

    def read_questions(self, table: Table, earlier: EarlierCheckins) -> tuple[QuestionEntry, ...]:
        raw = table.raw("questions")
        if not isinstance(raw, list) or not raw:
            raise table.error('"questions" must be a non-empty list')
        entries: list[QuestionEntry] = []
        seen: set[str] = set()
        for n, item in enumerate(raw, 1):
            entry = self.read_entry(table, n, item, earlier)
            if entry.question in seen:
                raise table.error(f'question "{entry.question}" is listed twice')
            seen.add(entry.question)
            entries.append(entry)
        required = sum(1 for e in entries if not e.optional)
        limit = self.info.max_questions_per_checkin
        if required > limit:
            raise table.error(
                f"asks up to {required} questions that are not optional; at most {limit}"
                " (max_questions_per_checkin; a per-activity question counts as one)."
                " Mark some `optional = true` or remove them"
            )
        return tuple(entries)

    def read_entry(
        self, table: Table, n: int, item: object, earlier: EarlierCheckins
    ) -> QuestionEntry:
        if isinstance(item, str):
            key, guard, optional = item, None, False
        else:
            sub = Table(
                self.file,
                f"{table.entry}, questions item {n}",
                item,
                ("ask", "when_any", "when_all", "optional"),
                what='a question key or a table like { ask = "Q5", when_any = [...] }',
            )
            key = sub.string("ask")
            guard = read_guard(sub, self.questions, earlier)
            optional = sub.boolean("optional", False)
        question = self.questions.get(key)
        if question is None:
            raise table.error(f'question "{key}" is not in the question bank')
        if guard is None:
            return QuestionEntry(question=key, per_activity=question.per_activity)
        return QuestionEntry(
            question=key, guard=guard, optional=optional, per_activity=question.per_activity
        )


def read_after_rules(
    file: str,
    raw: object,
    rules: TextRules,
    questions: Mapping[str, Question],
    advice: Mapping[str, Text],
) -> tuple[AfterRule, ...]:
    """[[after]]: texts shown after an answer (e.g. "a small bruise is normal")."""
    if not isinstance(raw, list):
        raise ProtocolError(file, "[[after]]", "must be an array of tables ([[after]])")
    no_answers = EarlierCheckins(current=None, offsets={}, asks={})
    result: list[AfterRule] = []
    for n, body in enumerate(raw, 1):
        table = Table(
            file,
            f"after rule {n}",
            body,
            ("question", *TEST_KEYS, "text", "advice", "when_any", "when_all"),
        )
        key = table.string("question")
        question = questions.get(key)
        if question is None:
            raise table.error(f'question "{key}" is not in the question bank')
        test = read_value_test(table, question)
        if table.has("text") == table.has("advice"):
            raise table.error(
                'needs exactly one of "text" (inline) or "advice" (a key of [advice])'
            )
        if table.has("advice"):
            name = table.string("advice")
            if name not in advice:
                raise table.error(f'advice "{name}" is not defined in [advice]')
            text = advice[name]
        else:
            text = read_text(
                table, 'text "text"', table.raw("text"), rules, placeholders=CLINIC_PLACEHOLDERS
            )
        guard = read_guard(table, questions, no_answers)
        result.append(AfterRule(question=key, test=test, text=text, guard=guard))
    return tuple(result)


def _first_pass(data: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, frozenset[str]]]:
    """Offsets of after-session check-ins and the questions each check-in lists.

    Tolerant on purpose: anything malformed is reported by the strict pass.
    """
    offsets: dict[str, float] = {}
    asks: dict[str, frozenset[str]] = {}
    for key, body in data.items():
        if not isinstance(body, dict):
            continue
        offset = body.get("offset_hours")
        if body.get("schedule") == "after_session" and isinstance(offset, int | float):
            offsets[key] = float(offset)
        items = body.get("questions")
        keys: set[str] = set()
        if isinstance(items, list):
            for item in items:
                if isinstance(item, str):
                    keys.add(item)
                elif isinstance(item, dict) and isinstance(item.get("ask"), str):
                    keys.add(item["ask"])
        asks[key] = frozenset(keys)
    return offsets, asks


def _overlaps_quiet(quiet: QuietHours, start: time, end: time) -> bool:
    """Whether [start, end] shares any moment with the quiet interval."""
    if quiet.start < quiet.end:
        return start < quiet.end and end > quiet.start
    return start < quiet.end or end > quiet.start


def _any_keys(raw: object) -> tuple[str, ...]:
    return tuple(raw) if isinstance(raw, dict) else ()
