"""A district's own model: each of its classes that the district mapped to an event code raises
that event when the model keeps seeing it (e.g. a street-vending or overflowing-bin model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np
import supervision as sv

from detectors.clock import SteadyClock
from detectors.evidence import annotate, burned_in_time, encode_jpeg, sha256_hex
from detectors.incident import Incident, incident_id
from detectors.model import ObjectDetector, class_ids_of
from detectors.privacy import PrivacyMask
from detectors.tracking import subset

RULE = "custom_model"


@dataclass(frozen=True)
class ClassEvent:
    """The event a model class raises: its taxonomy code, category and severity."""

    code: str
    category: str
    severity: str
    name: str


class ClassAlarm:
    """Runs one custom model on a camera's frames; a mapped class seen in `min_frames`
    consecutive sampled frames raises its event, then not again for that class within `cooldown_s`.

    Example:
        >>> alarm = ClassAlarm("ward-3", fall_detector, {"Fall": ClassEvent("0901", ...)})
        >>> incidents = alarm.process(frame.image, now=frame.timestamp)
    """

    def __init__(
        self,
        camera_id: str,
        model_name: str,
        detector: ObjectDetector,
        classes: dict[str, ClassEvent],
        *,
        min_frames: int = 2,
        confidence: float = 0.4,
        cooldown_s: float = 300.0,
        privacy_mask: PrivacyMask | None = None,
        timezone: tzinfo = UTC,
    ):
        # The camera's zone: the time burned into its snapshots is local, with its offset.
        self.timezone = timezone
        self.class_ids = class_ids_of(detector, classes, camera_id=camera_id, model_name=model_name)
        self.camera_id = camera_id
        self.model_name = model_name
        self.detector = detector
        self.classes = classes
        self.min_frames = min_frames
        self.confidence = confidence
        self.cooldown = timedelta(seconds=cooldown_s)
        self.privacy_mask = privacy_mask or PrivacyMask()
        self._seen: dict[str, int] = {}
        self._since: dict[str, datetime] = {}
        self._fired: dict[str, datetime] = {}
        self.steady = SteadyClock()

    def process(
        self, image: np.ndarray, *, now: datetime, clock: float | None = None
    ) -> list[Incident]:
        """Run the model on one frame taken at `now` (wall time); `clock` is its monotonic
        reading, which times `min_frames` runs and the cooldown (see `CameraPipeline.process`)."""
        now = self.steady.at(now, clock)
        masked = self.privacy_mask.apply(image)
        detections = self.detector.detect(
            masked, confidence=self.confidence, classes=self.class_ids
        )
        found = detections.data.get("class_name")
        names = np.asarray(found if found is not None else [], dtype=str)
        present = {str(name) for name in names}
        incidents = []
        for class_name, event in self.classes.items():
            if class_name not in present:
                self._seen[class_name] = 0
                continue
            if self._seen.get(class_name, 0) == 0:
                self._since[class_name] = now
            self._seen[class_name] = self._seen.get(class_name, 0) + 1
            last = self._fired.get(class_name)
            if self._seen[class_name] < self.min_frames or (last and now - last < self.cooldown):
                continue
            self._fired[class_name] = now
            incidents.append(self._incident(class_name, event, masked, detections, names, now))
        return incidents

    def _incident(
        self,
        class_name: str,
        event: ClassEvent,
        image: np.ndarray,
        detections: sv.Detections,
        names: np.ndarray,
        now: datetime,
    ) -> Incident:
        height, width = image.shape[:2]
        mine = subset(detections, np.asarray(names == class_name))
        best = int(np.argmax(mine.confidence)) if mine.confidence is not None else 0
        x1, y1, x2, y2 = (float(v) for v in mine.xyxy[best])
        confidence = float(mine.confidence[best]) if mine.confidence is not None else 1.0
        wall = self.steady.to_wall
        stamp = burned_in_time(wall(now), self.timezone)
        caption = f"{self.camera_id}  {stamp}  {event.name} ({self.model_name})"
        jpeg = encode_jpeg(annotate(image, mine, [], caption=caption))
        started = self._since.get(class_name, now)
        return Incident(
            id=incident_id(self.camera_id, RULE, self.model_name, 0, started, now),
            camera_id=self.camera_id,
            rule=RULE,
            zone=self.model_name,
            category=event.category,
            severity=event.severity,
            summary=f"{event.name}: {class_name} seen by {self.model_name}",
            started_at=wall(started),
            detected_at=wall(now),
            track_id=0,
            object_class=class_name,
            confidence=confidence,
            box_xyxy=(x1, y1, x2, y2),
            frame_width=width,
            frame_height=height,
            model_name=self.model_name,
            model_version=getattr(self.detector, "version", ""),
            rule_parameters={
                "min_frames": self.min_frames,
                "cooldown_s": self.cooldown.total_seconds(),
            },
            snapshot_jpeg=jpeg,
            snapshot_sha256=sha256_hex(jpeg),
            details={"detections": len(mine)},
            event_code=event.code,
        )
