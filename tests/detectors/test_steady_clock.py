"""Durations come from a monotonic clock: a step of the wall clock mid-run (an NTP correction)
turns 6 s of presence into neither an hour of loitering nor a lost cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.clock import SteadyClock, wall_time
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.rules import Loitering, Tamper
from detectors.schedule import Schedule, TimeWindow
from detectors.zones import Zone
from ingest.sources import FileSource

EVERYWHERE = Zone("street", ((0, 0), (1, 0), (1, 1), (0, 1)))
STARTED = datetime(2026, 11, 27, 21, 59, 57, tzinfo=UTC)
STEP = timedelta(hours=1)


class Clocks:
    """The wall clock and the monotonic clock as the file source reads them: sleeping advances
    both; `step_after_s` seconds in, the wall clock jumps `STEP` ahead (the monotonic one
    never does)."""

    def __init__(self, step_after_s: float):
        self.elapsed = 0.0
        self.step_after_s = step_after_s

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)

    def now(self) -> datetime:
        stepped = STEP if self.elapsed >= self.step_after_s else timedelta(0)
        return STARTED + timedelta(seconds=self.elapsed) + stepped


def test_a_wall_clock_step_does_not_make_six_seconds_an_hour_of_loitering(
    demo_clip: Path, detector
) -> None:  # type: ignore[no-untyped-def]
    clocks = Clocks(step_after_s=3.0)
    source = FileSource(
        "street-1", demo_clip, detect_fps=2, loop=False, realtime=True,
        monotonic=clocks.monotonic, sleep=clocks.sleep, now=clocks.now,
    )  # fmt: skip
    rules = [
        Loitering(EVERYWHERE, {"person"}, dwell_s=60, grace_s=2, anchor="center"),
        Loitering(Zone("short", EVERYWHERE.polygon), {"person"}, dwell_s=4, grace_s=2,
                  anchor="center"),
    ]  # fmt: skip
    pipeline = CameraPipeline(
        "street-1", detector, [EVERYWHERE], rules, frame_rules=[Tamper(hold_s=2)],
        classes=["person"], evidence=EvidenceSettings(pre_roll_s=1, post_roll_s=1),
    )  # fmt: skip
    incidents = []
    try:
        for _ in range(13):  # 6 s of footage at 2 fps
            frame = source.read()
            assert frame is not None and frame.monotonic is not None
            incidents += pipeline.process(frame.image, now=frame.timestamp, clock=frame.monotonic)
    finally:
        source.close()
    incidents += pipeline.flush()

    assert clocks.now() - STARTED > STEP  # the wall clock did step mid-run
    # Nobody has been there 60 s; people in view for 4 s are, and are told as such.
    assert {incident.zone for incident in incidents} == {"short"}
    for incident in incidents:
        held = incident.detected_at - incident.started_at
        assert timedelta(seconds=4) <= held < timedelta(seconds=7), incident.summary
        assert incident.summary.endswith(("for 4 s", "for 5 s", "for 6 s")), incident.summary
        # Dated on the wall clock as it reads after the step.
        assert incident.detected_at > STARTED + STEP
        assert incident.clip_duration_s < 10


def test_schedules_read_the_wall_clock_and_durations_the_monotonic_one() -> None:
    clock = SteadyClock()
    first = clock.at(datetime(2026, 11, 27, 13, 59, 58, tzinfo=UTC), 500.0)
    # The wall clock is corrected forward an hour between two frames 2 s apart.
    second = clock.at(datetime(2026, 11, 27, 15, 0, 0, tzinfo=UTC), 502.0)
    assert second - first == timedelta(seconds=2)
    assert wall_time(second) == datetime(2026, 11, 27, 15, 0, 0, tzinfo=UTC)
    assert clock.to_wall(first) == datetime(2026, 11, 27, 14, 59, 58, tzinfo=UTC)
    nights = Schedule(windows=(TimeWindow(datetime.min.time().replace(hour=23),
                                          datetime.min.time().replace(hour=6)),),
                      timezone="Asia/Shanghai")  # fmt: skip
    assert not nights.active(first)  # 21:59:58 in Shanghai
    assert nights.active(second)  # 23:00:00 in Shanghai, by the corrected wall clock


@pytest.mark.parametrize("step", [STEP, -STEP])
def test_a_step_either_way_keeps_the_cooldown(step: timedelta) -> None:
    rule = Loitering(EVERYWHERE, {"person"}, dwell_s=1, grace_s=0, cooldown_s=30)
    clock = SteadyClock()
    from tests.detectors.factories import tracked

    hits = []
    for second in range(12):
        wall = STARTED + timedelta(seconds=second) + (step if second >= 6 else timedelta(0))
        now = clock.at(wall, 100.0 + second)
        # Track 1 stays 3 s, leaves; track 1 again from 6 s on (after the step): in cooldown.
        present = second < 3 or second >= 6
        people = tracked([(10, 10, 50, 90)] if present else [], [1] if present else [])
        hits += rule.update(people, width=100, height=100, now=now)
    assert len(hits) == 1
