"""When a rule is armed: days of the week and time windows, in the camera's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from contract.rules import DAY_NAMES, ScheduleConfig, parse_window
from detectors.clock import wall_time


@dataclass(frozen=True)
class TimeWindow:
    """From `start` (included) to `end` (excluded), local time; `end <= start` crosses midnight.

    A window that crosses midnight belongs to the day it starts on: "fri 22:00-06:00" covers
    Friday night into Saturday morning, not Saturday night.
    """

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Schedule:
    """Days and windows in which a rule fires; outside them it neither fires nor counts time.

    Example:
        >>> nights = Schedule(
        ...     windows=(TimeWindow(time(22), time(6)),), timezone="Asia/Shanghai"
        ... )
        >>> nights.active(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
        True
    """

    windows: tuple[TimeWindow, ...] = ()
    days: frozenset[int] = frozenset(range(7))  # 0 = Monday, as datetime.weekday()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone, at configuration time

    def active(self, now: datetime) -> bool:
        """Is the rule armed at `now` (a timezone-aware instant)? A `SteadyInstant` is read at
        its wall time: a schedule is about the time of day."""
        now = wall_time(now)
        if now.tzinfo is None:
            raise ValueError("schedule needs a timezone-aware time")
        local = now.astimezone(ZoneInfo(self.timezone))
        if not self.windows:
            return local.weekday() in self.days
        clock = local.time().replace(tzinfo=None)
        today = local.weekday()
        yesterday = (local - timedelta(days=1)).weekday()
        for window in self.windows:
            if not window.crosses_midnight:
                if today in self.days and window.start <= clock < window.end:
                    return True
                continue
            # Evening part belongs to today, the morning part to the night that began yesterday.
            if today in self.days and clock >= window.start:
                return True
            if yesterday in self.days and clock < window.end:
                return True
        return False


ALWAYS = Schedule()


def schedule_from_config(config: ScheduleConfig | None, timezone: str) -> Schedule:
    """A rule's configured schedule in the camera's IANA `timezone`; always armed when None.

    Example:
        >>> nights = schedule_from_config(ScheduleConfig(windows=["22:00-06:00"]), "Asia/Shanghai")
        >>> nights.windows[0].crosses_midnight
        True
    """
    if config is None:
        return Schedule(timezone=timezone)
    return Schedule(
        windows=tuple(TimeWindow(*parse_window(window)) for window in config.windows),
        days=frozenset(DAY_NAMES.index(day) for day in config.days),
        timezone=timezone,
    )
