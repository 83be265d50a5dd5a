"""Camera health: what an owner sees in the camera list (online, degraded, offline, and why).

`assess_status` is the pure rule; `HealthTracker` collects what an adapter observes (frames
received and handed out, connections, errors) and turns it into a `CameraHealth` snapshot.

An outage starts when the picture stops (the last frame before the connection was lost) and
ends with the first frame after it: a connection made again without a frame yet is still
video loss. Its error is cleared when the picture is back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contract.health import HealthReason
from contract.vocabulary import CameraStatus

MIN_FPS_RATIO = 0.5
"""A camera delivering less than this share of its detection rate is degraded."""

SETTLE_S = 2.0
"""After (re)connecting, the frame rate is not judged for this long: the meter has no history."""


def default_stale_after_s(detect_fps: float) -> float:
    """How old the newest frame may be before a connected camera counts as degraded.

    Two seconds, or three detection intervals for cameras sampled slower than that (a snapshot
    camera polled every two seconds is not stale after two seconds).
    """
    return max(2.0, 3.0 / detect_fps)


def assess_status(
    *,
    connected: bool,
    detect_fps: float,
    input_fps: float | None,
    frame_age_s: float | None,
    connected_for_s: float,
    stale_after_s: float,
    min_fps_ratio: float = MIN_FPS_RATIO,
    settle_s: float = SETTLE_S,
) -> tuple[CameraStatus, str]:
    """A camera's status and, unless online, the reason in words.

    Args:
        connected: Whether the adapter holds a working connection to the camera.
        detect_fps: Frames per second the camera is configured to give to detection.
        input_fps: Frames per second measured arriving from the camera, or None if unknown.
        frame_age_s: Seconds since the newest frame arrived, or None if none arrived yet.
        connected_for_s: Seconds since the current connection was made.
        stale_after_s: Frame age past which a connected camera is degraded.
        min_fps_ratio: Share of `detect_fps` below which a connected camera is degraded.
        settle_s: Seconds after connecting during which the frame rate is not judged.

    Example:
        >>> assess_status(connected=True, detect_fps=10, input_fps=3.0, frame_age_s=0.1,
        ...               connected_for_s=60, stale_after_s=2)
        (<CameraStatus.degraded: 'degraded'>, '3.0 fps, under half of the 10 fps detection needs')
    """
    if not connected:
        return CameraStatus.offline, "not connected"
    if frame_age_s is None:
        if connected_for_s > stale_after_s:
            return CameraStatus.degraded, f"connected {connected_for_s:.1f} s, no frame yet"
        return CameraStatus.online, ""
    if frame_age_s > stale_after_s:
        return CameraStatus.degraded, f"newest frame is {frame_age_s:.1f} s old"
    if (
        input_fps is not None
        and connected_for_s >= settle_s
        and input_fps < min_fps_ratio * detect_fps
    ):
        return (
            CameraStatus.degraded,
            f"{input_fps:.1f} fps, under half of the {detect_fps:g} fps detection needs",
        )
    return CameraStatus.online, ""


def _reason_code(
    status: CameraStatus, frame_age_s: float | None, stale_after_s: float
) -> HealthReason | None:
    """The code of `assess_status`'s reason: no picture yet, an old one, or too few."""
    if status is CameraStatus.online:
        return None
    if status is CameraStatus.offline or frame_age_s is None:
        return HealthReason.no_frames
    return HealthReason.frames_stale if frame_age_s > stale_after_s else HealthReason.frames_slow


class RateMeter:
    """Events per second over a sliding window, from event times (`time.monotonic()` readings).

    Example:
        >>> meter = RateMeter(window_s=5)
        >>> meter.restart(100.0)
        >>> for n in range(20):
        ...     meter.add(100.0 + n / 10)
        >>> meter.rate(102.0)
        10.0
    """

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._since: float | None = None

    def restart(self, now: float) -> None:
        """Forget history: the rate is measured from `now` on (a new connection)."""
        self._times.clear()
        self._since = now

    def add(self, at: float) -> None:
        self._times.append(at)
        self._trim(at)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def rate(self, now: float) -> float | None:
        """Events per second over the window (or since `restart` if shorter); None before any
        time has passed."""
        if self._since is None:
            return None
        self._trim(now)
        span = min(self.window_s, now - self._since)
        if span <= 0:
            return None
        return len(self._times) / span


@dataclass(frozen=True)
class CameraHealth:
    """One camera's health at one moment.

    Attributes:
        camera_id: The camera.
        kind: Adapter kind: rtsp, http-snapshot, mjpeg or file.
        status: online, degraded or offline.
        reason: Why the camera is not online, in words ("" when online).
        detect_fps: Frames per second the camera is configured to give to detection.
        input_fps: Frames per second measured arriving from the camera (None when unknown).
        output_fps: Frames per second measured handed to detection.
        last_frame_at: When the newest frame arrived (UTC), or None.
        last_frame_age_s: Seconds since then, or None.
        resolution: (width, height) of the newest frame, or None.
        codec: The stream's codec as the camera announced it (h264, hevc, mjpeg, ...).
        transport: tcp or udp for RTSP, else None.
        reconnects: Times the camera came back after its connection was lost.
        frames_received: Frames that arrived from the camera.
        frames_delivered: Frames handed to detection.
        frames_dropped: Frames that arrived but never reached detection: a newer one came
            before detection was due for another, or before detection was free to take it.
        last_error: What is wrong while the camera is out ("" once a frame arrives again).
        reason_code: Why it is not online, as a code (None when it is), for a person's screen
            to word; `reason` and `last_error` are the detail.
        offline_since: While an outage lasts, when it began (UTC): the arrival of the last
            frame before the connection was lost, or the first failed attempt of a camera that
            gave none; None otherwise.
        frames_damaged: Frames that arrived but could not be decoded (a damaged JPEG, a broken
            snapshot): skipped, the connection kept. Also counted in `frames_received`.
    """

    camera_id: str
    kind: str
    status: CameraStatus
    reason: str
    detect_fps: float
    input_fps: float | None
    output_fps: float | None
    last_frame_at: datetime | None
    last_frame_age_s: float | None
    resolution: tuple[int, int] | None
    codec: str | None
    transport: str | None
    reconnects: int
    frames_received: int
    frames_delivered: int
    frames_dropped: int
    last_error: str
    frames_damaged: int = 0
    offline_since: datetime | None = None
    reason_code: HealthReason | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HealthTracker:
    """Collects what an adapter observes about its camera; safe to use from several threads.

    The adapter's capture thread reports connections and frames; anyone may take a
    `snapshot()` at any time.
    """

    def __init__(
        self,
        camera_id: str,
        *,
        kind: str,
        detect_fps: float,
        stale_after_s: float | None = None,
        transport: str | None = None,
        window_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ):
        self.camera_id = camera_id
        self.kind = kind
        self.detect_fps = detect_fps
        self.stale_after_s = stale_after_s or default_stale_after_s(detect_fps)
        self.transport = transport
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._input = RateMeter(window_s)
        self._output = RateMeter(window_s)
        self._connected_at: float | None = None
        self._ever_connected = False
        self._last_frame: float | None = None
        self._resolution: tuple[int, int] | None = None
        self._codec: str | None = None
        self._reconnects = 0
        self._received = 0
        self._delivered = 0
        self._dropped = 0
        self._damaged = 0
        self._last_error = ""
        self._last_code = HealthReason.stream_lost
        self._offline_since: datetime | None = None  # start of the outage in progress

    def connected(self, *, codec: str | None = None) -> None:
        """A connection was made; from the second one on it counts as a reconnect."""
        with self._lock:
            now = self._monotonic()
            if self._ever_connected:
                self._reconnects += 1
            self._ever_connected = True
            self._connected_at = now
            self._input.restart(now)
            self._output.restart(now)
            if codec:
                self._codec = codec

    def disconnected(self, reason: str, code: HealthReason = HealthReason.stream_lost) -> None:
        """The connection was lost or could not be made (why: `reason` in words, `code` as a
        code); the first such call starts an outage."""
        with self._lock:
            last, since = self._last_frame, self._connected_at
            if self._offline_since is None:
                now = self._monotonic()
                # The picture stopped with the connection's last frame, if it gave any.
                lost = last if last is not None and since is not None and last >= since else now
                # Dated once, so every report of the outage gives the same start.
                self._offline_since = self._now() - timedelta(seconds=now - lost)
            self._connected_at = None
            self._last_error = reason
            self._last_code = code

    def received(self, resolution: tuple[int, int] | None = None) -> None:
        """A frame arrived from the camera; the first one after an outage ends it."""
        with self._lock:
            now = self._monotonic()
            self._received += 1
            self._last_frame = now
            if self._connected_at is not None and self._offline_since is not None:
                self._offline_since = None
                self._last_error = ""
            self._input.add(now)
            if resolution is not None:
                self._resolution = resolution

    def delivered(self, resolution: tuple[int, int] | None = None) -> None:
        with self._lock:
            self._delivered += 1
            self._output.add(self._monotonic())
            if resolution is not None:
                self._resolution = resolution

    def dropped(self, count: int = 1) -> None:
        with self._lock:
            self._dropped += count

    def damaged(self, count: int = 1) -> None:
        """Frames that arrived but could not be decoded, and were skipped: counted as received,
        but no proof that the camera is back, so they end no outage."""
        with self._lock:
            self._received += count
            self._damaged += count

    def add_reconnects(self, count: int) -> None:
        """Reconnects made by someone else on this camera's behalf (the worker reopening it)."""
        with self._lock:
            self._reconnects += count

    def snapshot(self) -> CameraHealth:
        with self._lock:
            now = self._monotonic()
            connected = self._connected_at is not None
            age = None if self._last_frame is None else now - self._last_frame
            input_fps = self._input.rate(now) if connected else None
            output_fps = self._output.rate(now) if connected else None
            # A frame from before the current connection says nothing about this one.
            fresh = (
                self._last_frame is not None
                and self._connected_at is not None
                and self._last_frame >= self._connected_at
            )
            status, reason = assess_status(
                connected=connected,
                detect_fps=self.detect_fps,
                input_fps=input_fps,
                frame_age_s=age if fresh else None,
                connected_for_s=0.0 if self._connected_at is None else now - self._connected_at,
                stale_after_s=self.stale_after_s,
            )
            code = _reason_code(status, age if fresh else None, self.stale_after_s)
            if connected and self._offline_since is not None:
                # Connected again, but the outage lasts until the picture is back.
                status, reason = CameraStatus.offline, "reconnected, no frame yet"
                code = HealthReason.no_frames
            elif status is CameraStatus.offline and self._last_error:
                reason, code = self._last_error, self._last_code
            last_at = None if age is None else self._now() - timedelta(seconds=age)
            return CameraHealth(
                camera_id=self.camera_id,
                kind=self.kind,
                status=status,
                reason=reason,
                detect_fps=self.detect_fps,
                input_fps=input_fps,
                output_fps=output_fps,
                last_frame_at=last_at,
                last_frame_age_s=age,
                resolution=self._resolution,
                codec=self._codec,
                transport=self.transport,
                reconnects=self._reconnects,
                frames_received=self._received,
                frames_delivered=self._delivered,
                frames_dropped=self._dropped,
                last_error=self._last_error,
                frames_damaged=self._damaged,
                offline_since=self._offline_since,
                reason_code=code,
            )
