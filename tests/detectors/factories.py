"""Builders of detections for rule and tracker tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import supervision as sv

T0 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tracked(boxes: list[tuple[float, float, float, float]], track_ids: list[int],
            names: list[str] | None = None, confidence: float = 0.8,
            stationary: bool = False) -> sv.Detections:  # fmt: skip
    """What the tracker hands the rules: boxes in pixels with track ids (and the tracker's
    stationary mark, the same for every box)."""
    names = names or ["person"] * len(boxes)
    return sv.Detections(
        xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), confidence, dtype=np.float32),
        class_id=np.zeros(len(boxes), dtype=int),
        tracker_id=np.array(track_ids, dtype=int),
        data={"class_name": np.array(names), "stationary": np.full(len(boxes), stationary)},
    )


def detected(boxes: list[tuple[float, float, float, float]], names: list[str] | None = None,
             confidence: float = 0.9) -> sv.Detections:  # fmt: skip
    """What the model sees in one frame: boxes in pixels, no track ids yet."""
    names = names or ["person"] * len(boxes)
    return sv.Detections(
        xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), confidence, dtype=np.float32),
        class_id=np.zeros(len(boxes), dtype=int),
        data={"class_name": np.array(names)},
    )
