"""What every live camera adapter shares: a capture thread that hands out the newest frame at
the detection rate into the camera's one frame buffer, reconnection with backoff, and health.

A subclass only says how to connect (`_connect`) and gets back a `LiveSession` that receives
one frame at a time and decodes the last one on demand.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import numpy as np

from contract.health import HealthReason
from ingest.backoff import Backoff
from ingest.errors import CameraUnavailable, DamagedFrame, IngestError, UndecodableStream
from ingest.frames import Frame, FrameSlot
from ingest.health import CameraHealth, HealthTracker
from ingest.reconnects import ReconnectSchedule

if TYPE_CHECKING:
    from ingest.decoding import VideoDecoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamOptions:
    """How a live camera is reached and watched.

    Attributes:
        transport: RTSP transport: tcp (works through NAT and firewalls, no loss) or udp
            (lower latency on a clean LAN).
        open_timeout_s: Limit on connecting and on the camera's first answer.
        read_timeout_s: A connected camera silent for this long counts as lost.
        max_backoff_s: Longest wait between reconnection attempts.
        stale_after_s: Newest-frame age past which a connected camera is degraded; None picks
            a default from the detection rate.
        decode_threads: FFmpeg decoder threads per camera. One keeps latency at one frame and
            scales to many cameras; a 4K main stream may need more.
        key_frames_at_detect_rate: Decode key frames only whenever they alone come at least
            at the detection rate (adapters that can skip pictures: RTSP).
    """

    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    max_backoff_s: float = 30.0
    stale_after_s: float | None = None
    decode_threads: int = 1
    key_frames_at_detect_rate: bool = False


class LiveSession(Protocol):
    """One connection to a camera, used only by the capture thread."""

    codec: str | None

    def receive(self) -> int:
        """Block until the next frame arrives; raise CameraUnavailable when the camera is lost.

        Returns how many frames arrived; when several came at once only the last is kept.
        """

    def decode(self) -> np.ndarray:
        """The last received frame as BGR pixels; raise CameraUnavailable if it is corrupt."""

    def close(self) -> None: ...


class DecoderSession:
    """A `LiveSession` over one FFmpeg `VideoDecoder` (RTSP, GB/T 28181's PS over RTP): a
    picture received per `grab`, converted to BGR only when handed out, at the size the stream
    has when it is decoded (a camera re-configured to another size mid-stream is not stretched
    to the first). Only the capture thread uses it.

    Subclasses word a lost stream (`lost`) or note when pictures arrive (`receive`).
    """

    def __init__(self, camera_id: str, decoder: VideoDecoder, codec: str | None):
        self.camera_id = camera_id
        self.decoder = decoder
        self.codec = codec

    def lost(self) -> CameraUnavailable:
        """The error a stream that gives no more pictures raises."""
        return CameraUnavailable(self.camera_id, "stream lost")

    def receive(self) -> int:
        if not self.decoder.grab():
            raise self.lost()
        return 1

    def decode(self) -> np.ndarray:
        image = self.decoder.retrieve()
        if image is None:
            raise DamagedFrame(self.camera_id, "frame could not be decoded")
        return image

    def close(self) -> None:
        self.decoder.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveSource(ABC):
    """A live camera read by a background capture thread.

    The capture thread receives every frame the camera sends, so nothing queues up in the
    socket or the decoder, and at the camera's detection rate hands the newest out into the
    camera's one frame buffer (a `FrameSlot`), where it waits for detection: `read()` waits
    for it, `take()` takes it if it is there. Frames that arrive between two hand-outs, and a
    handed-out frame replaced by the next before anyone took it, are dropped and counted once,
    in health. When the connection is lost the capture thread reconnects by itself, with
    backoff, while `read()` waits; health shows the camera offline meanwhile.

    The first connection is made in the constructor, so a camera that cannot be opened at all
    raises its error (refused, authentication failed, not a video stream, ...) right there.
    `close()` may be called from any thread; a `read()` waiting for a frame then returns None.
    """

    kind: ClassVar[str] = "live"

    def __init__(
        self,
        camera_id: str,
        *,
        detect_fps: float,
        options: StreamOptions | None = None,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ):
        if detect_fps <= 0:
            raise ValueError("detect_fps must be positive")
        self.camera_id = camera_id
        self.detect_fps = detect_fps
        self.options = options or StreamOptions()
        self.backoff = backoff or Backoff(initial_s=0.5, cap_s=self.options.max_backoff_s)
        self.reconnects = ReconnectSchedule(self.backoff)
        self._monotonic = monotonic
        self._now = now
        self._interval = 1.0 / detect_fps
        self.health_tracker = HealthTracker(
            camera_id,
            kind=self.kind,
            detect_fps=detect_fps,
            stale_after_s=self.options.stale_after_s,
            transport=self._transport(),
            monotonic=monotonic,
            now=now,
        )
        self._closed = threading.Event()
        self._slot = FrameSlot(on_drop=self.health_tracker.dropped, numbered=True)
        self._on_frame: Callable[[], object] | None = None
        self.key_frames_wanted = False  # the last decode_key_frames_only
        # Only the capture thread uses these two.
        self._next_due = monotonic()
        self._arrival_interval = 0.1  # running estimate of the camera's frame interval
        self._thread: threading.Thread | None = None

    def _transport(self) -> str | None:
        return None

    def _start(self) -> None:
        """Connect once (raising on failure), then hand the connection to the capture thread."""
        session = self._connect()
        self.health_tracker.connected(codec=session.codec)
        self.reconnects.connected()
        self._thread = threading.Thread(
            target=self._capture, args=(session,), name=f"capture-{self.camera_id}", daemon=True
        )
        self._thread.start()

    @abstractmethod
    def _connect(self) -> LiveSession:
        """Open the camera; raise our own errors when it cannot be used."""

    def _decode_every_frame(self) -> bool:
        """Whether every received frame is wanted (a source that fetches only when due)."""
        return False

    # The capture thread.

    def _capture(self, session: LiveSession | None) -> None:
        try:
            while not self._closed.is_set():
                if session is None:
                    session = self._reconnect()
                    if session is None:
                        return
                try:
                    self._pump(session)
                except CameraUnavailable as err:
                    self.health_tracker.disconnected(err.reason, err.health_reason)
                    if not self._closed.is_set():  # else it is just close() interrupting
                        log.warning("%s: %s", self.camera_id, err.reason)
                except Exception as err:
                    # Whatever a library throws, the camera must come back, not the thread die.
                    reason = f"capture failed: {type(err).__name__}"
                    self.health_tracker.disconnected(reason, HealthReason.capture_failed)
                    log.exception("%s: %s", self.camera_id, reason)
                finally:
                    self.reconnects.lost()
                    session.close()
                    session = None
        finally:
            self.health_tracker.disconnected("closed", HealthReason.stopped)
            self._slot.close()

    def _pump(self, session: LiveSession) -> None:
        last_arrival: float | None = None
        last_good = self._monotonic()  # when this connection last gave a picture we could use
        while not self._closed.is_set():
            count = session.receive()
            arrived = self._monotonic()
            if count > 1:
                for _ in range(count - 1):
                    self.health_tracker.received()
                self.health_tracker.dropped(count - 1)
            if last_arrival is not None:
                self._arrival_interval += 0.2 * (arrived - last_arrival - self._arrival_interval)
            last_arrival = arrived
            due = self._due(arrived)
            # Decoding to BGR costs; only a frame that is handed out is decoded.
            if not (due or self._decode_every_frame()):
                self.health_tracker.received()
                self.health_tracker.dropped()
                continue
            try:
                image = session.decode()
            except DamagedFrame as err:
                self._skip_damaged(err, arrived, last_good)
                continue
            last_good = arrived
            self.reconnects.good_frame(arrived)
            height, width = image.shape[:2]
            self.health_tracker.received((width, height))
            if not due:
                self.health_tracker.dropped()
                continue
            self._next_due = max(self._next_due + self._interval, arrived)
            taken_at = self._now() - timedelta(seconds=self._monotonic() - arrived)
            # Numbered as it is taken; a frame still waiting in the slot is dropped, counted.
            self._slot.put(
                Frame(self.camera_id, image, taken_at, 0, received=arrived, monotonic=arrived)
            )
            if self._on_frame is not None:
                self._on_frame()

    def _due(self, arrived: float) -> bool:
        """Whether a frame that arrived at `arrived` is handed out for the hand-out due next.

        A frame that arrived more than half a camera interval before the due time is passed
        over for the next one, due within half an interval: detection then never works on a
        picture older than half a frame interval, whatever the phase between the camera's
        frames and the detection schedule.
        """
        return arrived >= self._next_due - self._arrival_interval / 2

    def _skip_damaged(self, err: DamagedFrame, arrived: float, last_good: float) -> None:
        """Count a frame that could not be decoded and go on; raise CameraUnavailable once the
        connection has given nothing but damaged frames for the read timeout."""
        self.health_tracker.damaged()
        log.debug("%s: skipped a damaged frame: %s", self.camera_id, err.reason)
        if arrived - last_good > self.options.read_timeout_s:
            raise UndecodableStream(
                self.camera_id,
                f"only damaged frames for {arrived - last_good:.0f} s ({err.reason})",
            )

    def _reconnect(self) -> LiveSession | None:
        while True:
            delay = self.reconnects.delay()
            log.info("%s: reconnecting in %.1fs", self.camera_id, delay)
            if self._closed.wait(delay):
                return None
            try:
                session = self._connect()
            except IngestError as err:
                self.reconnects.failed()
                reason = getattr(err, "reason", str(err))
                self.health_tracker.disconnected(reason, err.health_reason)
                log.warning("%s: reconnect failed: %s", self.camera_id, reason)
                continue
            self.health_tracker.connected(codec=session.codec)
            self.reconnects.connected()
            log.info(
                "%s: camera back after %d failed attempts",
                self.camera_id, self.reconnects.failures,
            )  # fmt: skip
            return session

    # The consumer's side.

    def read(self) -> Frame | None:
        """The next frame handed out, at the detection rate; None once the source is closed.

        Waits while the camera is offline: the capture thread is reconnecting meanwhile.
        """
        frame = self._slot.take(timeout=None)
        if frame is None or self._closed.is_set():
            return None
        self.health_tracker.delivered(frame.size)
        return frame

    def take(self) -> Frame | None:
        """The frame handed out and waiting for detection, if there is one; never waits."""
        frame = self._slot.take()
        if frame is not None:
            self.health_tracker.delivered(frame.size)
        return frame

    @property
    def waiting(self) -> bool:
        """Whether a handed-out frame waits to be taken."""
        return self._slot.waiting

    def decode_key_frames_only(self, wanted: bool) -> None:
        """Ask for key frames only (`wanted`: the scene is still) or for every frame again.

        Called from any thread. An adapter that cannot skip frames (snapshots, MJPEG, whose
        every frame stands alone) keeps decoding what it decodes; see `RtspSource`.
        """
        self.key_frames_wanted = wanted

    @property
    def frames_decoded(self) -> int | None:
        """Pictures decoded since the source was opened, if the adapter counts them."""
        return None

    def notify_frames(self, callback: Callable[[], object]) -> None:
        """Call `callback` (on the capture thread, so briefly) each time a frame is handed out."""
        self._on_frame = callback

    def health(self) -> CameraHealth:
        """The camera's health now."""
        return self.health_tracker.snapshot()

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the capture thread; safe from any thread and more than once."""
        self._closed.set()
        self._slot.close()
        thread = self._thread
        if timeout_s > 0 and thread is not None and thread is not threading.current_thread():
            # A thread blocked in a read returns within the read timeout; waiting that long
            # here would hold up a worker stopping many cameras, so give it a moment only.
            thread.join(timeout_s)
