"""The frame type every camera adapter yields, and the protocol adapters satisfy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
    """

    camera_id: str
    image: np.ndarray
    timestamp: datetime
    sequence: int

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
