"""A camera whose picture changes size mid-stream (re-configured from 4:3 to 16:9) keeps every
rule running: what holds the old size's pixels starts afresh, and one rule's fault stops
neither the others nor the camera."""

from __future__ import annotations

import io
import logging
from datetime import datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv

from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.privacy import PrivacyMask
from detectors.rules import Tamper, ZoneIntrusion
from detectors.rules.base import RuleHit
from detectors.zones import Zone
from tests.detectors.factories import at
from tests.detectors.test_pipeline import ScriptedDetector, scene

YARD = Zone("yard", ((0, 0), (1, 0), (1, 1), (0, 1)))


@pytest.fixture(scope="module")
def demo_frames(demo_clip: Path) -> list[np.ndarray]:
    """30 frames of the demo clip (768x576, the size of the issue's camera), 0.5 s apart."""
    capture = cv2.VideoCapture(str(demo_clip))
    frames, index = [], 0
    while len(frames) < 30 and capture.grab():
        if index % 5 == 0:
            frames.append(capture.retrieve()[1])
        index += 1
    capture.release()
    return frames


def sixteen_by_nine(image: np.ndarray) -> np.ndarray:
    """The camera re-configured to 16:9: the middle 768x432 of its 768x576 view."""
    return np.ascontiguousarray(image[72:504])


def test_a_picture_that_changes_size_keeps_every_rule_running(
    demo_frames: list[np.ndarray], detector, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    rules = [ZoneIntrusion(YARD, {"person"}, min_frames=2, cooldown_s=600, anchor="center")]
    pipe = CameraPipeline(
        "cam-4x3", detector, [YARD], rules, frame_rules=[Tamper(hold_s=2)],
        classes=["person"], confidence=0.4,
        privacy_mask=PrivacyMask([((0.9, 0.0), (1.0, 0.0), (1.0, 0.1))]),
        evidence=EvidenceSettings(pre_roll_s=1, post_roll_s=2, clip_follows=True),
    )  # fmt: skip
    incidents, clips = [], []
    changed_at: datetime | None = None
    with caplog.at_level(logging.WARNING, logger="detectors.pipeline"):
        for step, image in enumerate(demo_frames):
            if step >= 10:
                image = sixteen_by_nine(image)
                changed_at = changed_at or at(step * 0.5)
            incidents += pipe.process(image, now=at(step * 0.5))
            clips += pipe.take_clips()
    pipe.flush()
    clips += pipe.take_clips()

    assert pipe.stats.size_changes == 1
    assert pipe.stats.last_size_change == "768x576 -> 768x432"
    assert pipe.stats.frame_size == (768, 432)
    assert not pipe.stats.rule_failures
    assert any(
        "cam-4x3: picture size changed 768x576 -> 768x432" in record.getMessage()
        for record in caplog.records
    )
    # Detection goes on in the new size: people are found and alerted on after the change...
    assert changed_at is not None
    after = [incident for incident in incidents if incident.detected_at >= changed_at]
    assert after and {incident.rule for incident in after} == {"intrusion"}
    assert {(i.frame_width, i.frame_height) for i in after} == {(768, 432)}
    # ...a changed size is no tampering, and every clip holds frames of one size and encodes.
    assert not [incident for incident in incidents if incident.rule == "tamper"]
    assert clips
    for clip in clips:
        video = clip.with_video().mp4
        assert video is not None
        with av.open(io.BytesIO(video)) as container:
            sizes = {(frame.width, frame.height) for frame in container.decode(video=0)}
        assert len(sizes) == 1, (clip.started_at, sizes)


class BrokenRule:
    """A rule whose code fails on every frame (as the tamper rule did on a new picture size)."""

    kind, zone_name = "broken", "yard"

    def update(
        self, detections: sv.Detections, *, width: int, height: int, now: datetime
    ) -> list[RuleHit]:
        raise cv2.error("OpenCV(5.0.0) (-215:Assertion failed) _img.size().height <= ...")

    def holds(self, track_id: int) -> bool:
        raise AssertionError("never asked: it has no hits")


def test_one_rules_fault_stops_neither_the_other_rules_nor_the_camera(
    caplog: pytest.LogCaptureFixture,
) -> None:
    intrusion = ZoneIntrusion(YARD, {"person"}, min_frames=2, cooldown_s=600, anchor="center")
    pipe = CameraPipeline(
        "gate-2", ScriptedDetector(), [YARD], [BrokenRule(), intrusion],  # type: ignore[list-item]
        classes=["person"], evidence=EvidenceSettings(pre_roll_s=0, post_roll_s=0),
    )  # fmt: skip
    incidents = []
    with caplog.at_level(logging.WARNING, logger="detectors.pipeline"):
        for step in range(150):
            incidents += pipe.process(scene(20 + step), now=at(step * 0.5))

    assert [incident.rule for incident in incidents] == ["intrusion"]
    assert pipe.stats.rule_failures == {"broken:yard": 150}
    assert pipe.stats.frames == 150
    logged = [record for record in caplog.records if "broken:yard" in record.getMessage()]
    # The first failure with its traceback, then one line per hundred: no flood.
    assert logged[0].getMessage().startswith("gate-2: rule broken:yard failed on the frame at")
    assert logged[0].exc_info is not None
    assert [record.getMessage() for record in logged[1:]] == [
        "gate-2: rule broken:yard has failed on 100 frames"
    ]
