"""One camera's detection pipeline: model, tracker, rules, evidence."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import supervision as sv

from detectors.evidence import annotate, encode_jpeg, sha256_hex
from detectors.incident import Incident, incident_id
from detectors.model import ObjectDetector
from detectors.rules.base import Rule, RuleHit
from detectors.tracking import ObjectTracker, subset
from detectors.zones import Zone


@dataclass
class PipelineStats:
    frames: int = 0
    incidents: int = 0
    last_inference_ms: float = 0.0


class CameraPipeline:
    """Frames of one camera in, incidents out.

    The detector may be shared between cameras (calls must then come from one thread); the
    tracker and the rules belong to this camera alone.

    Example:
        >>> pipeline = CameraPipeline("gate-1", detector, zones, rules, classes=["person"])
        >>> incidents = pipeline.process(frame.image, now=frame.timestamp)
    """

    def __init__(
        self,
        camera_id: str,
        detector: ObjectDetector,
        zones: Sequence[Zone],
        rules: Sequence[Rule],
        *,
        classes: Sequence[str] = (),
        confidence: float = 0.4,
        tracker: ObjectTracker | None = None,
    ):
        self.camera_id = camera_id
        self.detector = detector
        self.zones = list(zones)
        self.rules = list(rules)
        self.confidence = confidence
        by_name = {name: class_id for class_id, name in detector.class_names.items()}
        unknown = [name for name in classes if name not in by_name]
        if unknown:
            raise ValueError(f"{camera_id}: model {detector.name} has no class {unknown[0]!r}")
        self.class_ids = sorted({by_name[name] for name in classes}) or None
        # A lower tracker threshold than the detector's would never be reached: keep them aligned.
        self.tracker = tracker or ObjectTracker(high_confidence=confidence)
        self.stats = PipelineStats()

    def process(self, image: np.ndarray, *, now: datetime) -> list[Incident]:
        """Detect, track and run every rule on one frame taken at `now`."""
        height, width = image.shape[:2]
        started = time.perf_counter()
        detections = self.detector.detect(image, confidence=self.confidence, classes=self.class_ids)
        self.stats.last_inference_ms = (time.perf_counter() - started) * 1000
        tracked = self.tracker.update(detections)
        self.stats.frames += 1
        incidents = []
        for rule in self.rules:
            for hit in rule.update(tracked, width=width, height=height, now=now):
                incidents.append(self._incident(hit, image, detections, tracked))
        self.stats.incidents += len(incidents)
        return incidents

    def _incident(
        self, hit: RuleHit, image: np.ndarray, detections: sv.Detections, tracked: sv.Detections
    ) -> Incident:
        height, width = image.shape[:2]
        caption = f"{self.camera_id}  {hit.detected_at:%Y-%m-%d %H:%M:%S}  {hit.summary}"
        zones = [zone for zone in self.zones if zone.name == hit.zone]
        # Draw what the model saw but the tracker has not confirmed yet too, without an id.
        untracked = np.ones(len(detections), dtype=bool)
        untracked[tracked.data["source_index"]] = False
        shown = sv.Detections.merge([tracked, _without_ids(subset(detections, untracked))])
        picture = annotate(image, shown, zones, highlight_track=hit.track_id, caption=caption)
        jpeg = encode_jpeg(picture)
        return Incident(
            id=incident_id(self.camera_id, hit.rule, hit.zone, hit.track_id, hit.started_at),
            camera_id=self.camera_id,
            rule=hit.rule,
            zone=hit.zone,
            category=hit.category,
            severity=hit.severity,
            summary=hit.summary,
            started_at=hit.started_at,
            detected_at=hit.detected_at,
            track_id=hit.track_id,
            object_class=hit.object_class,
            confidence=hit.confidence,
            box_xyxy=hit.box_xyxy,
            frame_width=width,
            frame_height=height,
            model_name=self.detector.name,
            model_version=self.detector.version,
            rule_parameters=hit.parameters,
            snapshot_jpeg=jpeg,
            snapshot_sha256=sha256_hex(jpeg),
        )


def _without_ids(detections: sv.Detections) -> sv.Detections:
    detections.tracker_id = np.full(len(detections), -1, dtype=int)
    detections.data["source_index"] = np.full(len(detections), -1, dtype=int)
    return detections
