"""Evidence: the annotated picture an operator sees first, with a digest to prove it unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from detectors.zones import Zone

ZONE_COLOUR = (0, 215, 255)  # amber, BGR
BOX_COLOUR = (80, 200, 80)
HIT_COLOUR = (40, 40, 230)


def annotate(
    image: np.ndarray,
    detections: sv.Detections,
    zones: Sequence[Zone],
    *,
    highlight_track: int | None = None,
    caption: str = "",
) -> np.ndarray:
    """A copy of `image` with zones outlined, every box drawn and the offending one in red."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 300))
    for zone in zones:
        polygon = zone.pixel_polygon(width, height)
        overlay = canvas.copy()
        cv2.fillPoly(overlay, [polygon], ZONE_COLOUR)
        cv2.addWeighted(overlay, 0.15, canvas, 0.85, 0, dst=canvas)
        cv2.polylines(canvas, [polygon], isClosed=True, color=ZONE_COLOUR, thickness=thickness)
        x, y = polygon[0]
        _label(canvas, zone.name, (int(x) + 4, int(y) + 16), ZONE_COLOUR)
    names = detections.data.get("class_name")
    for index in range(len(detections)):
        x1, y1, x2, y2 = (round(float(v)) for v in detections.xyxy[index])
        track_id = int(detections.tracker_id[index]) if detections.tracker_id is not None else None
        if track_id is not None and track_id < 0:
            track_id = None  # not (yet) tracked
        colour = HIT_COLOUR if track_id is not None and track_id == highlight_track else BOX_COLOUR
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness + (colour == HIT_COLOUR))
        parts = [str(names[index]) if names is not None else "object"]
        if detections.confidence is not None:
            parts.append(f"{float(detections.confidence[index]):.2f}")
        if track_id is not None:
            parts.append(f"#{track_id}")
        _label(canvas, " ".join(parts), (x1, max(12, y1 - 4)), colour)
    if caption:
        _label(canvas, caption, (6, height - 8), (255, 255, 255))
    return canvas


def _label(
    canvas: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (text_width, text_height), baseline = cv2.getTextSize(text, font, scale, 1)
    x, y = origin
    cv2.rectangle(
        canvas, (x - 2, y - text_height - 3), (x + text_width + 2, y + baseline), (0, 0, 0), -1
    )
    cv2.putText(canvas, text, (x, y), font, scale, colour, 1, cv2.LINE_AA)


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("image could not be encoded as JPEG")
    return buffer.tobytes()


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
