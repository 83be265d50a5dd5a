"""The real models on real footage and photos, scored against labels written by eye."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.model import YoloDetector
from detectors.motion import MotionGate
from detectors.pipeline import CameraPipeline, EvidenceSettings
from detectors.plates import RapidOcrPlateReader, normalise_plate
from detectors.rules import Fall, IllegalParking
from detectors.zones import Zone
from gridwatch.evaluation import CLIP_START, evaluate_clip, evaluate_photos, ultralytics_photo
from ingest.sources import FileSource
from tests.detectors.factories import at

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def onnx_detector(assets: dict[str, Path]) -> YoloDetector:
    return YoloDetector(assets["yolov8n.pt"], backend="onnx")


@pytest.fixture(scope="module")
def fall_detector(assets: dict[str, Path]) -> YoloDetector:
    return YoloDetector(assets["fall-yolov8.pt"], backend="onnx")


def frame_at(clip: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(clip))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    assert ok
    return image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


@pytest.mark.slow
def test_intrusion_on_the_labelled_clip_finds_every_visit_at_its_time(
    onnx_detector: YoloDetector, demo_clip: Path
) -> None:
    labels = DATA / "vtest_east_road.json"
    run = evaluate_clip(labels, demo_clip, onnx_detector)
    score = run.score
    # Measured: recall 1.00, precision 0.88 (3 false alarms in 79.5 s, from id switches of
    # people far up the road). The bounds leave room for CPU-dependent numerics only.
    assert score.recall >= 0.9, score.summary()
    assert score.precision >= 0.8, score.summary()
    assert score.false_alarms <= 4, score.summary()
    visits = json.loads(labels.read_text())["visits"]
    first = min(run.incidents, key=lambda incident: incident.started_at)
    assert abs((first.started_at - CLIP_START).total_seconds() - visits[0]["enter_s"]) <= 2.5


def test_the_detector_finds_the_labelled_objects_in_photos(
    onnx_detector: YoloDetector, assets: dict[str, Path]
) -> None:
    labels = DATA / "photos.json"
    photos = {
        photo["asset"]: assets.get(photo["asset"]) or ultralytics_photo(photo["asset"])
        for photo in json.loads(labels.read_text())["photos"]
    }
    result = evaluate_photos(labels, photos, onnx_detector, confidence=0.4)
    # Measured: recall 0.80 (misses both small ties and the person cut by bus.jpg's edge),
    # precision 0.92 (the pickup is found as a truck and a car).
    assert result.recall >= 0.75, result.per_photo
    assert result.precision >= 0.85, result.per_photo
    assert result.per_photo["bus.jpg"]["person"][1] >= 3


def test_onnx_finds_what_pytorch_finds(
    onnx_detector: YoloDetector, detector: YoloDetector, demo_clip: Path
) -> None:
    image = frame_at(demo_clip, 300)
    from_onnx = onnx_detector.detect(image, confidence=0.4, classes=[0])
    from_torch = detector.detect(image, confidence=0.4, classes=[0])
    assert (onnx_detector.version, onnx_detector.backend) == (detector.version, "onnx")
    assert abs(len(from_onnx) - len(from_torch)) <= 1
    matched = [max(iou(a, b) for b in from_torch.xyxy) for a in from_onnx.xyxy]
    assert np.median(matched) > 0.9


def test_several_frames_in_one_call_match_one_at_a_time(
    onnx_detector: YoloDetector, demo_clip: Path
) -> None:
    images = [frame_at(demo_clip, index) for index in (100, 300)]
    batched = onnx_detector.detect_batch(images, confidence=0.4, classes=[0])
    for image, found in zip(images, batched, strict=True):
        alone = onnx_detector.detect(image, confidence=0.4, classes=[0])
        assert len(found) == len(alone)


def test_the_motion_gate_on_real_frames(demo_clip: Path) -> None:
    still = frame_at(demo_clip, 0)
    rng = np.random.default_rng(1)
    gate = MotionGate(full_check_s=10)
    for step in range(40):  # 20 s of the same view with sensor grain
        grain = rng.normal(0, 3, still.shape)
        gate.update(np.clip(still + grain, 0, 255).astype(np.uint8), now=at(step * 0.5))
    assert gate.stats.inferred == 2  # the first frame and one full check at 10 s
    busy = MotionGate(full_check_s=10)
    for step in range(20):
        busy.update(frame_at(demo_clip, 100 + step * 5), now=at(step * 0.5))
    assert busy.stats.skipped <= 2  # people walk through every frame


def test_standing_people_are_not_fallen(fall_detector: YoloDetector) -> None:
    for photo in ("bus.jpg", "zidane.jpg"):
        found = fall_detector.detect(cv2.imread(str(ultralytics_photo(photo))), confidence=0.4)
        assert len(found) >= 2
        assert set(found.data["class_name"]) == {"Normal"}


def test_a_person_lying_down_raises_a_fall_incident(
    fall_detector: YoloDetector, assets: dict[str, Path]
) -> None:
    # darknet's person.jpg turned on its side: the man lies on the ground.
    lying = cv2.rotate(cv2.imread(str(assets["darknet-person.jpg"])), cv2.ROTATE_90_CLOCKWISE)
    height, width = lying.shape[:2]
    person = np.array([424 - 378, 182, 424 - 97, 289], dtype=float)  # the man, rotated
    zone = Zone(
        "floor",
        ((person[0] / width, person[1] / height), (person[2] / width, person[1] / height),
         (person[2] / width, person[3] / height), (person[0] / width, person[3] / height)),
    )  # fmt: skip
    pipeline = CameraPipeline(
        "ward-3", fall_detector, [zone], [Fall(zone, hold_s=2, anchor="center")],
        classes=["Normal", "Fall"], confidence=0.35,
        evidence=EvidenceSettings(pre_roll_s=1, post_roll_s=1),
    )  # fmt: skip
    incidents = []
    for step in range(8):
        incidents += pipeline.process(lying, now=at(step * 0.5))
    incidents += pipeline.flush()
    assert len(incidents) == 1
    incident = incidents[0]
    assert (incident.rule, incident.category, incident.object_class) == (
        "fall", "health_emergency", "Fall",
    )  # fmt: skip
    # The model's box takes in the dog lying beside him too: it must cover the man.
    box = np.array(incident.box_xyxy)
    covered = (min(box[2], person[2]) - max(box[0], person[0])) * (
        min(box[3], person[3]) - max(box[1], person[1])
    )
    assert covered / ((person[2] - person[0]) * (person[3] - person[1])) > 0.9
    assert incident.model_name == "fall-yolov8" and incident.model_backend == "onnx"


@pytest.mark.slow
def test_the_parked_van_raises_one_illegal_parking_incident(
    onnx_detector: YoloDetector, demo_clip: Path
) -> None:
    # The white van top right stands there the whole clip (checked by eye); 20 s is the limit.
    bay = Zone("loading_bay", ((0.80, 0.10), (0.95, 0.10), (0.95, 0.22), (0.80, 0.22)))
    reader = RapidOcrPlateReader()
    pipeline = CameraPipeline(
        "urban-1", onnx_detector, [bay], [IllegalParking(bay, max_stay_s=20)],
        classes=["car", "truck", "bus", "motorcycle"], confidence=0.4,
        motion_gate=MotionGate(), plate_reader=reader,
        evidence=EvidenceSettings(pre_roll_s=1, post_roll_s=1, clip=False),
    )  # fmt: skip
    source = FileSource(
        "urban-1", demo_clip, detect_fps=2, loop=False, realtime=False, start_time=CLIP_START
    )
    incidents = []
    for _ in range(46):  # 23 s
        frame = source.read()
        assert frame is not None
        incidents += pipeline.process(frame.image, now=frame.timestamp)
    source.close()
    assert len(incidents) == 1
    incident = incidents[0]
    assert (incident.rule, incident.category) == ("illegal_parking", "urban_management")
    assert incident.object_class in {"car", "truck"}
    assert incident.started_at == CLIP_START
    assert (incident.detected_at - CLIP_START).total_seconds() == pytest.approx(20)
    # The van's plate is a few pixels high here: reported as not legible, not guessed.
    assert "plate" in incident.details


def test_a_legible_plate_is_read(demo_clip: Path) -> None:
    # The van from the clip, enlarged, with a plate fitted where its plate would be.
    van = cv2.resize(frame_at(demo_clip, 0)[40:100, 650:725], None, fx=5, fy=5)
    plate = np.full((44, 170, 3), (160, 60, 10), dtype=np.uint8)
    cv2.putText(plate, "A 12345", (8, 33), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    van[220:264, 100:270] = plate
    reading = RapidOcrPlateReader().read(van)
    assert reading is not None and reading.text == "A12345" and reading.confidence > 0.8
    assert RapidOcrPlateReader().read(frame_at(demo_clip, 0)[40:100, 650:725]) is None


@pytest.mark.parametrize(
    ("text", "plate"),
    [("浙A·12345", "浙A12345"), ("A 12345", "A12345"), ("EXIT", None), ("12", None),
     ("NO PARKING", None)],
)  # fmt: skip
def test_only_plate_like_text_is_a_plate(text: str, plate: str | None) -> None:
    assert normalise_plate(text) == plate


def test_clock_of_the_labels_is_utc() -> None:
    assert CLIP_START.tzinfo is UTC and datetime(2026, 1, 1, tzinfo=UTC) < CLIP_START
