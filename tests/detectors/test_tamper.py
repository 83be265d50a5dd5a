"""Tamper on the real demo footage: the untouched clip raises nothing; each kind of tampering,
applied to the same frames, is named after `hold_s`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.rules import Tamper
from tests.detectors.factories import at


@pytest.fixture(scope="module")
def clip_frames(demo_clip: Path) -> list[np.ndarray]:
    """The whole demo clip at 2 fps (159 frames)."""
    capture = cv2.VideoCapture(str(demo_clip))
    frames, index = [], 0
    while True:
        ok = capture.grab()
        if not ok:
            break
        if index % 5 == 0:
            frames.append(capture.retrieve()[1])
        index += 1
    capture.release()
    return frames


def test_the_untouched_demo_clip_raises_no_tamper(clip_frames: list[np.ndarray]) -> None:
    rule = Tamper(hold_s=3)
    hits = []
    for step, image in enumerate(clip_frames):
        hits += rule.update_frame(image, now=at(step * 0.5))
    assert len(clip_frames) > 150
    assert hits == [], [hit.details for hit in hits]


def shifted(image: np.ndarray) -> np.ndarray:
    # Knocked sideways: a quarter of the picture slides out of view.
    height, width = image.shape[:2]
    matrix = np.float32([[1, 0, width * 0.25], [0, 1, height * 0.1]])
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


TAMPERING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "blacked_out": lambda image: (image * 0.04).astype(np.uint8),
    "covered": lambda image: np.full_like(image, 140),
    "defocused": lambda image: cv2.GaussianBlur(image, (0, 0), 6),
    "moved": shifted,
}


@pytest.mark.parametrize("reason", list(TAMPERING))
def test_each_kind_of_tampering_is_named(clip_frames: list[np.ndarray], reason: str) -> None:
    rule = Tamper(hold_s=3)
    hits = []
    for step, image in enumerate(clip_frames[:10]):
        hits += rule.update_frame(image, now=at(step * 0.5))
    for step, image in enumerate(clip_frames[10:30], start=10):
        hits += rule.update_frame(TAMPERING[reason](image), now=at(step * 0.5))
    assert len(hits) == 1, [hit.details for hit in hits]
    hit = hits[0]
    assert hit.details["reason"] == reason
    assert (hit.started_at, hit.detected_at) == (at(5), at(8))
    assert (hit.category, hit.rule, hit.track_id) == ("device_fault", "tamper", 0)
    # Once the view is restored the condition ends.
    rule.update_frame(clip_frames[30], now=at(15))
    assert not rule.holds(0)


def test_a_short_obstruction_is_not_tampering(clip_frames: list[np.ndarray]) -> None:
    rule = Tamper(hold_s=3)
    hits = []
    for step, image in enumerate(clip_frames[:20]):
        # A bus passing close to the lens for 2 s.
        shown = np.full_like(image, 140) if 10 <= step < 14 else image
        hits += rule.update_frame(shown, now=at(step * 0.5))
    assert hits == []


def re_aimed(image: np.ndarray, *, right: float = 0.0, down: float = 0.0, zoom: float = 1.0,
             turn_deg: float = 0.0) -> np.ndarray:  # fmt: skip
    """The view after the camera was pushed or zoomed: the scene shifted by shares of the width,
    magnified by `zoom` and turned clockwise about the centre."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -turn_deg, zoom)
    matrix[:, 2] += (right * width, down * width)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"right": 0.15}, {"shift_x": 0.15, "shift_y": 0.0, "scale": 1.0}),
        ({"down": -0.15}, {"shift_x": 0.0, "shift_y": -0.15, "scale": 1.0}),
        ({"zoom": 1.15}, {"shift_x": 0.0, "shift_y": 0.0, "scale": 1.15}),
        ({"zoom": 0.87}, {"shift_x": 0.0, "shift_y": 0.0, "scale": 0.87}),
        ({"turn_deg": 8}, {"shift_x": 0.0, "shift_y": 0.0, "rotation_deg": 8.0}),
    ],
    ids=["panned-right", "tilted-up", "zoomed-in", "zoomed-out", "turned"],
)
def test_a_camera_re_aimed_or_zoomed_raises_a_tamper_incident_saying_how(
    clip_frames: list[np.ndarray], change: dict[str, float], expected: dict[str, float]
) -> None:
    rule = Tamper(hold_s=3)
    hits = []
    for step, image in enumerate(clip_frames[:40]):
        shown = re_aimed(image, **change) if step >= 10 else image
        hits += rule.update_frame(shown, now=at(step * 0.5))

    assert len(hits) == 1, [hit.details for hit in hits]
    (hit,) = hits
    assert hit.details["reason"] == "moved"
    assert (hit.started_at, hit.detected_at) == (at(5), at(8))
    for key, value in expected.items():
        assert hit.details[key] == pytest.approx(value, abs=0.02 if key != "rotation_deg" else 1)
    assert hit.details["inliers"] >= 15
    assert hit.summary.startswith("camera view moved for 3 s (")


def test_the_scene_growing_dark_is_no_tampering(clip_frames: list[np.ndarray]) -> None:
    # Dusk: the whole clip (about 80 s) darkens to 45% of its brightness while people walk.
    rule = Tamper(hold_s=3)
    hits = []
    for step, image in enumerate(clip_frames):
        light = 1.0 - 0.55 * step / len(clip_frames)
        hits += rule.update_frame((image * light).astype(np.uint8), now=at(step * 0.5))
    assert hits == [], [hit.details for hit in hits]


def test_people_walking_leave_the_features_where_they_were(
    clip_frames: list[np.ndarray],
) -> None:
    rule = Tamper(hold_s=3)
    changes = []
    for step, image in enumerate(clip_frames):
        rule.update_frame(image, now=at(step * 0.5))
        assert rule.last_reason is None, step
        changes.append(rule.last_change)
    assert changes == [None] * len(clip_frames)
