"""Object detection models behind one small interface."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np
import supervision as sv

# Ultralytics may otherwise try to fetch fonts, weights or update checks at run time.
os.environ.setdefault("YOLO_OFFLINE", "1")


class ObjectDetector(Protocol):
    """Anything that turns one BGR image into detections."""

    name: str
    version: str
    class_names: dict[int, str]

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections: ...


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class YoloDetector:
    """An ultralytics YOLO model (.pt, or an exported .onnx) run on the CPU or a GPU.

    Example:
        >>> detector = YoloDetector(Path("/abs/path/yolov8n.pt"))
        >>> detections = detector.detect(image, confidence=0.4, classes=[0])
    """

    def __init__(self, weights: Path, *, imgsz: int = 640, device: str = "cpu"):
        from ultralytics import YOLO  # heavy import, kept out of module import time

        weights = weights.resolve()
        if not weights.is_file():
            raise FileNotFoundError(f"model weights not found: {weights}")
        self.weights = weights
        self.imgsz = imgsz
        self.device = device
        self.name = weights.stem
        # The weights' digest names exactly which model produced an incident.
        self.version = file_sha256(weights)[:12]
        self._model = YOLO(str(weights), task="detect")
        self.class_names: dict[int, str] = dict(self._model.names)

    def class_ids(self, names: list[str]) -> list[int]:
        """Model class ids for class names; raises KeyError naming an unknown one."""
        by_name = {name: class_id for class_id, name in self.class_names.items()}
        return [by_name[name] for name in names]

    def detect(
        self, image: np.ndarray, *, confidence: float, classes: list[int] | None = None
    ) -> sv.Detections:
        results = self._model.predict(
            image,
            imgsz=self.imgsz,
            conf=confidence,
            classes=classes,
            device=self.device,
            verbose=False,
        )
        return sv.Detections.from_ultralytics(next(iter(results)))
