"""Multi-object tracking, so rules reason about objects that persist, not boxes per frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import supervision as sv
from trackers import BIoU, ByteTrackTracker


def subset(detections: sv.Detections, index: np.ndarray) -> sv.Detections:
    """The detections picked by a boolean mask or an index array, still as Detections."""
    selected = detections[index]
    if not isinstance(selected, sv.Detections):
        raise TypeError("expected a mask or an index array")
    return selected


@dataclass
class _Track:
    """What the tracker remembers of one published track id.

    Boxes are (x1, y1, x2, y2) in pixels.
    """

    raw_id: int  # the ByteTrack track that holds this id now
    box: np.ndarray
    last_seen: datetime
    settled_box: np.ndarray  # where the object has stood since `still_since`
    still_since: datetime | None  # None: its stillness is unknown (no motion information)
    stationary: bool = False


class ObjectTracker:
    """ByteTrack over one camera's detections; one instance per camera.

    Track ids are stable while an object stays visible and are unique within the tracker.
    `lost_frames` is how many sampled frames ByteTrack remembers a vanished object, so a person
    hidden behind a tree for a moment keeps their id.

    ByteTrack (Roboflow's `trackers.ByteTrackTracker`) associates boxes by overlap, and needs
    a new object's box to overlap in two consecutive frames before it confirms a track. At the
    1-5 frames a second cameras are sampled at, a walking person moves most of their own width
    between frames, so tracks were never confirmed. `association_scale` grows every box about
    its centre for the association only (the buffered IoU of C-BIoU, `trackers.BIoU`); the
    boxes handed on are the detector's own. `match_threshold` is the most a match may miss
    of full overlap (1 - the least buffered IoU). Measured on the demo clip's labelled visits
    (`gridwatch eval`, OpenVINO FP32): boxes grown 2.5 times score precision 0.85 and recall
    1.00, 2 times 0.78 and 0.95 (INT8: 0.88 and 1.00 against 0.77 and 0.91); ultralytics'
    ByteTrack, which this replaced to keep PyTorch off the worker, scored 0.88 and 1.00.

    Hand-over: when ByteTrack starts a new track where one it lost stood (a person who stood
    still and was missed for a while, a box that jumped), the new track keeps the lost one's id,
    so no rule sees one object twice. It takes a track lost at most `handover_s` ago whose last
    box is within `handover_distance` of the new box (centre to centre, in units of the lost
    box's larger side) and of a similar size (larger sides within `handover_size_ratio`); of
    several, the nearest. The same size test applies when ByteTrack itself re-finds a lost
    track: a re-found box of another size is another object and gets a new id. Two objects
    seen in the same frame never share an id.

    Stationary objects: a track whose box has stayed in place (centre within
    `stationary_movement` of its larger side, each side within 10 %) with no pixel motion in it
    for `stationary_s` is marked stationary (a poster, a statue, a mannequin). Motion is what
    `update` is told (e.g. the motion gate's changed regions); without it nothing is marked.
    Moving again clears the mark. Every output row carries `data["stationary"]`.

    Example:
        >>> tracker = ObjectTracker()
        >>> tracked = tracker.update(detections, now=frame.timestamp, motion=regions_px)
        >>> tracked.tracker_id, tracked.data["stationary"]
    """

    def __init__(
        self,
        *,
        lost_frames: int = 10,
        high_confidence: float = 0.25,
        low_confidence: float = 0.1,
        match_threshold: float = 0.8,
        association_scale: float = 2.5,
        handover_s: float = 3.0,
        handover_distance: float = 0.25,
        handover_size_ratio: float = 1.25,
        stationary_s: float = 60.0,
        stationary_movement: float = 0.1,
    ):
        if association_scale < 1:
            raise ValueError("association_scale must be at least 1")
        if handover_s < 0 or handover_distance < 0 or stationary_s <= 0:
            raise ValueError("handover and stationary limits must not be negative")
        if handover_size_ratio < 1:
            raise ValueError("handover_size_ratio must be at least 1")
        self.association_scale = association_scale
        self.handover = timedelta(seconds=handover_s)
        self.handover_distance = handover_distance
        self.handover_size_ratio = handover_size_ratio
        self.stationary_after = timedelta(seconds=stationary_s)
        self.stationary_movement = stationary_movement
        self.low_confidence = low_confidence
        self._settings: dict[str, Any] = {
            "lost_track_buffer": lost_frames,
            "frame_rate": 30.0,  # lost_track_buffer counts frames at 30 fps: here, updates
            "track_activation_threshold": high_confidence,
            "high_conf_det_threshold": high_confidence,
            "minimum_consecutive_frames": 2,
            "minimum_iou_threshold": 1 - match_threshold,
            "iou": BIoU(buffer_ratio=(association_scale - 1) / 2),
        }
        self._next_id = 1
        self._lost_frames = lost_frames
        self.reset()

    def reset(self) -> None:
        """Forget every track (the picture changed size: boxes in the old pixels mean nothing in
        the new). Ids go on from where they were, so an id is never given twice."""
        self._tracker = ByteTrackTracker(**self._settings)
        self._fresh = True  # no frame seen since the tracker was made
        # ByteTrack spends an id on every tentative track; operators see short, dense numbers.
        self._ids: dict[int, int] = {}  # ByteTrack's id -> the id published
        self._raw_seen: dict[int, int] = {}  # ByteTrack's id -> update it was last output in
        self._tracks: dict[int, _Track] = {}  # by published id
        self._updates = 0

    def update(
        self,
        detections: sv.Detections,
        *,
        now: datetime,
        motion: np.ndarray | None = None,
    ) -> sv.Detections:
        """Detections of tracked objects only, each with a `tracker_id` and a boolean
        `data["stationary"]`.

        Args:
            detections: One frame's detections, boxes in pixels.
            now: When the frame was taken; call in time order.
            motion: Boxes (x1, y1, x2, y2, pixels, shape (N, 4)) where the picture changed since
                the last frame the model saw; an empty array for a still picture; None when not
                known, which keeps every track from being marked stationary.
        """
        candidates = subset(detections, np.arange(len(detections)))
        candidates.data["source_index"] = np.arange(len(detections))
        if candidates.confidence is not None:
            # Below the low threshold a box is noise, not an object to follow.
            candidates = subset(candidates, candidates.confidence >= self.low_confidence)
        if self._fresh and len(candidates):
            # As in ByteTrack's paper and its reference code, the objects of a stream's first
            # frame are tracks at once (the library confirms a track on its second sighting,
            # which a first frame cannot have): it is shown that frame twice.
            self._tracker.update(candidates)
            self._fresh = False
        result = self._tracker.update(candidates)
        self._updates += 1
        # Boxes of tracks not yet confirmed come back with the id -1: not objects yet.
        raw = result.tracker_id if result.tracker_id is not None else np.empty(0, dtype=int)
        result = subset(result, raw >= 0) if len(result) else result
        if len(result) == 0:
            tracked = subset(detections, np.zeros(len(detections), dtype=bool))
            tracked.tracker_id = np.empty(0, dtype=int)
            tracked.data["source_index"] = np.empty(0, dtype=int)
            tracked.data["stationary"] = np.empty(0, dtype=bool)
            self._forget(now)
            return tracked
        indices = np.asarray(result.data["source_index"], dtype=int)
        # Keep the detector's own boxes: evidence must show what the model saw, not a prediction.
        tracked = subset(detections, indices)
        raw_ids = [int(raw) for raw in raw[raw >= 0]]
        published = self._publish(raw_ids, tracked.xyxy, now)
        tracked.tracker_id = np.array(published, dtype=int)
        tracked.data["source_index"] = indices
        tracked.data["stationary"] = np.array(
            [self._observe(self._tracks[track_id], now, motion) for track_id in published],
            dtype=bool,
        )
        self._forget(now)
        return tracked

    def _publish(self, raw_ids: list[int], xyxy: np.ndarray, now: datetime) -> list[int]:
        """The published id of each of this frame's ByteTrack tracks, handing over lost ids."""
        published: list[int | None] = [None] * len(raw_ids)
        taken: set[int] = set()
        # Tracks that already hold their id claim it first, so a new track never takes an id
        # an object in this frame still has.
        for row, raw in enumerate(raw_ids):
            track_id = self._ids.get(raw)
            if track_id is None or self._tracks[track_id].raw_id != raw:
                continue
            re_found = self._raw_seen[raw] < self._updates - 1
            if re_found and not self._similar_size(self._tracks[track_id].box, xyxy[row]):
                # ByteTrack re-found its lost track on someone else (a man who walked on,
                # matched to a woman standing where he was hidden): that is a new object.
                continue
            published[row] = track_id
            taken.add(track_id)
        for row, raw in enumerate(raw_ids):
            if published[row] is None:
                track_id = self._lost_near(xyxy[row], now, taken)
                if track_id is None:
                    track_id = self._next_id
                    self._next_id += 1  # never reused: the counter only grows
                    self._tracks[track_id] = _Track(
                        raw, xyxy[row].copy(), now, xyxy[row].copy(), None
                    )
                self._ids[raw] = track_id
                self._tracks[track_id].raw_id = raw
                published[row] = track_id
                taken.add(track_id)
        for row, raw in enumerate(raw_ids):
            self._raw_seen[raw] = self._updates
            track = self._tracks[published[row]]  # type: ignore[index]
            track.box, track.last_seen = xyxy[row].copy(), now
        return [track_id for track_id in published if track_id is not None]

    def _lost_near(self, box: np.ndarray, now: datetime, taken: set[int]) -> int | None:
        """The id of a track lost within `handover` whose last box is close to `box` in place
        and size, nearest first; None when there is none."""
        best: tuple[float, int] | None = None
        for track_id, track in self._tracks.items():
            if track_id in taken or now - track.last_seen > self.handover:
                continue
            if not self._similar_size(track.box, box):
                continue
            distance = _centre_distance(track.box, box) / max(*_size(track.box), 1.0)
            if distance <= self.handover_distance and (best is None or distance < best[0]):
                best = (distance, track_id)
        return best[1] if best is not None else None

    def _similar_size(self, before: np.ndarray, after: np.ndarray) -> bool:
        """Could `after` be the same object as `before` after a gap? Their larger sides (a
        person's height) are within `handover_size_ratio`; the other side varies with a
        walker's stride."""
        return _within_ratio(max(*_size(before)), max(*_size(after)), self.handover_size_ratio)

    def _observe(self, track: _Track, now: datetime, motion: np.ndarray | None) -> bool:
        """Update `track`'s stillness with this frame; whether it is stationary now."""
        width, height = _size(track.settled_box)
        shifted = _centre_distance(track.settled_box, track.box) > self.stationary_movement * max(
            width, height, 1.0
        )
        new_width, new_height = _size(track.box)
        resized = not (_within_ratio(width, new_width, 1.1)
                       and _within_ratio(height, new_height, 1.1))  # fmt: skip
        if shifted or resized:
            track.settled_box = track.box.copy()
            track.still_since, track.stationary = None, False
        if track.stationary:
            # Someone walking past a poster moves pixels in its box; it stays where it is.
            return True
        if motion is None or _moved_inside(track.box, motion):
            track.still_since = None
        elif track.still_since is None:
            track.still_since = now
        elif now - track.still_since >= self.stationary_after:
            track.stationary = True
        return track.stationary

    def _forget(self, now: datetime) -> None:
        horizon = self._updates - self._lost_frames - 1
        for raw in [raw for raw, seen in self._raw_seen.items() if seen < horizon]:
            # ByteTrack has dropped this track: it can never be output again.
            del self._raw_seen[raw]
            del self._ids[raw]
        held = set(self._ids.values())
        for track_id in [
            track_id
            for track_id, track in self._tracks.items()
            if track_id not in held and now - track.last_seen > self.handover
        ]:
            del self._tracks[track_id]


def _size(box: np.ndarray) -> tuple[float, float]:
    return float(box[2] - box[0]), float(box[3] - box[1])


def _within_ratio(a: float, b: float, ratio: float) -> bool:
    return a > 0 and b > 0 and max(a, b) / min(a, b) <= ratio


def _centre_distance(a: np.ndarray, b: np.ndarray) -> float:
    return math.hypot(float(a[0] + a[2] - b[0] - b[2]) / 2, float(a[1] + a[3] - b[1] - b[3]) / 2)


def _moved_inside(box: np.ndarray, motion: np.ndarray, share: float = 0.1) -> bool:
    """Do the changed regions cover at least `share` of `box` (each region counted alone)?"""
    if len(motion) == 0:
        return False
    width = np.clip(np.minimum(motion[:, 2], box[2]) - np.maximum(motion[:, 0], box[0]), 0, None)
    height = np.clip(np.minimum(motion[:, 3], box[3]) - np.maximum(motion[:, 1], box[1]), 0, None)
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1.0)
    return bool(np.any(width * height >= share * area))
