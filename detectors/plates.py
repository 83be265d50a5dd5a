"""Number plates read from a vehicle's picture, for parking incidents, when legible."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# Mainland plates: a province character, a letter, then 5 (or 6, new-energy) letters or digits;
# plates elsewhere: 5 to 8 letters and digits. Separators (·, -, spaces) are dropped first.
_PLATE = re.compile(r"^[\u4e00-\u9fff]?[A-Z0-9]{5,8}$")
_SEPARATORS = re.compile(r"[\s·.\-_:•]")


@dataclass(frozen=True)
class PlateReading:
    text: str
    confidence: float


def normalise_plate(text: str) -> str | None:
    """The plate in canonical form (upper case, no separators), or None if it is not one.

    Example:
        >>> normalise_plate("浙A·12345")
        '浙A12345'
        >>> normalise_plate("NO PARKING") is None
        True
    """
    candidate = _SEPARATORS.sub("", text).upper()
    if not _PLATE.match(candidate) or not any(char.isdigit() for char in candidate):
        return None
    return candidate


class PlateReader(Protocol):
    def read(self, vehicle: np.ndarray) -> PlateReading | None:
        """The plate legible in a BGR picture of one vehicle, or None."""
        ...


class RapidOcrPlateReader:
    """Plate reading with RapidOCR (PP-OCR text detection and recognition on ONNX Runtime; the
    models ship in the rapidocr wheel, nothing is fetched).

    Only text that looks like a plate and was read with at least `min_confidence` is returned,
    so a shop sign behind the car is not taken for its plate.

    Example:
        >>> reader = RapidOcrPlateReader()
        >>> reading = reader.read(vehicle_crop)  # PlateReading(text='A12345', confidence=0.99)
    """

    def __init__(self, *, min_confidence: float = 0.7, min_height: int = 64):
        self.min_confidence = min_confidence
        self.min_height = min_height
        self._engine: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._engine is None:
            from rapidocr import RapidOCR  # heavy import, only once a plate is needed

            self._engine = RapidOCR(params={"Global.log_level": "warning"})
        return self._engine

    def read(self, vehicle: np.ndarray) -> PlateReading | None:
        if vehicle.size == 0:
            return None
        import cv2

        height = vehicle.shape[0]
        if height < self.min_height:
            # Text detection needs a few pixels per character stroke.
            scale = self.min_height / height
            vehicle = cv2.resize(vehicle, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        with self._lock:
            output = self._load()(vehicle)
        texts = getattr(output, "txts", None) or ()
        scores = getattr(output, "scores", None) or ()
        best: PlateReading | None = None
        for text, score in zip(texts, scores, strict=False):
            plate = normalise_plate(str(text))
            if plate is None or float(score) < self.min_confidence:
                continue
            if best is None or float(score) > best.confidence:
                best = PlateReading(plate, round(float(score), 4))
        return best
