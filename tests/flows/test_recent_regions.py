"""`{ region = "TRUNK", within_hours = 72 }`: a region needled in ANY recent session (the
/symptom check-in's Q5), on both sides of the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from care.context import recent_tags
from flows.conditions import RegionIs, condition_holds
from flows.context import PatientContext
from flows.engine import questions_for
from flows.loader import load_protocol
from flows.protocol import Protocol
from store.models import NeedlingSession

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol()


def ctx(recent: dict[str, float], tags: frozenset[str] = frozenset()) -> PatientContext:
    return PatientContext(region_tags=tags, baseline=5, recent_tags=recent)


@pytest.mark.parametrize(
    ("age", "holds"),
    [(0.0, True), (71.9, True), (72.0, True), (72.01, False), (200.0, False)],
)
def test_within_hours_both_sides(age: float, holds: bool) -> None:
    assert condition_holds(RegionIs("TRUNK", within_hours=72), ctx({"TRUNK": age})) is holds


def test_within_hours_needs_that_tag_and_ignores_the_own_session() -> None:
    recent_trunk = RegionIs("TRUNK", within_hours=72)
    assert not condition_holds(recent_trunk, ctx({"LOWER": 1.0}))
    # the check-in's own session being TRUNK is not enough: it must be recent
    assert not condition_holds(recent_trunk, ctx({}, frozenset({"TRUNK"})))
    # the plain form still reads the check-in's own session only
    assert condition_holds(RegionIs("TRUNK"), ctx({}, frozenset({"TRUNK"})))
    assert not condition_holds(RegionIs("TRUNK"), ctx({"TRUNK": 1.0}))


def session(number: int, hours_ago: float, regions: list[str]) -> NeedlingSession:
    return NeedlingSession(
        patient_id=1,
        number=number,
        ended_at=NOW - timedelta(hours=hours_ago),
        regions=regions,
        created_at=NOW,
    )


def test_recent_tags_takes_the_latest_session_of_each_tag(protocol: Protocol) -> None:
    sessions = [
        session(1, 200, ["thoracic"]),
        session(2, 48, ["neck_shoulder", "piriformis"]),  # yesterday's TRUNK session
        session(3, 2, ["hamstrings"]),  # today: LOWER only
        session(4, -1, ["thoracic"]),  # not ended yet at NOW: ignored
    ]
    assert recent_tags(protocol, sessions, NOW) == {"TRUNK": 48.0, "LOWER": 2.0}


def test_symptom_checkin_asks_q5_after_any_recent_trunk_session(protocol: Protocol) -> None:
    symptom = protocol.checkin("symptom")
    lower_today = frozenset({"LOWER"})

    def asked(recent: dict[str, float], leg: bool = False) -> list[str]:
        context = PatientContext(
            region_tags=lower_today, baseline=5, recent_tags=recent, leg_symptoms=leg
        )
        return [ref.question for ref in questions_for(symptom, context)]

    assert asked({"TRUNK": 48.0, "LOWER": 2.0}) == ["Q4", "Q3", "Q5", "Q6"]
    assert asked({"TRUNK": 72.5, "LOWER": 2.0}) == ["Q4", "Q3", "Q6"]
    no_session = PatientContext(region_tags=frozenset(), baseline=0)
    assert [r.question for r in questions_for(symptom, no_session)] == ["Q4", "Q3"]
    with_legs = PatientContext(region_tags=frozenset(), baseline=0, leg_symptoms=True)
    assert [r.question for r in questions_for(symptom, with_legs)] == ["Q4", "Q3", "Q6"]
