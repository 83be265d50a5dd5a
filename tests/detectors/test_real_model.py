"""The real YOLOv8n COCO model on the real demo footage."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.pipeline import CameraPipeline
from detectors.rules import ZoneIntrusion
from detectors.zones import Zone
from ingest.sources import FileSource

START = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def frame_at(clip: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(clip))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    assert ok
    return image


def test_people_on_the_campus_path_are_found(detector, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    # Frame 300 shows seven pedestrians on the path (checked by eye).
    detections = detector.detect(frame_at(demo_clip, 300), confidence=0.4, classes=[0])
    assert 5 <= len(detections) <= 9
    assert set(detections.data["class_name"]) == {"person"}
    heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
    widths = detections.xyxy[:, 2] - detections.xyxy[:, 0]
    assert np.all(heights > widths)  # upright people
    assert np.all((heights > 30) & (heights < 200))
    assert detector.version == "f59b3d833e2f"


@pytest.mark.slow
def test_pipeline_turns_people_in_a_zone_into_deduplicated_incidents(
    detector, demo_clip: Path
) -> None:  # type: ignore[no-untyped-def]
    zone = Zone("path", ((0.0, 0.3), (1.0, 0.3), (1.0, 0.9), (0.0, 0.6)))
    pipeline = CameraPipeline(
        "cam", detector, [zone],
        [ZoneIntrusion(zone, {"person"}, min_frames=3, cooldown_s=600, anchor="center")],
        classes=["person"], confidence=0.4,
    )  # fmt: skip
    source = FileSource(
        "cam", demo_clip, detect_fps=2, loop=False, realtime=False, start_time=START
    )
    incidents = []
    for _ in range(60):  # the first 30 s
        frame = source.read()
        assert frame is not None
        incidents += pipeline.process(frame.image, now=frame.timestamp)
    source.close()

    assert len(incidents) >= 3
    assert len({incident.track_id for incident in incidents}) == len(incidents)
    assert len({incident.id for incident in incidents}) == len(incidents)
    for incident in incidents:
        x1, y1, x2, y2 = incident.box_xyxy
        centre = np.array([[(x1 + x2) / 2 / 768, (y1 + y2) / 2 / 576]])
        assert zone.contains_points(centre).tolist() == [True]
        assert incident.started_at < incident.detected_at
        assert (incident.detected_at - incident.started_at).total_seconds() == pytest.approx(1.0)
        picture = cv2.imdecode(np.frombuffer(incident.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape == (576, 768, 3)
        assert hashlib.sha256(incident.snapshot_jpeg).hexdigest() == incident.snapshot_sha256
        # The offending box is drawn in red on the evidence.
        bx1, by1 = int(x1), int(y1)
        patch = picture[max(0, by1 - 2) : by1 + 3, bx1 : int(x2)].reshape(-1, 3).astype(int)
        assert np.any((patch[:, 2] > 150) & (patch[:, 1] < 110) & (patch[:, 0] < 110))


def test_one_detector_serves_several_threads_at_once(model_path: Path, demo_clip: Path) -> None:
    """A worker's detection threads share one detector: each thread runs its own copy of the
    ONNX model with the cores it was given, and gets the same answers as a single thread."""
    from concurrent.futures import ThreadPoolExecutor

    from detectors.model import YoloDetector

    detector = YoloDetector(model_path, backend="onnx", threads=1)
    frames = [frame_at(demo_clip, index) for index in (100, 300, 500, 700)]
    alone = [detector.detect(frame, confidence=0.4, classes=[0]) for frame in frames]

    sessions = {}

    def detect(index: int) -> tuple[int, object]:
        found = detector.detect(frames[index % 4], confidence=0.4, classes=[0])
        model = detector._thread_model()
        sessions[threading.get_ident()] = model.predictor.model.backend.session
        return index % 4, found

    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(detect, range(12)))

    assert all(len(found) > 0 for found in alone)  # people on the path in every frame
    for index, found in together:
        assert np.allclose(found.xyxy, alone[index].xyxy, atol=0.5)
        assert found.class_id.tolist() == alone[index].class_id.tolist()
    assert len(sessions) == 2
    assert len({id(session) for session in sessions.values()}) == 2
    for session in sessions.values():
        assert session.get_session_options().intra_op_num_threads == 1


def test_detector_threads_must_be_positive(model_path: Path) -> None:
    from detectors.model import YoloDetector

    with pytest.raises(ValueError, match="threads"):
        YoloDetector(model_path, backend="onnx", threads=0)
