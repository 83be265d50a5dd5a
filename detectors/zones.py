"""Zones: named polygons in normalised image coordinates, tested against detection anchors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import supervision as sv

Anchor = Literal["center", "bottom_center"]
_ANCHOR_POSITIONS = {"center": sv.Position.CENTER, "bottom_center": sv.Position.BOTTOM_CENTER}


@dataclass(frozen=True)
class Zone:
    """A polygon over the image, in normalised coordinates (0..1 from the top left).

    Example:
        >>> zone = Zone("gate", ((0, 0), (1, 0), (1, 1)))
        >>> zone.contains_points(np.array([[0.9, 0.1], [0.1, 0.9]]))
        array([ True, False])
    """

    name: str
    polygon: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.name!r} needs at least 3 points")

    def pixel_polygon(self, width: int, height: int) -> np.ndarray:
        """The polygon in pixel coordinates of a (width, height) image, int32 for OpenCV."""
        points = np.asarray(self.polygon, dtype=np.float64) * (width, height)
        return np.round(points).astype(np.int32)

    def contains_points(self, points: np.ndarray) -> np.ndarray:
        """Which of the normalised points (N x 2) lie inside (even-odd rule; edges count in)."""
        return points_in_polygon(points, np.asarray(self.polygon, dtype=np.float64))

    def contains(
        self, detections: sv.Detections, width: int, height: int, anchor: Anchor
    ) -> np.ndarray:
        """A boolean per detection: is its anchor point inside the zone?"""
        if len(detections) == 0:
            return np.zeros(0, dtype=bool)
        points = detections.get_anchors_coordinates(_ANCHOR_POSITIONS[anchor])
        return self.contains_points(np.asarray(points, dtype=np.float64) / (width, height))


def anchor_points(detections: sv.Detections, anchor: Anchor) -> np.ndarray:
    """Pixel anchor points (N x 2) of the detections."""
    return np.asarray(detections.get_anchors_coordinates(_ANCHOR_POSITIONS[anchor]))


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Vectorised even-odd point-in-polygon; points on an edge count as inside."""
    x = points[:, 0][:, None]
    y = points[:, 1][:, None]
    x1, y1 = polygon[:, 0], polygon[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at_y = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    inside = np.count_nonzero(crosses & (x < x_at_y), axis=1) % 2 == 1
    # Points on an edge: collinear with the segment and within its bounding box.
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    within = (
        (np.minimum(x1, x2) <= x) & (x <= np.maximum(x1, x2))
        & (np.minimum(y1, y2) <= y) & (y <= np.maximum(y1, y2))
    )  # fmt: skip
    on_edge = np.any((np.abs(cross) < 1e-12) & within, axis=1)
    return inside | on_edge
