"""The district's working time: its working hours, China's public holidays and adjusted working
days (调休), and time limits counted in working hours or working days (CJ/T 315).

Which days are working days comes from `chinese-calendar`, not from `holidays`: both carry the
State Council's yearly notices, holidays and the weekend days made working days alike (in
`holidays` through substituted days and `is_working_day`), but `holidays` requires
python-dateutil<3 while this project pins 4.x, and past its last notice it silently estimates
holidays from the lunar calendar with no adjusted working days. `chinese-calendar` has no
dependencies, keeps each year's notice as plain data, and refuses a year it has no notice for,
so such a year is known to be unknown: its days then count Monday to Friday as working days, and
a warning is logged once per year (update the package when the next notice is out).

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> calendar = WorkingCalendar.default()
    >>> friday_4pm = datetime(2025, 9, 26, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
    >>> calendar.add_working_hours(friday_4pm, 2).isoformat()  # Sunday 28th is a working day
    '2025-09-28T01:00:00+00:00'
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
# A common office day of a Chinese district government: morning and afternoon, lunch between.
DEFAULT_HOURS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
# How far a walk over the calendar goes at most (ten years): a bound, not a limit anyone sets.
_SEARCH_DAYS = 3660


@functools.cache
def _warn_unknown_year(year: int) -> None:
    log.warning(
        "no holiday notice for %d in chinese-calendar %s: counting Monday to Friday as working"
        " days that year",
        year,
        chinese_calendar.__version__,
    )


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day in mainland China: Monday to Friday unless a public holiday,
    and the weekend days a holiday notice makes working days (调休). Outside the years the
    calendar library knows, Monday to Friday (with a warning logged once per year)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return day.weekday() < 5


@dataclass(frozen=True)
class WorkingCalendar:
    """Working hours in a time zone on China's working days.

    `periods` are the working hours of each working day as (start, end) local times, in order
    and not overlapping, e.g. 08:30-12:00 and 13:30-17:30. All instants given and returned are
    timezone-aware; a naive datetime raises ValueError.
    """

    timezone: ZoneInfo
    periods: tuple[tuple[time, time], ...]

    @classmethod
    def default(cls) -> WorkingCalendar:
        return cls(ZoneInfo(DEFAULT_TIMEZONE), DEFAULT_HOURS)

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("working hours: name at least one period")
        previous_end: time | None = None
        for start, end in self.periods:
            if start >= end:
                raise ValueError(f"working hours: {start:%H:%M}-{end:%H:%M} ends before it starts")
            if previous_end is not None and start < previous_end:
                raise ValueError(f"working hours: {start:%H:%M} overlaps the period before")
            previous_end = end

    @property
    def working_day(self) -> timedelta:
        """Working time in one working day (7.5 hours for the default hours)."""
        return sum(
            (
                datetime.combine(date.min, end) - datetime.combine(date.min, start)
                for start, end in self.periods
            ),
            timedelta(),
        )

    def _periods_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (aware, in this zone) that end after `instant`, in order."""
        local = _aware(instant).astimezone(self.timezone)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if is_working_day(day):
                for start, end in self.periods:
                    period_end = datetime.combine(day, end, self.timezone)
                    if period_end > local:
                        yield datetime.combine(day, start, self.timezone), period_end
            day += timedelta(days=1)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of working time has passed since `start`.

        A start outside working hours counts from the next working period; a limit that runs out
        exactly at the end of a period ends there, not at the start of the next.
        """
        start = _aware(start)
        if duration <= timedelta():
            return start
        remaining = duration
        for period_start, period_end in self._periods_from(start):
            begin = max(period_start, start.astimezone(self.timezone))
            available = period_end - begin
            if remaining <= available:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= available
        raise ValueError(f"no working time within {_SEARCH_DAYS} days of {start.isoformat()}")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus `hours` working hours (see add_working_time)."""
        return self.add_working_time(start, timedelta(hours=hours))

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """`start` plus `days` working days: the same point of the working day that many working
        days later, i.e. `days` times a working day's hours of working time. An event reported on
        a Saturday with one working day runs to the end of Monday (if Monday is a working day)."""
        return self.add_working_time(start, self.working_day * days)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end`; zero when `end` is not after `start`."""
        start, end = _aware(start), _aware(end)
        elapsed = timedelta()
        if end <= start:
            return elapsed
        for period_start, period_end in self._periods_from(start):
            if period_start >= end:
                break
            elapsed += min(period_end, end) - max(period_start, start)
        return elapsed


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"a timezone-aware instant is needed, not {instant.isoformat()}")
    return instant
