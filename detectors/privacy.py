"""Privacy masks: regions (a neighbour's window, a changing room door) blacked out before the
model sees a frame, so they can appear neither in detections nor in any stored image."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from detectors.rules.base import Point


class PrivacyMask:
    """Polygons in normalised image coordinates, filled black.

    Example:
        >>> mask = PrivacyMask([((0.8, 0.0), (1.0, 0.0), (1.0, 0.3), (0.8, 0.3))])
        >>> safe = mask.apply(frame.image)  # a copy; the top-right corner is black
    """

    def __init__(self, polygons: Sequence[Sequence[Point]] = ()):
        for polygon in polygons:
            if len(polygon) < 3:
                raise ValueError("a privacy mask polygon needs at least 3 points")
        self.polygons = [np.asarray(polygon, dtype=np.float64) for polygon in polygons]
        self._keep: dict[tuple[int, int], np.ndarray] = {}  # per frame size: 1 where shown

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """A copy of `image` with the masked regions black (the image itself if no mask)."""
        if not self.polygons:
            return image
        height, width = image.shape[:2]
        keep = self._keep.get((width, height))
        if keep is None:
            keep = np.ones((height, width), dtype=np.uint8)
            pixels = [np.round(p * (width, height)).astype(np.int32) for p in self.polygons]
            cv2.fillPoly(keep, pixels, 0)
            self._keep[(width, height)] = keep
        # Multiplying by a 0/1 mask is one vectorised pass and always returns a new array.
        return image * (keep[:, :, None] if image.ndim == 3 else keep)
