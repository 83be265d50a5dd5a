"""Multi-object tracking, so rules reason about objects that persist, not boxes per frame."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import supervision as sv
from ultralytics.trackers.byte_tracker import BYTETracker


def subset(detections: sv.Detections, index: np.ndarray) -> sv.Detections:
    """The detections picked by a boolean mask or an index array, still as Detections."""
    selected = detections[index]
    if not isinstance(selected, sv.Detections):
        raise TypeError("expected a mask or an index array")
    return selected


class _Boxes:
    """The array view BYTETracker reads: conf, cls, xywh, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray):
        self.xyxy = xyxy
        self.conf = conf
        self.cls = cls

    @property
    def xywh(self) -> np.ndarray:
        xywh = np.empty_like(self.xyxy)
        xywh[:, 0] = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        xywh[:, 1] = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        xywh[:, 2] = self.xyxy[:, 2] - self.xyxy[:, 0]
        xywh[:, 3] = self.xyxy[:, 3] - self.xyxy[:, 1]
        return xywh

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: np.ndarray) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


class ObjectTracker:
    """ByteTrack over one camera's detections; one instance per camera.

    Track ids are stable while an object stays visible and are unique within the tracker.
    `lost_frames` is how many sampled frames a vanished object is remembered, so a person
    hidden behind a tree for a moment keeps their id.

    ByteTrack associates boxes by overlap, and needs a new object's box to overlap in two
    consecutive frames before it confirms a track. At the 1-5 frames a second cameras are
    sampled at, a walking person moves most of their own width between frames, so tracks were
    never confirmed. `association_scale` grows every box about its centre for the association
    only (a buffered IoU, as in C-BIoU); the boxes handed on are the detector's own.
    """

    def __init__(
        self,
        *,
        lost_frames: int = 10,
        high_confidence: float = 0.25,
        low_confidence: float = 0.1,
        match_threshold: float = 0.8,
        association_scale: float = 2.0,
    ):
        if association_scale < 1:
            raise ValueError("association_scale must be at least 1")
        self.association_scale = association_scale
        self._tracker = BYTETracker(
            SimpleNamespace(
                track_high_thresh=high_confidence,
                track_low_thresh=low_confidence,
                new_track_thresh=high_confidence,
                track_buffer=lost_frames,
                match_thresh=match_threshold,
                fuse_score=True,
            )
        )
        # ByteTrack spends an id on every tentative track; operators see short, dense numbers.
        self._display_ids: dict[int, int] = {}
        self._next_display_id = 1
        self._last_output: dict[int, int] = {}
        self._updates = 0
        self._lost_frames = lost_frames

    def update(self, detections: sv.Detections) -> sv.Detections:
        """Detections of tracked objects only, each with a `tracker_id`."""
        confidence = (
            detections.confidence
            if detections.confidence is not None
            else np.ones(len(detections), dtype=np.float32)
        )
        class_id = (
            detections.class_id
            if detections.class_id is not None
            else np.zeros(len(detections), dtype=int)
        )
        boxes = _Boxes(_grown(detections.xyxy, self.association_scale), confidence, class_id)
        rows = self._tracker.update(boxes)
        self._updates += 1
        if self._updates % 100 == 0:
            self._forget_old_ids()
        if len(rows) == 0:
            tracked = subset(detections, np.zeros(len(detections), dtype=bool))
            tracked.tracker_id = np.empty(0, dtype=int)
            tracked.data["source_index"] = np.empty(0, dtype=int)
            return tracked
        # Columns: x1, y1, x2, y2, track_id, score, cls, index of the input detection.
        indices = rows[:, 7].astype(int)
        # Keep the detector's own boxes: evidence must show what the model saw, not a prediction.
        tracked = subset(detections, indices)
        tracked.tracker_id = np.array([self._display_id(int(raw)) for raw in rows[:, 4]], dtype=int)
        tracked.data["source_index"] = indices
        return tracked

    def _display_id(self, raw_id: int) -> int:
        if raw_id not in self._display_ids:
            self._display_ids[raw_id] = self._next_display_id
            self._next_display_id += 1
        self._last_output[raw_id] = self._updates
        return self._display_ids[raw_id]

    def _forget_old_ids(self) -> None:
        horizon = self._updates - self._lost_frames - 1
        for raw_id in [raw for raw, seen in self._last_output.items() if seen < horizon]:
            # Numbers are never reused: the counter only grows, the map only holds live tracks.
            del self._last_output[raw_id]
            del self._display_ids[raw_id]


def _grown(xyxy: np.ndarray, scale: float) -> np.ndarray:
    """Boxes scaled by `scale` about their centres, as float32."""
    boxes = xyxy.astype(np.float32)
    if scale == 1 or len(boxes) == 0:
        return boxes
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    return np.concatenate([centre - half, centre + half], axis=1)
