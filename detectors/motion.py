"""The motion gate: run the model only when the picture changed; still scenes cost almost none."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import cv2
import numpy as np

Reason = Literal["first", "motion", "periodic", "still"]


@dataclass(frozen=True)
class MotionDecision:
    """Whether to run the model on a frame, and why.

    Attributes:
        infer: Run the model (otherwise the last frame's detections still describe the scene).
        reason: "first" frame, "motion" seen, "periodic" full check, or "still".
        changed_fraction: Share of the picture that changed since the last inferred frame.
        regions: Boxes of the regions changed since the last inferred frame, normalised
            (x1, y1, x2, y2), however small the change; empty for the first frame.
    """

    infer: bool
    reason: Reason
    changed_fraction: float
    regions: tuple[tuple[float, float, float, float], ...] = ()


@dataclass
class MotionStats:
    frames: int = 0
    inferred: int = 0
    skipped: int = 0
    periodic: int = 0

    @property
    def saved_fraction(self) -> float:
        return self.skipped / self.frames if self.frames else 0.0


@dataclass
class MotionGate:
    """Compares each frame with the last frame the model saw; below `min_changed` of the picture
    changed, the model is skipped and that frame's detections stand.

    Comparing with the last *inferred* frame, not the previous one, means slow changes add up
    until they are seen. Every `full_check_s` the model runs anyway, so an object that stopped
    moving (a parked car, a fallen person) is still confirmed by the model and tracks stay fresh.

    `phase` (0 <= phase < 1) brings the first full check forward by that share of
    `full_check_s`, and every later one of a still scene with it: cameras that start together
    (a worker starting, cameras taken over) would otherwise all send their still frames to the
    model in the same second, every `full_check_s`. 64 still cameras on 2 cores did: the model
    took longer than a second for them, and each camera lost a frame every 10 s. Give each
    camera its own phase (`phase_of`).

    Raises:
        ValueError: `phase` is outside [0, 1).

    Example:
        >>> gate = MotionGate(min_changed=0.002, full_check_s=10, phase=phase_of("gate-1"))
        >>> decision = gate.update(frame.image, now=frame.timestamp)
        >>> if decision.infer: detections = detector.detect(frame.image, confidence=0.4)
    """

    min_changed: float = 0.002
    full_check_s: float = 10.0
    pixel_threshold: int = 25
    analysis_width: int = 320
    phase: float = 0.0
    stats: MotionStats = field(default_factory=MotionStats)
    _reference: np.ndarray | None = field(default=None, repr=False)
    _last_inference: datetime | None = field(default=None, repr=False)
    _kernel: np.ndarray = field(
        default_factory=lambda: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)), repr=False
    )

    def __post_init__(self) -> None:
        if not 0 <= self.phase < 1:
            raise ValueError(f"phase must be at least 0 and below 1, not {self.phase}")

    def update(self, image: np.ndarray, *, now: datetime) -> MotionDecision:
        """Decide for one frame taken at `now`; call in time order."""
        grey = self._prepare(image)
        self.stats.frames += 1
        if self._reference is None or self._reference.shape != grey.shape:
            decision = self._inferred(grey, now, MotionDecision(True, "first", 1.0))
            # As if the model had run `phase` of the interval earlier: the first full check
            # comes that much sooner, and the later ones of a still scene keep the step.
            self._last_inference = now - timedelta(seconds=self.phase * self.full_check_s)
            return decision
        difference = cv2.absdiff(grey, self._reference)
        _, changed = cv2.threshold(difference, self.pixel_threshold, 255, cv2.THRESH_BINARY)
        # Opening removes single-pixel noise (sensor grain, compression) before counting.
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, self._kernel)
        fraction = cv2.countNonZero(changed) / changed.size
        # Small changes are reported too: the tracker tells a person standing still (who still
        # moves a little) from a poster by them.
        regions = _regions(changed) if fraction else ()
        if fraction >= self.min_changed:
            return self._inferred(grey, now, MotionDecision(True, "motion", fraction, regions))
        assert self._last_inference is not None
        if now - self._last_inference >= timedelta(seconds=self.full_check_s):
            self.stats.periodic += 1
            return self._inferred(grey, now, MotionDecision(True, "periodic", fraction, regions))
        self.stats.skipped += 1
        return MotionDecision(False, "still", fraction, regions)

    def reset(self) -> None:
        """Forget the reference picture: the next frame is a "first" one and goes to the model."""
        self._reference = None
        self._last_inference = None

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        scale = self.analysis_width / width
        # Grey first: averaging one channel down costs a third of averaging three, and the
        # full-size conversion is cheap; both are weighted sums, so the thumbnail is the same.
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        small = cv2.resize(
            grey,
            (self.analysis_width, max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
        return cv2.GaussianBlur(small, (5, 5), 0)

    def _inferred(
        self, grey: np.ndarray, now: datetime, decision: MotionDecision
    ) -> MotionDecision:
        self._reference = grey
        self._last_inference = now
        self.stats.inferred += 1
        return decision


def phase_of(camera_id: str) -> float:
    """A camera's own phase for its motion gate's full checks, in [0, 1): the same for the same
    camera id on any worker and at any start, and spread evenly over cameras.

    Example:
        >>> 0 <= phase_of("school-no1-gate") < 1
        True
    """
    return zlib.crc32(camera_id.encode()) / 2**32


def _regions(changed: np.ndarray) -> tuple[tuple[float, float, float, float], ...]:
    height, width = changed.shape
    count, _labels, boxes, _centroids = cv2.connectedComponentsWithStats(changed)
    return tuple(
        (x / width, y / height, (x + w) / width, (y + h) / height)
        for x, y, w, h, _area in boxes[1:count]
    )
