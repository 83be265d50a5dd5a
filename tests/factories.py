"""Test data builders."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np


def jpeg(width: int = 64, height: int = 48, shade: int = 128) -> bytes:
    image = np.full((height, width, 3), shade, dtype=np.uint8)
    cv2.rectangle(image, (5, 5), (width - 5, height - 5), (0, 0, 255), 2)
    ok, buffer = cv2.imencode(".jpg", image)
    assert ok
    return buffer.tobytes()


def incident_metadata(snapshot: bytes, **overrides: Any) -> dict[str, Any]:
    detected = overrides.pop("detected_at", datetime(2026, 11, 27, 22, 30, tzinfo=UTC))
    metadata: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "camera_id": "school-no1-gate",
        "rule": "intrusion",
        "zone": "gate_path",
        "category": "public_safety",
        "severity": "high",
        "summary": "person in zone gate_path",
        "started_at": (detected - timedelta(seconds=2)).isoformat(),
        "detected_at": detected.isoformat(),
        "track_id": 7,
        "object_class": "person",
        "confidence": 0.81,
        "box_xyxy": [100.0, 120.0, 140.0, 220.0],
        "frame_width": 768,
        "frame_height": 576,
        "model_name": "yolov8n",
        "model_version": "f59b3d833e2f",
        "rule_parameters": {"min_frames": 3},
        "snapshot_sha256": hashlib.sha256(snapshot).hexdigest(),
    }
    metadata.update(overrides)
    return metadata


def incident_form(metadata: dict[str, Any], snapshot: bytes) -> dict[str, Any]:
    """Keyword arguments for a client's post() of an incident."""
    return {
        "data": {"metadata": json.dumps(metadata)},
        "files": {"snapshot": ("snapshot.jpg", snapshot, "image/jpeg")},
    }
