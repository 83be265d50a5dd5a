"""Rule schedules: days, windows across midnight, the camera's time zone, exact boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from contract.rules import parse_window
from detectors.schedule import Schedule, TimeWindow

SHANGHAI = timedelta(hours=8)


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC instant for a Shanghai wall-clock time on 2026-11-`day` (the 23rd is a Monday)."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC) - SHANGHAI


NIGHTS = Schedule((TimeWindow(time(22), time(6)),), timezone="Asia/Shanghai")
SCHOOL_DAYS = Schedule(
    (TimeWindow(time(7, 30), time(17)),), days=frozenset(range(5)), timezone="Asia/Shanghai"
)


@pytest.mark.parametrize(
    ("when", "armed"),
    [
        (local(23, 21, 59, 59), False),
        (local(23, 22, 0, 0), True),  # start included
        (local(24, 0, 0, 0), True),  # across midnight
        (local(24, 5, 59, 59), True),
        (local(24, 6, 0, 0), False),  # end excluded
        (local(24, 12, 0, 0), False),
    ],
)
def test_a_night_window_crosses_midnight(when: datetime, armed: bool) -> None:
    assert NIGHTS.active(when) is armed


@pytest.mark.parametrize(
    ("when", "armed"),
    [
        (local(27, 8), True),  # Friday
        (local(28, 8), False),  # Saturday
        (local(27, 7, 29, 59), False),
        (local(27, 17), False),
    ],
)
def test_days_and_windows_combine(when: datetime, armed: bool) -> None:
    assert SCHOOL_DAYS.active(when) is armed


def test_a_night_belongs_to_the_day_it_starts() -> None:
    friday_nights = Schedule(
        (TimeWindow(time(22), time(6)),), days=frozenset({4}), timezone="Asia/Shanghai"
    )
    assert friday_nights.active(local(28, 3))  # Saturday 03:00 is Friday's night
    assert not friday_nights.active(local(27, 3))  # Friday 03:00 is Thursday's night
    assert not friday_nights.active(local(28, 23))


def test_the_camera_time_zone_decides() -> None:
    # 15:00 UTC is 23:00 in Shanghai but 15:00 in London (winter).
    instant = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert NIGHTS.active(instant)
    assert not Schedule(NIGHTS.windows, timezone="Europe/London").active(instant)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NIGHTS.active(datetime(2026, 11, 27, 23))


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("22:00-06:00", time(22), time(6)), ("00:00-24:00", time(0), time(0))],
)
def test_window_text(text: str, start: time, end: time) -> None:
    assert TimeWindow(*parse_window(text)) == TimeWindow(start, end)


@pytest.mark.parametrize("text", ["22-06", "25:00-06:00", "22:00-24:30", "22:00"])
def test_bad_window_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|24:00"):
        parse_window(text)
