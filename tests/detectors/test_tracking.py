from __future__ import annotations

import numpy as np
import supervision as sv

from detectors.tracking import ObjectTracker


def detections(boxes: list[tuple[float, float, float, float]]) -> sv.Detections:
    return sv.Detections(
        xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), 0.9, dtype=np.float32),
        class_id=np.zeros(len(boxes), dtype=int),
        data={"class_name": np.array(["person"] * len(boxes))},
    )


def test_two_walkers_keep_their_ids_and_ids_are_small() -> None:
    tracker = ObjectTracker(high_confidence=0.4)
    seen: list[list[int]] = []
    for step in range(12):
        left = (10 + 6 * step, 100, 40 + 6 * step, 180)
        right = (400 - 6 * step, 90, 430 - 6 * step, 170)
        out = tracker.update(detections([left, right]))
        if len(out) == 2:
            seen.append(sorted(out.tracker_id.tolist()))
    assert seen and all(ids == seen[0] for ids in seen)
    assert seen[0] == [1, 2]


def test_no_detections_give_empty_tracked_detections() -> None:
    out = ObjectTracker().update(detections([]))
    assert len(out) == 0
    assert out.tracker_id is not None


def test_a_walker_moving_most_of_its_width_per_frame_keeps_one_confirmed_id() -> None:
    # A 30 px wide person sampled at 2 fps moves ~25 px a frame: boxes barely overlap.
    tracker = ObjectTracker(high_confidence=0.4)
    ids = []
    for step in range(8):
        x = 100 + 25 * step
        found = tracker.update(detections([(x, 200, x + 30, 290)]))
        ids.append(int(found.tracker_id[0]) if len(found) else None)
    assert ids[0] is not None and None not in ids[1:]
    assert len(set(ids)) == 1
