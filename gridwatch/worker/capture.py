"""Capture: one reader thread per camera opens it (again, with backoff, when it cannot be opened)
and keeps its newest frame for detection; and the camera's health as the API takes it.

Capture never waits for detection: a frame detection is too busy to take is replaced by the
next one, dropped and counted once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from contract.camera import CameraConfig
from contract.health import HealthReason, HealthReport
from contract.problems import ConfigError
from contract.vocabulary import CameraStatus
from detectors.motion import MotionDecision
from detectors.pipeline import PipelineStats
from ingest import (
    CameraHealth,
    CameraUnavailable,
    Frame,
    FrameSource,
    InvalidSource,
    LiveSource,
    StreamOptions,
    UnsupportedSource,
    open_source,
)
from ingest.backoff import Backoff
from ingest.frames import FrameSlot
from ingest.health import HealthTracker

log = logging.getLogger(__name__)

STILL_BEFORE_KEY_FRAMES_S = 3.0
"""Seconds the motion gate must have found a camera's scene still before its stream is decoded
key frames only: someone who stops for a moment in front of it does not flip the decoding."""


@dataclass
class CameraStats:
    """The reader's own counts; frames dropped are in the camera's health."""

    frames_read: int = 0  # from a recording; a live camera's: those taken for detection
    frames_analysed: int = 0
    incidents: int = 0
    reconnects: int = 0
    status: str = "starting"
    last_error: str = ""
    last_reason: HealthReason | None = None


class CameraReader(threading.Thread):
    """Opens one camera and keeps its newest frame for detection (`take`); reopens the camera
    with backoff when it fails, and sets `frame_ready` whenever a frame waits.

    A camera has one frame buffer (a `FrameSlot`) and one drop count, in its health. A live
    camera's buffer is its adapter's: the adapter hands the newest frame out at the detection
    rate, and a frame detection had no time for is replaced by the next. A recording's is the
    reader's own: played in real time it drops as a live camera does; read as fast as possible
    it waits for detection to take each frame, and drops none.

    `options` are the live adapter's (see `assemble.stream_options`); `realtime` and `loop`
    override the camera's `playback:` settings for recordings.

    Live adapters reconnect by themselves once open; this loop covers a camera that cannot be
    opened at all (down at start, wrong password) and recordings that fail.
    """

    def __init__(
        self,
        camera: CameraConfig,
        frame_ready: threading.Event,
        stop: threading.Event,
        *,
        options: StreamOptions,
        realtime: bool | None = None,
        loop: bool | None = None,
        max_backoff_s: float | None = None,
        backoff: Backoff | None = None,
    ):
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        self.frame_ready = frame_ready
        self.stop = stop
        self.options = options
        self.realtime = camera.playback.realtime if realtime is None else realtime
        self.loop = camera.playback.loop if loop is None else loop
        self.max_backoff_s = camera.stream.max_backoff_s if max_backoff_s is None else max_backoff_s
        self.backoff = backoff or Backoff(
            initial_s=min(1.0, self.max_backoff_s), cap_s=self.max_backoff_s
        )
        self.stats = CameraStats()
        self.finished = threading.Event()
        self._source: FrameSource | None = None
        self._source_lock = threading.Lock()
        # Health of sources that do not track their own (recordings), and of a camera that
        # could not be opened at all.
        self._tracker = HealthTracker(
            camera.id,
            kind=urlsplit(camera.source).scheme.lower() or "unknown",
            detect_fps=camera.detect.fps,
            stale_after_s=camera.stream.stale_after_s,
        )
        self._slot = FrameSlot(on_drop=self._tracker.dropped)  # a recording's frame buffer
        # Used only by the detection thread that has the camera's frame.
        self._still_since: float | None = None
        self._key_frames_only = False

    def _open(self) -> FrameSource:
        return open_source(
            self.camera.id,
            self.camera.detect_source(),
            detect_fps=self.camera.detect.fps,
            loop=self.loop,
            realtime=self.realtime,
            options=self.options,
        )

    def run(self) -> None:
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    source = self._open()
                except CameraUnavailable as err:
                    failures += 1
                    self._unavailable(err.reason, failures, err.health_reason)
                    continue
                except ConfigError as err:
                    failures += 1
                    self._unavailable(str(err), failures, HealthReason.source_invalid)
                    continue
                except (UnsupportedSource, InvalidSource) as err:
                    # Retrying cannot help: the camera's configuration must change.
                    self.stats.status, self.stats.last_error = "offline", str(err)
                    self.stats.last_reason = err.health_reason
                    self._tracker.disconnected(str(err), err.health_reason)
                    log.error("%s", err)
                    return
                except Exception as err:
                    # Whatever went wrong opening it, the camera is retried, not abandoned.
                    failures += 1
                    log.exception("%s: camera could not be opened", self.camera.id)
                    self._unavailable(
                        f"could not be opened: {type(err).__name__}",
                        failures,
                        HealthReason.capture_failed,
                    )
                    continue
                with self._source_lock:
                    self._source = source
                    self._key_frames_only = False  # a source opens decoding every frame
                try:
                    if self.stats.reconnects or failures:
                        log.info(
                            "%s: camera back after %d failed attempts", self.camera.id, failures
                        )
                    failures = 0
                    # The source says from now on what is wrong, if anything.
                    self.stats.status, self.stats.last_error = "online", ""
                    self.stats.last_reason = None
                    self._tracker.connected()
                    if self._pump(source):
                        return
                except CameraUnavailable as err:
                    failures += 1
                    self.stats.reconnects += 1
                    self._unavailable(err.reason, failures, err.health_reason)
                finally:
                    with self._source_lock:
                        self._source = None
                    source.close()
        finally:
            self.finished.set()
            self.frame_ready.set()

    def _pump(self, source: FrameSource) -> bool:
        """Move frames until stopped or the source ends; True when the source has ended."""
        if isinstance(source, LiveSource):
            # The adapter holds the camera's frame and reconnects by itself.
            source.notify_frames(self.frame_ready.set)
            self.frame_ready.set()
            self.stop.wait()
            return False
        while not self.stop.is_set():
            frame = source.read()
            if frame is None:
                if self.stop.is_set():
                    return False
                self.stats.status = "ended"
                self._tracker.disconnected("recording ended", HealthReason.recording_ended)
                log.info(
                    "%s: recording ended after %d frames", self.camera.id, self.stats.frames_read
                )
                return True
            self.stats.frames_read += 1
            self._tracker.received(frame.size)
            if self.realtime:
                self._slot.put(frame)  # a frame detection did not take is dropped, counted
            elif not self._slot.put_when_free(frame, self.stop):
                # A recording read as fast as possible has no live moment to keep up with:
                # it waits for detection instead of dropping, so every sampled frame is analysed.
                return False
            self.frame_ready.set()
        return False

    def take(self) -> Frame | None:
        """The camera's frame waiting for detection, if there is one; never waits."""
        with self._source_lock:
            source = self._source
        if isinstance(source, LiveSource):
            frame = source.take()
            if frame is not None:
                self.stats.frames_read += 1
            return frame
        frame = self._slot.take()
        if frame is not None:
            self._tracker.delivered()
        return frame

    @property
    def frames_decoded(self) -> int | None:
        """Pictures the camera's current source has decoded, if it counts them (RTSP does)."""
        with self._source_lock:
            source = self._source
        return source.frames_decoded if isinstance(source, LiveSource) else None

    @property
    def key_frames_only(self) -> bool:
        """Whether the camera's source was last asked for key frames only (a still scene)."""
        return self._key_frames_only

    @property
    def waiting(self) -> bool:
        """Whether a frame waits for detection."""
        with self._source_lock:
            source = self._source
        return source.waiting if isinstance(source, LiveSource) else self._slot.waiting

    def scene_observed(self, decision: MotionDecision | None, *, busy: bool, at: float) -> None:
        """Tell the camera's source what the motion gate made of the frame taken at `at`
        (monotonic seconds): once the scene has been still (no motion, nothing `busy`: an
        incident's clip being recorded) for `STILL_BEFORE_KEY_FRAMES_S`, a live source decodes
        key frames only; motion, or no gate at all, brings every frame back at once. Does
        nothing when the camera's `stream.key_frames_when_still` is off."""
        if not self.camera.stream.key_frames_when_still:
            return
        still = decision is not None and decision.reason in ("still", "periodic") and not busy
        if not still:
            self._still_since = None
        elif self._still_since is None:
            self._still_since = at
        wanted = self._still_since is not None and at - self._still_since >= (
            STILL_BEFORE_KEY_FRAMES_S
        )
        with self._source_lock:
            source = self._source
        if isinstance(source, LiveSource) and wanted != self._key_frames_only:
            source.decode_key_frames_only(wanted)
            self._key_frames_only = wanted
            log.debug("%s: %s", self.camera.id, "key frames only" if wanted else "every frame")

    def _unavailable(self, reason: str, failures: int, code: HealthReason) -> None:
        self.stats.status, self.stats.last_error = "offline", reason
        self.stats.last_reason = code
        self._tracker.disconnected(reason, code)
        delay = self.backoff.delay(failures - 1)
        log.warning("%s: %s; retry in %.1fs", self.camera.id, reason, delay)
        self.stop.wait(delay)

    def interrupt(self) -> None:
        """Wake this reader if it waits on a live camera, so a stopping worker is not held up."""
        with self._source_lock:
            source = self._source
        if isinstance(source, LiveSource):
            # No waiting here for its capture thread: the reader's own close does that, so
            # many cameras stop in parallel.
            source.close(timeout_s=0)

    def health(self) -> CameraHealth:
        """The camera's health: the live adapter's own view, with the reader's reopenings added.

        `frames_dropped` counts frames that arrived and were never analysed: those the adapter
        skipped between detection intervals and those detection was too busy to take, counted
        once, where the camera's frame buffer is.
        """
        with self._source_lock:
            source = self._source
        health = source.health() if isinstance(source, LiveSource) else self._tracker.snapshot()
        return replace(
            health,
            reconnects=health.reconnects + self.stats.reconnects,
            last_error=health.last_error or self.stats.last_error,
            reason_code=(
                None
                if health.status is CameraStatus.online
                else health.reason_code or self.stats.last_reason
            ),
        )


def health_report(health: CameraHealth, detection: PipelineStats | None = None) -> dict[str, Any]:
    """A camera's health as the API takes it (PUT /api/v1/cameras/{id}/health), as JSON.

    An offline camera's report says since when (its outage's true start, so the API dates the
    video loss from it, not from the report) and why; an online one carries no error. With
    `detection`, the camera's pipeline figures: picture size changes and rules' failures.
    """
    online = health.status is CameraStatus.online
    error = None if online else (health.reason or health.last_error)
    offline = health.status is CameraStatus.offline
    return HealthReport(
        status=health.status.value,
        last_frame_at=health.last_frame_at,
        offline_since=health.offline_since if offline else None,
        fps=None if health.input_fps is None else round(health.input_fps, 2),
        detect_fps=None if health.output_fps is None else round(health.output_fps, 2),
        resolution=health.resolution or None,
        codec=health.codec,
        reconnects=health.reconnects,
        dropped_frames=health.frames_dropped,
        frame_age_s=(
            None if health.last_frame_age_s is None else round(health.last_frame_age_s, 3)
        ),
        reason=None if online else health.reason_code,
        error=error[:500] if error else None,
        size_changes=detection.size_changes if detection else 0,
        last_size_change=detection.last_size_change or None if detection else None,
        rule_failures=dict(detection.rule_failures) if detection else {},
    ).model_dump(mode="json")
