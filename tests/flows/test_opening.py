"""Opening hours and the [alerts] protocol data: both sides of every boundary."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.loader import ProtocolError, load_protocol
from flows.opening import OpeningHours
from tests.support.protocol import write_variant

TZ = ZoneInfo("Europe/Madrid")
HOURS = OpeningHours((0, 1, 2, 3, 4), time(8, 0), time(20, 0))
SECOND = timedelta(seconds=1)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026 in Madrid: the 23rd is a Monday, the 27th a Friday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def test_open_from_eight_until_eight_on_weekdays() -> None:
    assert not HOURS.is_open(local(23, 8) - SECOND, TZ)
    assert HOURS.is_open(local(23, 8), TZ)
    assert HOURS.is_open(local(23, 20) - SECOND, TZ)
    assert not HOURS.is_open(local(23, 20), TZ)
    assert not HOURS.is_open(local(28, 12), TZ)  # Saturday


def test_two_opening_hours_after() -> None:
    two = timedelta(hours=2)
    assert HOURS.add_open_time(local(23, 10), two, TZ) == local(23, 12)
    assert HOURS.add_open_time(local(23, 18), two, TZ) == local(23, 20)  # up to closing
    assert HOURS.add_open_time(local(23, 18) + SECOND, two, TZ) == local(24, 8) + SECOND
    assert HOURS.add_open_time(local(27, 19), two, TZ) == local(30, 9)  # Friday 19:00 → Monday
    assert HOURS.add_open_time(local(28, 3), two, TZ) == local(30, 10)  # raised on Saturday
    assert HOURS.add_open_time(local(23, 2), two, TZ) == local(23, 10)  # raised in the night


def test_next_open_moment_and_opening_of() -> None:
    assert HOURS.next_open_moment(local(23, 9), TZ) == local(23, 9)
    assert HOURS.next_open_moment(local(23, 20), TZ) == local(24, 8)
    assert HOURS.opening_of(local(23, 9).date(), TZ) == local(23, 8)
    assert HOURS.opening_of(local(29, 9).date(), TZ) is None  # Sunday


def test_default_protocol_alert_rules() -> None:
    rules = load_protocol().alerts
    assert rules.urgent_repeat_hours == 4 and rules.new_alert_after_days == 3
    assert rules.opening_hours == HOURS


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("urgent_repeat_hours = 4\n", "urgent_repeat_hours = 0\n", '"urgent_repeat_hours"'),
        ("new_alert_after_days = 3\n", "new_alert_after_days = -1\n", '"new_alert_after_days"'),
        ('opening_hours = ["08:00", "20:00"]', 'opening_hours = ["20:00", "08:00"]', "open before"),
        ('opening_hours = ["08:00", "20:00"]', 'opening_hours = ["8:00", "20:00"]', "HH:MM"),
        ('opening_hours = ["08:00", "20:00"]', 'opening_hours = ["08:00"]', "two times"),
        ('opening_days = ["mon", "tue", "wed", "thu", "fri"]', 'opening_days = ["lun"]', '"lun"'),
        ('opening_days = ["mon", "tue", "wed", "thu", "fri"]', "opening_days = []", "at least"),
        ("urgent_repeat_hours = 4\n", "urgent_repeat_hour = 4\n", 'unknown key "urgent_repeat'),
    ],
)
def test_alerts_section_is_validated(tmp_path: Path, old: str, new: str, problem: str) -> None:
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert "[alerts]" in str(caught.value) and problem in str(caught.value)


def test_a_clinic_changes_its_opening_hours(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path, 'opening_hours = ["08:00", "20:00"]', 'opening_hours = ["09:00", "14:00"]'
    )
    assert load_protocol(path).alerts.opening_hours.end == time(14, 0)
