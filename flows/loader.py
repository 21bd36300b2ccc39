"""Load and validate a protocol file.

`load_protocol()` is the only I/O in flows: it reads one TOML file and returns
a frozen `Protocol`, or raises `ProtocolError` with a one-line message naming
the file, the entry and the problem. Validation is strict — unknown keys,
types, ranges, references, missing default-language texts, time formats and
windows — because a clinic's protocol decides what patients are asked and when
their therapist is alerted; a silently ignored typo is a clinical error.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flows.checkin_loader import CheckinReader, read_after_rules
from flows.context import REGION_TAGS
from flows.errors import ProtocolError
from flows.opening import OpeningHours
from flows.protocol import (
    DEFAULT_STEPS,
    DOSE_MAX,
    EXERCISE_CATEGORIES,
    MULTI_MAX_CHOICES,
    REQUIRED_ADVICE,
    SAFETY_KEYS,
    SETS_MAX,
    WEEKDAYS,
    AlertRules,
    Choice,
    Dosage,
    DoseUnit,
    Exercise,
    ExercisePlan,
    ProgressThresholds,
    Protocol,
    ProtocolInfo,
    Question,
    QuietHours,
    Region,
    TriageThresholds,
)
from flows.text import ACTIVITY_PLACEHOLDER, CLINIC_PLACEHOLDERS, Text, placeholders_in
from flows.toml_reader import Table, TextRules, parse_hhmm, quoted, read_text

__all__ = ["DEFAULT_PROTOCOL_PATH", "ProtocolError", "load_protocol", "parse_protocol"]

#: The protocol shipped with careloop (package data).
DEFAULT_PROTOCOL_PATH = Path(__file__).with_name("default_protocol.toml")

#: Telegram shows inline buttons on a phone in roughly this many characters.
BUTTON_MAX = 32
#: The bank question whose stored answers migration 0005 turned into bitmasks.
MULTI_SINCE_0005 = "Q4"
#: A multi question shows one choice per row, so its labels may be longer.
MULTI_BUTTON_MAX = 80
#: A question prompt must fit a phone screen above its buttons.
PROMPT_MAX = 250
TEXT_MAX = 1500
#: An exercise's name is a button label too (the therapist's programme buttons).
EXERCISE_NAME_MAX = 48
INSTRUCTIONS_MAX = 600
INSTRUCTION_LINES = (3, 5)

QUESTION_KEY = r"[A-Za-z][A-Za-z0-9_]{0,7}"
SLUG = r"[a-z][a-z0-9_]{0,39}"

_TOP_LEVEL = (
    "protocol",
    "quiet_hours",
    "ui",
    "regions",
    "questions",
    "checkins",
    "after",
    "exercises",
    "exercise_plan",
    "triage",
    "alerts",
    "progress",
    "safety",
    "advice",
)

#: Safety texts that are useless without a way to act on them.
_MUST_MENTION: dict[str, str] = {
    "not_emergency": "emergency_number",
    "emergency_signs": "emergency_number",
    "urgent_now": "emergency_number",
    "free_text": "emergency_number",
    "same_day_signs": "clinic_phone",
    "soon": "clinic_phone",
}

# Threshold kinds: (integer?, low, high). Pain scores are 0–10 values, points
# are 0–10 differences, hours are elapsed time.
_SCORE = ("int", 0, 10)
_POINTS = ("int", 1, 10)
_HOURS = ("float", 0, 24 * 28)
_DAYS = ("float", 0, 60)
_COUNT = ("int", 1, 100)
_FRACTION = ("float", 0, 1)

_TRIAGE_FIELDS: dict[str, tuple[str, float, float]] = {
    "urgent_callback_min": _SCORE,
    "callback_within_hours": _HOURS,
    "trunk_window_hours": _HOURS,
    "soon_q1_24h": _SCORE,
    "soon_q1_48h": _SCORE,
    "soon_q1_48h_alone": _SCORE,
    "soon_q1_72h": _SCORE,
    "baseline_rise": _POINTS,
    "baseline_rise_min_hours": _HOURS,
    "numbness_hours": _HOURS,
    "fever_site_within_days": _DAYS,
    "missed_checkins_window_hours": _HOURS,
    "missed_consecutive": _COUNT,
    "adherence_fraction": _FRACTION,
    "adherence_weeks": _COUNT,
}
_PROGRESS_FIELDS: dict[str, tuple[str, float, float]] = {
    "progress_min_hours_after_session": _HOURS,
    "responder_drop": _POINTS,
    "responder_fraction": _FRACTION,
    "stall_session": _COUNT,
    "stall_week": _COUNT,
    "stall_q7_gain": _POINTS,
    "reevaluate_sessions": _COUNT,
    "reevaluate_weeks": _COUNT,
    "reevaluate_rise": _POINTS,
    "reevaluate_consecutive": _COUNT,
    "plateau_readings": _COUNT,
    "plateau_move": _POINTS,
    "plateau_floor": _SCORE,
    "recovered_max": _SCORE,
}


def load_protocol(path: Path | None = None) -> Protocol:
    """Read and validate a protocol file; None → the bundled default protocol."""
    path = DEFAULT_PROTOCOL_PATH if path is None else Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProtocolError(file, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(file, "", "is not UTF-8 text") from None
    return parse_protocol(source, file=file)


def parse_protocol(source: str, *, file: str = "<protocol>") -> Protocol:
    """Validate protocol TOML given as a string (`file` only names it in errors)."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(file, exc) from None
    return _Builder(file).build(data)


def _toml_error(file: str, exc: tomllib.TOMLDecodeError) -> ProtocolError:
    """tomllib's message, with the position as the entry and duplicates named as such."""
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    where = f"line {match.group(1)}, column {match.group(2)}" if match else ""
    problem = message[: match.start()].strip() if match else message
    if problem.startswith(("Cannot overwrite a value", "Cannot declare")):
        problem = f"duplicate key or table ({problem})"
    return ProtocolError(file, where, f"invalid TOML: {problem}")


class _Builder:
    """Builds a Protocol section by section, in dependency order."""

    def __init__(self, file: str) -> None:
        self.file = file

    def build(self, data: dict[str, Any]) -> Protocol:
        root = Table(self.file, "top level", data, _TOP_LEVEL)
        info = self.read_info(root.raw("protocol"))
        rules = TextRules(info.default_language, info.languages)
        quiet = self.read_quiet(root.raw("quiet_hours"))
        yes, no = self.read_ui(root.raw("ui"), rules)
        regions = self.read_regions(root.raw("regions"), rules)
        questions = self.read_questions(root.raw("questions"), rules)
        checkins = CheckinReader(self.file, info, rules, quiet, questions).read_all(
            root.raw("checkins")
        )
        advice = self.read_advice(root.raw("advice"), rules)
        after = read_after_rules(self.file, root.raw("after", []), rules, questions, advice)
        exercises = self.read_exercises(root.raw("exercises"), rules)
        plan = self.read_exercise_plan(root.raw("exercise_plan"), rules, quiet, exercises)
        triage = TriageThresholds(
            **self.read_numbers("[triage]", root.raw("triage"), _TRIAGE_FIELDS)
        )
        progress = self.read_progress(root.raw("progress"), questions)
        alerts = self.read_alerts(root.raw("alerts"))
        safety = self.read_safety(root.raw("safety"), rules)
        return Protocol(
            info=info,
            quiet_hours=quiet,
            yes=yes,
            no=no,
            regions=MappingProxyType(regions),
            questions=MappingProxyType(questions),
            checkins=MappingProxyType(checkins),
            after=after,
            exercises=MappingProxyType(exercises),
            exercise_plan=plan,
            triage=triage,
            progress=progress,
            safety=MappingProxyType(safety),
            advice=MappingProxyType(advice),
            source=self.file,
            alerts=alerts,
        )

    # -- [protocol], [quiet_hours], [ui] -----------------------------------------------

    def read_info(self, raw: object) -> ProtocolInfo:
        table = Table(
            self.file,
            "[protocol]",
            raw,
            (
                "id",
                "version",
                "default_language",
                "languages",
                "max_questions_per_checkin",
                "max_activities",
            ),
        )
        languages = table.string_list("languages")
        for lang in languages:
            if re.fullmatch(r"[a-z]{2,3}", lang) is None:
                raise table.error(f'language "{lang}" is not a two- or three-letter code like "en"')
        default = table.string("default_language")
        if default not in languages:
            raise table.error(f'"default_language" "{default}" is not in "languages"')
        return ProtocolInfo(
            id=table.string("id", pattern=r"[a-z0-9][a-z0-9._-]*"),
            version=table.string("version"),
            default_language=default,
            languages=tuple(languages),
            max_questions_per_checkin=table.integer("max_questions_per_checkin", 1, 10),
            max_activities=table.integer("max_activities", 0, 5),
        )

    def read_quiet(self, raw: object) -> QuietHours:
        table = Table(self.file, "[quiet_hours]", raw, ("start", "end", "late_grace_minutes"))
        start, end = table.clock("start"), table.clock("end")
        if start == end:
            raise table.error('"start" and "end" are equal: quiet hours would be empty or all day')
        grace = table.integer("late_grace_minutes", 0, 180, 60)
        return QuietHours(start=start, end=end, late_grace=timedelta(minutes=grace))

    def read_ui(self, raw: object, rules: TextRules) -> tuple[Text, Text]:
        table = Table(self.file, "[ui]", raw, ("yes", "no"))
        yes: Text = table.text("yes", rules, max_length=BUTTON_MAX)
        no: Text = table.text("no", rules, max_length=BUTTON_MAX)
        return yes, no

    # -- regions and questions ------------------------------------------------------------

    def read_regions(self, raw: object, rules: TextRules) -> dict[str, Region]:
        section = Table(self.file, "[regions]", raw, _keys_of(raw))
        if not section.data:
            raise section.error("defines no regions")
        regions: dict[str, Region] = {}
        for key, body in section.data.items():
            table = Table(self.file, f'region "{key}"', body, ("label", "tag"))
            self.check_key(table, key, SLUG)
            regions[key] = Region(
                key=key,
                label=table.text("label", rules, max_length=BUTTON_MAX),
                tag=table.one_of("tag", sorted(REGION_TAGS)),
            )
        return regions

    def read_questions(self, raw: object, rules: TextRules) -> dict[str, Question]:
        section = Table(self.file, "[questions]", raw, _keys_of(raw))
        if not section.data:
            raise section.error("defines no questions")
        questions: dict[str, Question] = {}
        names: dict[str, str] = {}
        for key, body in section.data.items():
            question = self.read_question(key, body, rules)
            if question.name in names:
                raise ProtocolError(
                    self.file,
                    f'question "{key}"',
                    f'name "{question.name}" is already used by question "{names[question.name]}"',
                )
            names[question.name] = key
            questions[key] = question
        return questions

    def read_question(self, key: str, body: object, rules: TextRules) -> Question:
        entry = f'question "{key}"'
        kind_probe = body.get("kind") if isinstance(body, dict) else None
        extra: tuple[str, ...] = {
            "scale": ("better", "per_activity"),
            "count": ("better",),
            "choice": ("choices",),
            "multi": ("choices", "counts_after_minutes"),
        }.get(kind_probe if isinstance(kind_probe, str) else "", ())
        table = Table(self.file, entry, body, ("name", "kind", "prompt", "loinc", *extra))
        self.check_key(table, key, QUESTION_KEY)
        kind = table.one_of("kind", ("scale", "choice", "multi", "yes_no", "count"))
        if key == MULTI_SINCE_0005 and kind != "multi":
            raise table.error(
                'must be kind "multi": its stored answers are choice bitmasks since migration 0005'
            )
        per_activity = table.boolean("per_activity", False)
        allowed = frozenset({ACTIVITY_PLACEHOLDER}) if per_activity else frozenset()
        prompt: Text = table.text("prompt", rules, placeholders=allowed, max_length=PROMPT_MAX)
        for lang, sentence in prompt.items if per_activity else ():
            if ACTIVITY_PLACEHOLDER not in placeholders_in(sentence):
                raise table.error(
                    f'text "prompt" ("{lang}") of a per-activity question must use {{activity}}'
                )
        loinc = table.string("loinc", None)
        if loinc is not None and not loinc_is_valid(loinc):
            raise table.error(f'"loinc" = "{loinc}" is not a LOINC code (digits-check digit)')
        return Question(
            key=key,
            name=table.string("name", pattern=SLUG),
            kind=kind,
            prompt=prompt,
            choices=self.read_choices(table, rules, multi=kind == "multi")
            if kind in ("choice", "multi")
            else (),
            better=table.one_of("better", ("higher", "lower"))
            if kind in ("scale", "count")
            else None,
            loinc=loinc,
            per_activity=per_activity,
            # minutes: a selection left standing this long counts (a day at most)
            counts_after_minutes=(
                table.number("counts_after_minutes", 0, 24 * 60, lo_inclusive=False)
                if kind == "multi"
                else None
            ),
        )

    def read_choices(self, table: Table, rules: TextRules, *, multi: bool) -> tuple[Choice, ...]:
        """The choices of a choice or multi question.

        A multi answer is a bitmask of choice indexes, so a multi question has at
        most MULTI_MAX_CHOICES choices; "exclusive" (multi only) marks the choice
        that clears the others ("Nothing new").
        """
        most = MULTI_MAX_CHOICES if multi else 10
        raw = table.raw("choices")
        if not isinstance(raw, list) or not 2 <= len(raw) <= most:
            raise table.error(
                f'"choices" must be an array of 2 to {most} tables ([[questions.X.choices]])'
            )
        allowed = ("key", "text", "exclusive") if multi else ("key", "text")
        choices: list[Choice] = []
        for n, body in enumerate(raw, 1):
            sub = Table(self.file, f"{table.entry}, choice {n}", body, allowed)
            key = sub.string("key", pattern=SLUG)
            if any(c.key == key for c in choices):
                raise table.error(f'choice "{key}" is listed twice')
            label = sub.text("text", rules, max_length=MULTI_BUTTON_MAX if multi else BUTTON_MAX)
            choices.append(Choice(key=key, text=label, exclusive=sub.boolean("exclusive", False)))
        if multi and all(c.exclusive for c in choices):
            raise table.error("a multi question needs at least one choice that is not exclusive")
        return tuple(choices)

    def check_key(self, table: Table, key: str, pattern: str) -> None:
        if re.fullmatch(pattern, key) is None:
            raise table.error(f'key "{key}" must match {pattern}')

    # -- exercises ------------------------------------------------------------------------

    def read_exercises(self, raw: object, rules: TextRules) -> dict[str, Exercise]:
        """The exercise library. Each entry is checked on its own, then the `next` chain:
        a progression must name an exercise that exists, not itself, and never loop."""
        section = Table(self.file, "[exercises]", raw, _keys_of(raw))
        if not section.data:
            raise section.error("must define at least one exercise")
        exercises: dict[str, Exercise] = {}
        for key, body in section.data.items():
            table = Table(
                self.file,
                f'exercise "{key}"',
                body,
                ("category", "name", "instructions", "dosage", "days", "next"),
            )
            self.check_key(table, key, SLUG)
            following = table.string("next", None)
            if following is not None and (following == key or following not in section.data):
                raise table.error(f'"next": exercise "{following}" is not defined')
            exercises[key] = Exercise(
                key=key,
                category=table.one_of("category", EXERCISE_CATEGORIES),
                name=table.text("name", rules, max_length=EXERCISE_NAME_MAX),
                instructions=self.read_instructions(table, rules),
                dosage=self.read_dosage(table),
                days=self.read_days(table, "days"),
                next=following,
            )
        for key in exercises:
            seen = [key]
            following = exercises[key].next
            while following is not None:
                if following in seen:
                    chain = " → ".join([*seen, following])
                    raise ProtocolError(
                        self.file, f'exercise "{key}"', f'"next" goes round in a loop: {chain}'
                    )
                seen.append(following)
                following = exercises[following].next
        return exercises

    def read_instructions(self, table: Table, rules: TextRules) -> Text:
        """3–5 short lines: position, movement, what you should feel, when to stop."""
        text: Text = table.text("instructions", rules, max_length=INSTRUCTIONS_MAX)
        for lang, body in text.translations.items():
            lines = [line for line in body.strip().splitlines() if line.strip()]
            if not INSTRUCTION_LINES[0] <= len(lines) <= INSTRUCTION_LINES[1]:
                raise table.error(
                    f'text "instructions" ("{lang}") has {len(lines)} lines; write '
                    f"{INSTRUCTION_LINES[0]}–{INSTRUCTION_LINES[1]} (position, movement, "
                    "what you should feel, when to stop)"
                )
        return Text.from_mapping(
            {
                lang: "\n".join(line.strip() for line in body.strip().splitlines() if line.strip())
                for lang, body in text.translations.items()
            },
            rules.default_language,
        )

    def read_dosage(self, table: Table) -> Dosage:
        """`{ sets = 2, reps = 10 }`, `{ sets = 2, hold_seconds = 30, each_side = true }` or
        `{ sets = 1, minutes = 20 }`: exactly one amount, in range, and an optional step."""
        units: dict[str, DoseUnit] = {
            "reps": "reps",
            "hold_seconds": "seconds",
            "minutes": "minutes",
        }
        sub = Table(
            self.file,
            f"{table.entry}, dosage",
            table.raw("dosage"),
            ("sets", *units, "each_side", "step"),
        )
        given = [key for key in units if sub.has(key)]
        if len(given) != 1:
            raise sub.error(
                f"give exactly one of {quoted(list(units))}, got "
                + (quoted(given) if given else "none")
            )
        unit = units[given[0]]
        step = sub.integer("step", 1, DOSE_MAX[unit] // 2, DEFAULT_STEPS[unit])
        return Dosage(
            sets=sub.integer("sets", 1, SETS_MAX),
            amount=sub.integer(given[0], step, DOSE_MAX[unit]),
            unit=unit,
            each_side=sub.boolean("each_side", False),
            step=step,
        )

    def read_days(self, table: Table, key: str) -> tuple[int, ...]:
        days = table.string_list(key)
        if not days:
            raise table.error(f'"{key}" must list at least one day')
        for day in days:
            if day not in WEEKDAYS:
                raise table.error(f'"{key}": "{day}" is not one of {quoted(WEEKDAYS)}')
        return tuple(sorted(WEEKDAYS.index(day) for day in days))

    def read_exercise_plan(
        self, raw: object, rules: TextRules, quiet: QuietHours, library: Mapping[str, Exercise]
    ) -> ExercisePlan:
        table = Table(
            self.file,
            "[exercise_plan]",
            raw,
            (
                "reminder_time",
                "daily_weeks",
                "later_days",
                "picks_min",
                "picks_max",
                "reminder",
                "needling_day",
                "default_programme",
                "painful_window_days",
                "painful_soon_days",
            ),
        )
        reminder_time = table.clock("reminder_time")
        if quiet.contains(reminder_time):
            raise table.error(f'"reminder_time" = "{reminder_time:%H:%M}" is inside quiet hours')
        picks_min = table.integer("picks_min", 1, 10)
        picks_max = table.integer("picks_max", picks_min, 10)
        if len(library) < picks_min:
            raise table.error(
                f"[exercises] defines {len(library)} exercises; picks_min is {picks_min}"
            )
        programme = table.string_list("default_programme")
        for key in programme:
            if key not in library:
                raise table.error(f'"default_programme": exercise "{key}" is not defined')
        if not picks_min <= len(programme) <= picks_max:
            raise table.error(
                f'"default_programme" lists {len(programme)} exercises; '
                f"picks_min–picks_max is {picks_min}–{picks_max}"
            )
        return ExercisePlan(
            reminder_time=reminder_time,
            daily_weeks=table.integer("daily_weeks", 0, 52),
            later_days=self.read_days(table, "later_days"),
            picks_min=picks_min,
            picks_max=picks_max,
            reminder=table.text(
                "reminder", rules, placeholders=CLINIC_PLACEHOLDERS, max_length=TEXT_MAX
            ),
            needling_day=table.text(
                "needling_day", rules, placeholders=CLINIC_PLACEHOLDERS, max_length=TEXT_MAX
            ),
            default_programme=tuple(programme),
            painful_window_days=table.integer("painful_window_days", 1, 60, 7),
            painful_soon_days=table.integer("painful_soon_days", 2, 14, 2),
        )

    # -- thresholds -------------------------------------------------------------------------

    def read_numbers(
        self, entry: str, raw: object, fields: Mapping[str, tuple[str, float, float]], *extra: str
    ) -> dict[str, Any]:
        table = Table(self.file, entry, raw, (*fields, *extra))
        values: dict[str, Any] = {}
        for key, (kind, lo, hi) in fields.items():
            if kind == "int":
                values[key] = table.integer(key, int(lo), int(hi))
            else:
                values[key] = table.number(key, lo, hi, lo_inclusive=False)
        return values

    def read_alerts(self, raw: object) -> AlertRules:
        table = Table(
            self.file,
            "[alerts]",
            raw,
            ("urgent_repeat_hours", "new_alert_after_days", "opening_days", "opening_hours"),
        )
        days = self.read_days(table, "opening_days")
        hours = table.string_list("opening_hours")
        if len(hours) != 2:
            raise table.error('"opening_hours" must be two times, like ["08:00", "20:00"]')
        times = [parse_hhmm(h) for h in hours]
        if times[0] is None or times[1] is None:
            raise table.error('"opening_hours" must be 24-hour "HH:MM" times')
        if times[0] >= times[1]:
            raise table.error('"opening_hours": the clinic must open before it closes')
        return AlertRules(
            urgent_repeat_hours=table.number("urgent_repeat_hours", 0, 24 * 7, lo_inclusive=False),
            new_alert_after_days=table.number("new_alert_after_days", 0, 90, lo_inclusive=False),
            opening_hours=OpeningHours(days, times[0], times[1]),
        )

    def read_progress(self, raw: object, questions: Mapping[str, Question]) -> ProgressThresholds:
        optional = ("stall_q8_min", "adherence_unreported_weeks")
        values = self.read_numbers("[progress]", raw, _PROGRESS_FIELDS, *optional)
        table = Table(self.file, "[progress]", raw, (*_PROGRESS_FIELDS, *optional))
        values["adherence_unreported_weeks"] = table.integer("adherence_unreported_weeks", 1, 52, 2)
        q8_min = table.string("stall_q8_min")
        q8 = questions.get("Q8")
        if q8 is None or q8.kind != "choice":
            raise table.error('"stall_q8_min" needs question "Q8" (global change) to be a choice')
        if all(c.key != q8_min for c in q8.choices):
            raise table.error(f'"stall_q8_min": question "Q8" has no choice "{q8_min}"')
        return ProgressThresholds(stall_q8_min=q8_min, **values)

    # -- safety and advice texts ---------------------------------------------------------

    def read_safety(self, raw: object, rules: TextRules) -> dict[str, Text]:
        table = Table(self.file, "[safety]", raw, SAFETY_KEYS)
        texts: dict[str, Text] = {}
        for key in SAFETY_KEYS:
            text: Text = table.text(
                key, rules, placeholders=CLINIC_PLACEHOLDERS, max_length=TEXT_MAX
            )
            needed = _MUST_MENTION.get(key)
            if needed is not None:
                for lang, sentence in text.items:
                    if "{" + needed + "}" not in sentence:
                        raise table.error(
                            f'text "{key}" ("{lang}") must show {{{needed}}}: the patient'
                            " needs it to act on this text"
                        )
            texts[key] = text
        return texts

    def read_advice(self, raw: object, rules: TextRules) -> dict[str, Text]:
        table = Table(self.file, "[advice]", raw, _keys_of(raw))
        for key in REQUIRED_ADVICE:
            table.raw(key)
        texts: dict[str, Text] = {}
        for key in table.data:
            self.check_key(table, key, SLUG)
            texts[key] = read_text(
                table,
                f'text "{key}"',
                table.raw(key),
                rules,
                placeholders=CLINIC_PLACEHOLDERS,
                max_length=TEXT_MAX,
            )
        return texts


def loinc_is_valid(code: str) -> bool:
    """LOINC codes are digits, a hyphen and a mod-10 check digit (72514-3)."""
    match = re.fullmatch(r"(\d{1,7})-(\d)", code)
    if match is None:
        return False
    digits, check = match.group(1), int(match.group(2))
    from_right = digits[::-1]
    odd = "".join(reversed(from_right[0::2]))
    even = "".join(reversed(from_right[1::2]))
    total = sum(int(d) for d in even + str(int(odd) * 2))
    return (10 - total % 10) % 10 == check


def _keys_of(raw: object) -> tuple[str, ...]:
    """Every key of an open-keyed section (regions, questions…), all allowed."""
    return tuple(raw) if isinstance(raw, dict) else ()
