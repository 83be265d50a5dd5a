"""The frame type every camera adapter yields, the protocol adapters satisfy, and the one-frame
buffer where a camera's newest frame waits for detection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture from one camera.

    Attributes:
        camera_id: The camera it came from.
        image: BGR pixels, shape (height, width, 3), uint8.
        timestamp: When the picture was taken (timezone-aware, UTC).
        sequence: Position of this frame among those the source has yielded, from 0.
        received: `time.monotonic()` when the adapter received the picture from a live camera,
            or None for recordings. The wall clock can jump; this cannot, so ages computed
            from it are exact.
        monotonic: The frame's time in seconds on a clock that never steps, beside its wall
            `timestamp`: `time.monotonic()` at arrival for a live camera, the recording's own
            timeline for a recording; durations between frames are measured with it (see
            `detectors.clock`). None for a frame built without one.
    """

    camera_id: str
    image: np.ndarray
    timestamp: datetime
    sequence: int
    received: float | None = None
    monotonic: float | None = None

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the picture was received (`now` is a `time.monotonic()` reading).

        A consumer that falls behind sees it here: detection on a frame several seconds old
        raises its alert several seconds late.
        """
        if self.received is not None:
            return (time.monotonic() if now is None else now) - self.received
        return (datetime.now(UTC) - self.timestamp).total_seconds()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        height, width = self.image.shape[:2]
        return width, height


class FrameSource(Protocol):
    """What every camera adapter offers.

    `read` returns the next frame to analyse, or None once a finite source (a recording played
    once) has ended. It raises `CameraUnavailable` when the camera cannot be reached.
    """

    camera_id: str

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class FrameSlot:
    """Where a camera's newest frame waits for detection: a buffer of one, safe between threads.

    A frame `put` while the one before still waits replaces it, and `on_drop` is called for the
    one replaced: detection had no time for it. `put_when_free` waits instead, for a recording
    that must not lose a frame. With `numbered`, frames are numbered as they are taken (0, 1,
    2, ...), so a consumer sees consecutive `sequence` numbers whatever was dropped before.

    Example:
        >>> slot = FrameSlot(on_drop=health_tracker.dropped)
        >>> slot.put(frame)  # from the capture thread
        >>> slot.take()  # from the detection side; None if no frame waits
    """

    def __init__(
        self, *, on_drop: Callable[[], object] | None = None, numbered: bool = False
    ) -> None:
        self._on_drop = on_drop
        self._numbered = numbered
        self._changed = threading.Condition()
        self._frame: Frame | None = None
        self._taken = 0
        self._closed = False

    @property
    def waiting(self) -> bool:
        """Whether a frame waits to be taken."""
        with self._changed:
            return self._frame is not None

    def put(self, frame: Frame) -> None:
        """Hold `frame`; a frame still waiting is dropped (and counted)."""
        with self._changed:
            replaced = self._frame is not None
            self._frame = frame
            self._changed.notify_all()
        if replaced and self._on_drop is not None:
            self._on_drop()

    def put_when_free(self, frame: Frame, stop: threading.Event) -> bool:
        """Hold `frame` once the frame before has been taken; False if `stop` is set (or the slot
        closed) first, and the frame is not held."""
        with self._changed:
            while self._frame is not None:
                if stop.is_set() or self._closed:
                    return False
                # Bounded, so a stop is noticed without a notification.
                self._changed.wait(0.2)
            self._frame = frame
            self._changed.notify_all()
        return True

    def take(self, timeout: float | None = 0.0) -> Frame | None:
        """The waiting frame, or None if there is none; the slot is then empty.

        `timeout` is how long to wait for a frame in seconds: 0 does not wait, None waits
        until a frame comes or the slot is closed.
        """
        with self._changed:
            if timeout != 0:
                self._changed.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            if frame is None:
                return None
            sequence = self._taken
            self._taken += 1
            self._changed.notify_all()
        return replace(frame, sequence=sequence) if self._numbered else frame

    def close(self) -> None:
        """Release whoever waits on the slot; safe from any thread and more than once."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
