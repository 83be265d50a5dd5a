"""The working-time calendar on known dates of China's holiday notices."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.worktime import WorkingCalendar, is_working_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar.default()


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 26), True),  # an ordinary Friday
        (date(2025, 9, 27), False),  # an ordinary Saturday
        (date(2025, 9, 28), True),  # Sunday made a working day (调休) for National Day
        *[(date(2025, 10, day), False) for day in range(1, 9)],  # National Day and Mid-Autumn
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday made a working day
        (date(2026, 2, 14), True),  # Saturday made a working day for the Spring Festival
        *[(date(2026, 2, day), False) for day in range(15, 24)],  # Spring Festival 2026
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday made a working day
    ],
)
def test_working_days_follow_the_holiday_notices(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_a_year_without_a_notice_counts_monday_to_friday(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.worktime"):
        assert is_working_day(date(2031, 1, 3)) is True  # a Friday
        assert is_working_day(date(2031, 1, 4)) is False  # a Saturday
    assert "no holiday notice for 2031" in caplog.text


def test_working_hours_skip_the_lunch_break() -> None:
    assert CALENDAR.add_working_hours(local(2025, 9, 26, 11, 0), 2) == local(2025, 9, 26, 14, 30)
    # Reported during lunch: the clock starts at 13:30.
    assert CALENDAR.add_working_hours(local(2025, 9, 26, 12, 30), 1) == local(2025, 9, 26, 14, 30)


def test_working_hours_cross_a_weekend_and_the_national_day_holiday() -> None:
    # Friday 16:00 + 6 h: 1.5 h on Friday, Saturday off, the 调休 Sunday's morning, then 1 h.
    assert CALENDAR.add_working_hours(local(2025, 9, 26, 16, 0), 6) == local(2025, 9, 28, 14, 30)
    # Tuesday 30 Sep 16:00 + 6 h: 1.5 h that day, then nothing until Thursday 9 Oct.
    assert CALENDAR.add_working_hours(local(2025, 9, 30, 16, 0), 6) == local(2025, 10, 9, 14, 30)


def test_working_days_keep_the_point_in_the_working_day() -> None:
    assert CALENDAR.working_day == timedelta(hours=7, minutes=30)
    # Friday 10:00 + 1 working day: Saturday off, the 调休 Sunday 28 Sep at 10:00.
    assert CALENDAR.add_working_days(local(2025, 9, 26, 10, 0), 1) == local(2025, 9, 28, 10, 0)
    # Reported on a holiday: the day counts from the first working morning and ends that evening.
    assert CALENDAR.add_working_days(local(2025, 10, 3, 9, 0), 1) == local(2025, 10, 9, 17, 30)
    # Before the Spring Festival 2026: Friday 13 Feb, the 调休 Saturday 14th, then 24th.
    assert CALENDAR.add_working_days(local(2026, 2, 13, 15, 0), 2) == local(2026, 2, 24, 15, 0)
    # An illegal building's 15 working days from Monday 2 Feb 2026: Saturdays 14th and 28th work.
    assert CALENDAR.add_working_days(local(2026, 2, 2, 9, 0), 15) == local(2026, 2, 28, 9, 0)


def test_a_limit_that_ends_with_a_period_ends_there() -> None:
    assert CALENDAR.add_working_hours(local(2025, 9, 26, 8, 30), 3.5) == local(2025, 9, 26, 12, 0)


def test_working_time_between_two_instants() -> None:
    friday, monday = local(2025, 9, 26, 16, 0), local(2025, 9, 29, 9, 0)
    # 1.5 h on Friday, 7.5 h on the 调休 Sunday, 0.5 h on Monday.
    assert CALENDAR.working_time_between(friday, monday) == timedelta(hours=9, minutes=30)
    assert CALENDAR.working_time_between(monday, friday) == timedelta()
    start = local(2026, 2, 13, 15, 0)
    assert CALENDAR.working_time_between(start, CALENDAR.add_working_days(start, 2)) == (
        2 * CALENDAR.working_day
    )


def test_instants_in_any_zone_come_back_in_that_zone() -> None:
    utc_start = local(2025, 9, 26, 16, 0).astimezone(ZoneInfo("UTC"))
    end = CALENDAR.add_working_hours(utc_start, 2)
    assert end.tzinfo == ZoneInfo("UTC") and end == local(2025, 9, 28, 9, 0)


def test_naive_instants_and_bad_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.add_working_hours(datetime(2025, 9, 26, 16, 0), 1)
    with pytest.raises(ValueError, match="ends before it starts"):
        WorkingCalendar(SHANGHAI, ((time(12, 0), time(8, 30)),))
    with pytest.raises(ValueError, match="overlaps"):
        WorkingCalendar(SHANGHAI, ((time(8, 0), time(12, 0)), (time(11, 0), time(13, 0))))
