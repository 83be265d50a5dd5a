"""Health rules, the rate meter, the tracker and the backoff, driven by a fake clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from contract.health import HealthReason
from ingest.backoff import Backoff
from ingest.health import (
    CameraStatus,
    HealthTracker,
    RateMeter,
    assess_status,
    default_stale_after_s,
)


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


ONLINE, DEGRADED, OFFLINE = CameraStatus.online, CameraStatus.degraded, CameraStatus.offline


@pytest.mark.parametrize(
    ("connected", "input_fps", "age", "connected_for", "status", "reason"),
    [
        (False, None, None, 0, OFFLINE, "not connected"),
        (True, 10.0, 0.1, 60, ONLINE, ""),
        (True, 1.1, 0.1, 60, DEGRADED, "1.1 fps, under half of the 4 fps"),
        (True, 2.0, 0.1, 60, ONLINE, ""),  # exactly half is still enough
        (True, 1.0, 0.1, 1.0, ONLINE, ""),  # just connected: the rate is not judged yet
        (True, 10.0, 2.5, 60, DEGRADED, "newest frame is 2.5 s old"),
        (True, None, None, 0.5, ONLINE, ""),  # connected, first frame on its way
        (True, None, None, 3.0, DEGRADED, "no frame yet"),
    ],
)
def test_status_rules(
    connected: bool,
    input_fps: float | None,
    age: float | None,
    connected_for: float,
    status: CameraStatus,
    reason: str,
) -> None:
    found, why = assess_status(
        connected=connected,
        detect_fps=4,
        input_fps=input_fps,
        frame_age_s=age,
        connected_for_s=connected_for,
        stale_after_s=2.0,
    )
    assert found is status
    assert reason in why and (why == "") == (reason == "")


@pytest.mark.parametrize(("detect_fps", "stale"), [(10, 2.0), (1, 3.0), (0.2, 15.0)])
def test_slow_cameras_get_a_longer_staleness_threshold(detect_fps: float, stale: float) -> None:
    assert default_stale_after_s(detect_fps) == pytest.approx(stale)


def test_rate_meter_uses_the_window_and_forgets_on_restart() -> None:
    meter = RateMeter(window_s=2)
    assert meter.rate(0.0) is None
    meter.restart(0.0)
    for n in range(30):  # 10 fps for 3 s
        meter.add(n / 10)
    assert meter.rate(3.0) == pytest.approx(10, abs=0.6)
    assert meter.rate(4.0) == pytest.approx(5, abs=0.6)  # last frame a second ago
    meter.restart(10.0)
    assert meter.rate(10.5) == 0


def test_tracker_goes_offline_then_online_and_counts_reconnects() -> None:
    clock = FakeClock()
    tracker = HealthTracker("gate", kind="rtsp", detect_fps=5, monotonic=clock)
    assert tracker.snapshot().status is OFFLINE
    tracker.connected(codec="h264")
    for _ in range(40):  # 4 s at 10 fps, every other frame handed out
        clock.now += 0.1
        tracker.received((768, 576))
    tracker.dropped(20)
    health = tracker.snapshot()
    assert health.status is ONLINE and health.reconnects == 0
    assert health.input_fps == pytest.approx(10, abs=0.3)
    assert (health.resolution, health.codec, health.frames_dropped) == ((768, 576), "h264", 20)

    tracker.disconnected("stream lost")
    lost = tracker.snapshot()
    assert (lost.status, lost.reason, lost.input_fps) == (OFFLINE, "stream lost", None)

    clock.now += 5
    tracker.connected()
    # Connected again is not back: the outage lasts until the first frame.
    assert tracker.snapshot().status is OFFLINE
    clock.now += 0.1
    tracker.received()
    back = tracker.snapshot()
    assert back.status is ONLINE and back.reconnects == 1
    assert back.last_frame_age_s == pytest.approx(0)


class FakeWallClock:
    """UTC time that follows a FakeClock, as the real clocks move together."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.origin = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.origin + timedelta(seconds=self.clock.now)

    def at(self, monotonic: float) -> datetime:
        return self.origin + timedelta(seconds=monotonic)


def test_an_outage_is_dated_from_the_last_frame_and_its_error_clears_with_the_next() -> None:
    clock = FakeClock()
    wall = FakeWallClock(clock)
    tracker = HealthTracker("gate", kind="rtsp", detect_fps=2, monotonic=clock, now=wall)
    tracker.connected(codec="h264")
    for _ in range(10):
        clock.now += 0.1
        tracker.received((768, 576))
    last_frame = clock.now
    assert tracker.snapshot().offline_since is None

    clock.now += 5  # the read timeout: only now is the loss noticed
    tracker.disconnected("stream lost")
    for _ in range(3):
        clock.now += 1
        tracker.disconnected("connection refused by 127.0.0.1:554")
    tracker.connected()
    out = tracker.snapshot()
    assert out.status is OFFLINE and out.reason == "reconnected, no frame yet"
    assert out.offline_since == wall.at(last_frame)  # when the picture stopped, not noticed
    assert out.last_error == "connection refused by 127.0.0.1:554"

    clock.now += 0.2
    tracker.received((768, 576))
    back = tracker.snapshot()
    assert (back.status, back.reason, back.last_error, back.offline_since) == (ONLINE, "", "", None)


def test_a_camera_that_never_gave_a_frame_is_out_since_its_first_failed_attempt() -> None:
    clock = FakeClock()
    wall = FakeWallClock(clock)
    tracker = HealthTracker("gate", kind="rtsp", detect_fps=2, monotonic=clock, now=wall)
    assert tracker.snapshot().offline_since is None  # not tried yet
    first_attempt = clock.now
    tracker.disconnected("connection refused by 127.0.0.1:554")
    clock.now += 30
    tracker.disconnected("connection refused by 127.0.0.1:554")
    assert tracker.snapshot().offline_since == wall.at(first_attempt)


def test_tracker_degrades_a_stalled_camera() -> None:
    clock = FakeClock()
    tracker = HealthTracker("gate", kind="rtsp", detect_fps=5, monotonic=clock)
    tracker.connected()
    tracker.received()
    clock.now += 2.5
    health = tracker.snapshot()
    assert health.status is DEGRADED and "2.5 s old" in health.reason


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=8, jitter=0.2, rng=random.Random(7))  # noqa: S311
    for failures, ceiling in [(0, 0.5), (1, 1), (2, 2), (3, 4), (4, 8), (10, 8), (10_000, 8)]:
        delays = [backoff.delay(failures) for _ in range(50)]
        assert all(0.8 * ceiling <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # spread, so cameras failing together retry apart


@pytest.mark.parametrize(
    "arguments", [{"initial_s": 0}, {"initial_s": 5, "cap_s": 1}, {"jitter": 1.0}]
)
def test_backoff_refuses_nonsense(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**arguments)  # type: ignore[arg-type]


def test_each_reason_a_camera_is_out_has_a_code_beside_its_words() -> None:
    clock = FakeClock()
    tracker = HealthTracker("gate", kind="rtsp", detect_fps=2, monotonic=clock)
    assert tracker.snapshot().reason_code is HealthReason.no_frames  # not yet connected
    tracker.disconnected("connection refused by 127.0.0.1:554", HealthReason.unreachable)
    refused = tracker.snapshot()
    assert (refused.reason, refused.reason_code) == (
        "connection refused by 127.0.0.1:554", HealthReason.unreachable,
    )  # fmt: skip
    tracker.connected()
    assert tracker.snapshot().reason_code is HealthReason.no_frames  # reconnected, no frame yet
    clock.now += 0.1
    tracker.received()
    assert tracker.snapshot().reason_code is None  # online: no reason
    clock.now += 2.5
    assert tracker.snapshot().reason_code is HealthReason.frames_stale
    for _ in range(40):  # 0.3 fps for a camera detected at 2 fps
        clock.now += 3
        tracker.received()
    assert tracker.snapshot().reason_code is HealthReason.frames_slow
    tracker.disconnected("user name or password rejected (RTSP 401)", HealthReason.auth_failed)
    assert tracker.snapshot().reason_code is HealthReason.auth_failed
