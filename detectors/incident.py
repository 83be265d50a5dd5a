"""The incident: what a rule concluded, with the evidence that backs it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Incident ids are derived from what happened, so the same conclusion always has the same id and
# the API can refuse a second copy of it (the idempotency key).
INCIDENT_NAMESPACE = uuid.UUID("6c0b7a5e-2f52-4d8e-9a43-6f1d0c8e9b21")


def incident_id(camera_id: str, rule: str, zone: str, track_id: int, started_at: datetime) -> str:
    key = f"{camera_id}|{rule}|{zone}|{track_id}|{started_at.isoformat()}"
    return str(uuid.uuid5(INCIDENT_NAMESPACE, key))


@dataclass(frozen=True)
class Incident:
    """One incident with its evidence, ready to be registered as a grid event."""

    id: str
    camera_id: str
    rule: str
    zone: str
    category: str
    severity: str
    summary: str
    started_at: datetime
    detected_at: datetime
    track_id: int
    object_class: str
    confidence: float
    box_xyxy: tuple[float, float, float, float]
    frame_width: int
    frame_height: int
    model_name: str
    model_version: str
    rule_parameters: dict[str, Any]
    snapshot_jpeg: bytes = field(repr=False)
    snapshot_sha256: str

    def metadata(self) -> dict[str, Any]:
        """Everything but the evidence bytes, as JSON-ready values."""
        return {
            "id": self.id,
            "camera_id": self.camera_id,
            "rule": self.rule,
            "zone": self.zone,
            "category": self.category,
            "severity": self.severity,
            "summary": self.summary,
            "started_at": self.started_at.isoformat(),
            "detected_at": self.detected_at.isoformat(),
            "track_id": self.track_id,
            "object_class": self.object_class,
            "confidence": round(self.confidence, 4),
            "box_xyxy": [round(v, 1) for v in self.box_xyxy],
            "frame_width": self.frame_width,
            "frame_height": self.frame_height,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "rule_parameters": self.rule_parameters,
            "snapshot_sha256": self.snapshot_sha256,
        }
