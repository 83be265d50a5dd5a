"""A camera's steady timeline: durations from a monotonic clock, wall time kept for display.

The wall clock can step (an NTP correction, an operator setting the time): a person present for
6 s must not be "loitering for 3605 s" because the clock moved an hour between two frames. Each
frame carries a monotonic reading beside its wall time; `SteadyClock` turns the pair into a
`SteadyInstant`: a datetime on a timeline that advances only as the monotonic clock does (what
rules, the tracker, the motion gate and evidence subtract to time things), which still knows the
frame's wall time (what schedules read, and what is shown and stored).
"""

from __future__ import annotations

from datetime import datetime, timedelta


class SteadyInstant(datetime):
    """A frame's instant on its camera's steady timeline; `wall` is its wall-clock time.

    Arithmetic on it gives instants of the same timeline that know no wall time (durations
    come out right); `wall_time` says what time of day the frame's own instant was.
    """

    wall: datetime

    @classmethod
    def of(cls, steady: datetime, wall: datetime) -> SteadyInstant:
        instant = cls(
            steady.year, steady.month, steady.day, steady.hour, steady.minute, steady.second,
            steady.microsecond, tzinfo=steady.tzinfo,
        )  # fmt: skip
        instant.wall = wall
        return instant


def wall_time(instant: datetime) -> datetime:
    """The wall-clock time of `instant`: a frame's `SteadyInstant`'s `wall`, else itself."""
    wall = getattr(instant, "wall", None)
    return wall if isinstance(wall, datetime) else instant


def _plain(instant: datetime) -> datetime:
    return datetime(
        instant.year, instant.month, instant.day, instant.hour, instant.minute, instant.second,
        instant.microsecond, tzinfo=instant.tzinfo,
    )  # fmt: skip


class SteadyClock:
    """Puts one camera's frames on a steady timeline.

    The timeline starts at the first frame's wall time and advances by the monotonic clock
    from there. `offset` is how far the wall clock has stepped since (wall minus steady, as of
    the latest frame); `to_wall` moves an instant of the timeline to the wall clock as it now
    reads, for what is shown and stored.

    Example:
        >>> clock = SteadyClock()
        >>> now = clock.at(frame.timestamp, frame.monotonic)
        >>> hits = rule.update(detections, width=w, height=h, now=now)
        >>> started_at = clock.to_wall(hits[0].started_at)
    """

    def __init__(self) -> None:
        self._origin: datetime | None = None  # the wall time the monotonic clock's zero maps to
        self.offset = timedelta(0)

    def at(self, wall: datetime, monotonic: float | None) -> datetime:
        """The frame's instant on the timeline; `wall` itself when `monotonic` is None (a
        frame without a monotonic reading: its wall time is all there is)."""
        if monotonic is None:
            return wall
        if self._origin is None:
            self._origin = wall - timedelta(seconds=monotonic)
        steady = self._origin + timedelta(seconds=monotonic)
        self.offset = wall - steady
        return SteadyInstant.of(steady, wall)

    def to_wall(self, instant: datetime) -> datetime:
        """`instant` of the timeline as the wall clock reads now (as of the latest frame), so
        that times shown together keep the durations between them."""
        return _plain(instant) + self.offset
