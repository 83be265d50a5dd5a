"""Recorded footage as a camera, and `open_source`, which picks the adapter for an address."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from ingest.errors import CameraUnavailable, InvalidSource, UnsupportedSource
from ingest.ffmpeg import open_capture
from ingest.frames import Frame, FrameSource
from ingest.http import HttpSource
from ingest.live import StreamOptions
from ingest.rtsp import RtspSource

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FileSource:
    """A recording played as a camera, sampled at the camera's detection rate.

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
        native_fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.native_fps = native_fps if native_fps and math.isfinite(native_fps) else 25.0
        self._started = monotonic()
        self._samples = 0  # frames handed out so far
        self._decoded_in_pass = 0  # frames decoded since the recording last (re)started
        self._pass_offset = 0.0  # media seconds played in earlier passes of a looped recording
        self.ended = False

    @property
    def codec(self) -> str | None:
        """The recording's codec tag (its FourCC, lower case), if it has a readable one."""
        tag = int(self._capture.get(cv2.CAP_PROP_FOURCC))
        text = tag.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ").lower()
        return text if tag > 0 and text.isprintable() and text else None

    def _open(self) -> cv2.VideoCapture:
        if not self.path.is_file():
            raise CameraUnavailable(self.camera_id, f"recording not found: {self.path}")
        capture = open_capture(str(self.path), {})
        if not capture.isOpened():
            capture.release()
            raise CameraUnavailable(self.camera_id, f"not a readable video: {self.path.name}")
        return capture

    def _rewind(self) -> None:
        self._pass_offset += self._decoded_in_pass / self.native_fps
        self._decoded_in_pass = 0
        self._capture.release()
        self._capture = self._open()

    def _media_time_of_next_frame(self) -> float:
        return self._pass_offset + self._decoded_in_pass / self.native_fps

    def _decode_at(self, target: float) -> tuple[np.ndarray, float] | None:
        """Decode the first frame at or after media time `target` (seconds since start)."""
        half_frame = 0.5 / self.native_fps
        while True:
            while self._media_time_of_next_frame() < target - half_frame:
                if not self._capture.grab():
                    break
                self._decoded_in_pass += 1
            else:
                position = self._media_time_of_next_frame()
                ok, image = self._capture.read()
                if ok:
                    self._decoded_in_pass += 1
                    return image, position
            # The recording ended before `target`.
            if not self.loop:
                return None
            if self._decoded_in_pass == 0:
                raise CameraUnavailable(
                    self.camera_id, f"recording has no frames: {self.path.name}"
                )
            self._rewind()

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
        timestamp = self._now() if self.realtime else self.start_time + timedelta(seconds=position)
        return Frame(self.camera_id, image, timestamp, self._samples - 1)

    def close(self) -> None:
        self._capture.release()


def open_source(
    camera_id: str,
    url: str,
    *,
    detect_fps: float,
    loop: bool = True,
    realtime: bool = True,
    options: StreamOptions | None = None,
) -> FrameSource:
    """Open the adapter for `url`'s scheme.

    Raises:
        UnsupportedSource: No adapter for the scheme (not retried).
        InvalidSource: The address is malformed (not retried).
        CameraUnavailable: Or one of its kinds (unreachable, refused, timeout, authentication
            failed, not a video stream); worth retrying.
    """
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
        scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return RtspSource(camera_id, url, detect_fps=detect_fps, options=options)
    if scheme in ("http", "https"):
        return HttpSource(camera_id, url, detect_fps=detect_fps, options=options)
    raise UnsupportedSource(camera_id, scheme)
