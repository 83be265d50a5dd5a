"""Recorded footage as a camera, and `open_source`, which picks the adapter for an address."""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

from ingest.addresses import normalise_address
from ingest.decoding import VideoDecoder
from ingest.errors import CameraUnavailable, InvalidSource, UnsupportedSource
from ingest.frames import Frame, FrameSource
from ingest.http import HttpSource
from ingest.live import StreamOptions
from ingest.rtsp import RtspSource

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


MAX_PLAUSIBLE_FPS = 240.0
"""The highest frame rate a recording is believed to have (phones film slow motion at 240). A
container that says more (90000 from an MPEG-TS time base, 1000 from a Matroska one, when the
timestamps jitter) does not know its rate."""

FALLBACK_FPS = 25.0
"""The frame rate assumed for a recording whose container and timestamps both say nothing."""

MAX_FRAME_GAP_S = 5.0
"""A step between two frames' timestamps longer than this (or backwards) is a discontinuity in
the recording, not a pause to wait out: the frame is placed one frame interval on."""


def plausible_fps(value: float | None) -> float | None:
    """`value` (frames per second) if a recording could have that rate, else None: unknown.

    Example:
        >>> plausible_fps(25.0), plausible_fps(90000.0), plausible_fps(float("nan"))
        (25.0, None, None)
    """
    if value is None or not math.isfinite(value) or not 0 < value <= MAX_PLAUSIBLE_FPS:
        return None
    return value


class FileSource:
    """A recording played as a camera, sampled at the camera's detection rate.

    The recording is paced by its frames' own timestamps, never by the rate its container
    states: a container's rate is often wrong (an NVR export's MPEG-TS says 90000 fps) and
    frames are not evenly spaced. A timestamp that goes backwards, is missing, or jumps past
    `MAX_FRAME_GAP_S` places its frame one frame interval after the one before.

    With `realtime` the recording advances with the wall clock, as a live camera would, and each
    frame is stamped with the time it was taken out; without it frames come as fast as they can
    be decoded and are stamped `start_time` plus their position in the recording, so tests and
    benchmarks see the same frames every run. With `loop` the recording restarts at its end.

    Example:
        >>> source = FileSource("cam-1", Path("vtest.avi"), detect_fps=2, realtime=False)
        >>> frame = source.read()
        >>> frame.timestamp - source.start_time
        datetime.timedelta(0)
    """

    def __init__(
        self,
        camera_id: str,
        path: Path,
        *,
        detect_fps: float,
        loop: bool = True,
        realtime: bool = True,
        start_time: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
    ):
        if detect_fps <= 0:
            raise ValueError("detect_fps must be positive")
        self.camera_id = camera_id
        self.path = path
        self.detect_fps = detect_fps
        self.loop = loop
        self.realtime = realtime
        self.start_time = start_time or now()
        self._monotonic = monotonic
        self._sleep = sleep
        self._now = now
        self._capture = self._open()
        self.container_fps = plausible_fps(self._capture.fps)
        self._steps: deque[float] = deque(maxlen=50)  # recent believable frame intervals, s
        self._started = monotonic()
        self._samples = 0  # frames handed out so far
        self._frames_in_pass = 0  # frames grabbed since the recording last (re)started
        self._first_stamp = 0.0  # the pass's first frame's timestamp, seconds
        self._last_stamp = 0.0  # the last grabbed frame's timestamp, seconds
        self._last_position = 0.0  # the last grabbed frame's media time in this pass, seconds
        self._shift = 0.0  # seconds added to timestamps after discontinuities in this pass
        self._pass_offset = 0.0  # media seconds played in earlier passes of a looped recording
        self.ended = False

    @property
    def native_fps(self) -> float | None:
        """The recording's frame rate: measured from the timestamps of the frames decoded so
        far, else the container's if it is believable, else None (unknown)."""
        if len(self._steps) >= 2:
            return 1 / statistics.median(self._steps)
        return self.container_fps

    def _frame_interval(self) -> float:
        """Seconds between frames, as best known now."""
        return 1 / (self.native_fps or FALLBACK_FPS)

    @property
    def codec(self) -> str | None:
        """The recording's codec: its tag (FourCC, lower case) if it has a readable one, else
        FFmpeg's name of it (h264, hevc, ...)."""
        tag = self._capture.codec_tag.strip("\x00 ").lower()
        if tag and tag.isprintable() and tag.isascii():
            return tag
        return self._capture.codec_name or None

    def _open(self) -> VideoDecoder:
        if not self.path.is_file():
            raise CameraUnavailable(self.camera_id, f"recording not found: {self.path}")
        try:
            # Decoded at each picture's own size: a recording whose size changes is not stretched.
            return VideoDecoder(str(self.path))
        except (OSError, LookupError) as err:
            raise CameraUnavailable(
                self.camera_id, f"not a readable video: {self.path.name}"
            ) from err

    def _rewind(self) -> None:
        self._pass_offset += self._last_position + self._frame_interval()
        self._frames_in_pass = 0
        self._last_position = 0.0
        self._capture.close()
        self._capture = self._open()

    def _grab(self) -> float | None:
        """Grab the next frame; its media time in this pass (seconds), None at the end."""
        if not self._capture.grab():
            return None
        stamp = self._capture.position_s
        if not math.isfinite(stamp):
            stamp = self._last_stamp + self._frame_interval()
        if self._frames_in_pass == 0:
            self._first_stamp, self._shift = stamp, 0.0
        else:
            step = stamp - self._last_stamp
            if 1 / MAX_PLAUSIBLE_FPS <= step <= MAX_FRAME_GAP_S:
                self._steps.append(step)
            else:
                # A discontinuity: this frame and those after it move to one interval on.
                self._shift += self._frame_interval() - step
        position = stamp - self._first_stamp + self._shift
        self._frames_in_pass += 1
        self._last_stamp, self._last_position = stamp, position
        return position

    def _decode_at(self, target: float) -> tuple[np.ndarray, float] | None:
        """Decode the first frame at or after media time `target` (seconds since start); its
        pixels and media time, None once a recording played once has ended."""
        while True:
            position = self._grab()
            if position is None:
                if not self.loop:
                    return None
                if self._frames_in_pass == 0:
                    raise CameraUnavailable(
                        self.camera_id, f"recording has no frames: {self.path.name}"
                    )
                self._rewind()
                continue
            position += self._pass_offset
            # Half a frame early counts as on time, so sampling at the recording's own rate
            # takes every frame despite jittered timestamps; a microsecond settles exact ties
            # for the earlier frame whatever the rounding.
            if position < target - 0.5 * self._frame_interval() - 1e-6:
                continue
            image = self._capture.retrieve()
            if image is not None:
                return image, position

    def read(self) -> Frame | None:
        """The next sampled frame, or None once a recording played once has ended."""
        if self.ended:
            return None
        target = self._samples / self.detect_fps
        if self.realtime:
            wait = self._started + target - self._monotonic()
            if wait > 0:
                self._sleep(wait)
            else:
                # Behind schedule (slow decoding or a paused process): jump to the present,
                # as a live camera would, instead of replaying the backlog.
                target = self._monotonic() - self._started
                self._samples = math.ceil(target * self.detect_fps)
        self._samples += 1
        decoded = self._decode_at(target)
        if decoded is None:
            self.ended = True
            return None
        image, position = decoded
        if self.realtime:
            # A frame is not shown before its time comes, however fast detection asks.
            early = self._started + position - self._monotonic()
            if early > 0.001:
                self._sleep(early)
        timestamp = self._now() if self.realtime else self.start_time + timedelta(seconds=position)
        # The recording's own timeline is its monotonic clock: durations follow the footage.
        return Frame(
            self.camera_id, image, timestamp, self._samples - 1,
            monotonic=self._started + position,
        )  # fmt: skip

    def close(self) -> None:
        self._capture.close()


def open_source(
    camera_id: str,
    url: str,
    *,
    detect_fps: float,
    loop: bool = True,
    realtime: bool = True,
    options: StreamOptions | None = None,
    check_address: Callable[[str], None] | None = None,
) -> FrameSource:
    """Open the adapter for `url`'s scheme (read from the normalised, parsed address).

    `check_address`, when given, is called with the address a stream is read from after an
    onvif:// camera named it, and may refuse it by raising.

    Raises:
        UnsupportedSource: No adapter for the scheme (not retried).
        InvalidSource: The address is malformed (not retried).
        CameraUnavailable: Or one of its kinds (unreachable, refused, timeout, authentication
            failed, not a video stream); worth retrying.
    """
    url = normalise_address(camera_id, url)
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise InvalidSource(camera_id, "not a URL") from err
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidSource(camera_id, "no scheme (expected rtsp://, http://, file:// ...)")
    if scheme == "file":
        path = Path(unquote(parts.netloc + parts.path))
        return FileSource(camera_id, path, detect_fps=detect_fps, loop=loop, realtime=realtime)
    if scheme == "onvif":
        # Ask the camera where its stream is, then read that like any RTSP camera.
        from ingest.onvif import resolve_stream_url

        url = resolve_stream_url(camera_id, url)
        if check_address is not None:
            check_address(url)
        scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return RtspSource(camera_id, url, detect_fps=detect_fps, options=options)
    if scheme in ("http", "https"):
        return HttpSource(camera_id, url, detect_fps=detect_fps, options=options)
    if scheme == "gb28181":
        # Streamed on request through the `gridwatch gb28181` service (GRIDWATCH_GB28181_*).
        from ingest.gb28181 import Gb28181Source

        return Gb28181Source(camera_id, url, detect_fps=detect_fps, options=options)
    raise UnsupportedSource(camera_id, scheme)
