"""The frame type every camera adapter yields, and the protocol adapters satisfy."""

from __future__ import annotations

import time
from dataclasses import dataclass
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
    """

    camera_id: str
    image: np.ndarray
    timestamp: datetime
    sequence: int
    received: float | None = None

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
