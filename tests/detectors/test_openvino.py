"""The OpenVINO backend: the IR converted at set-up from the ONNX export, on real frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.camera import DetectConfig
from detectors.model import YoloDetector, best_backend, file_sha256, openvino_ir_path
from gridwatch.evaluation import evaluate_clip
from gridwatch.worker.assemble import DetectorPool
from tests.detectors.test_real_accuracy import DATA, frame_at, iou


@pytest.fixture(scope="module")
def onnx_detector(assets: dict[str, Path]) -> YoloDetector:
    return YoloDetector(assets["yolov8n.pt"], backend="onnx")


@pytest.fixture(scope="module")
def openvino_detector(assets: dict[str, Path]) -> YoloDetector:
    return YoloDetector(assets["yolov8n.pt"], backend="openvino")


def test_set_up_converts_the_export_to_an_ir_named_by_the_weights_digest(
    assets: dict[str, Path],
) -> None:
    weights = assets["yolov8n.pt"]
    ir = assets["yolov8n.openvino"]
    assert ir == openvino_ir_path(weights, file_sha256(weights))
    assert {path.suffix for path in ir.iterdir()} >= {".xml", ".bin", ".yaml"}
    assert not ir.with_name(ir.name + ".partial").exists()
    assert best_backend(weights, file_sha256(weights)) in ("openvino", "openvino-int8")


def test_openvino_finds_what_onnx_runtime_finds_on_demo_frames(
    onnx_detector: YoloDetector, openvino_detector: YoloDetector, demo_clip: Path
) -> None:
    assert openvino_detector.backend == "openvino"
    assert openvino_detector.version == onnx_detector.version
    assert openvino_detector.class_names == onnx_detector.class_names
    for index in (100, 300, 600):
        image = frame_at(demo_clip, index)
        from_onnx = onnx_detector.detect(image, confidence=0.4, classes=[0])
        from_openvino = openvino_detector.detect(image, confidence=0.4, classes=[0])
        assert len(from_onnx) >= 3
        # The same FP32 graph: the same people, boxes within rounding.
        assert len(from_openvino) == len(from_onnx)
        for box in from_openvino.xyxy:
            assert max(iou(box, other) for other in from_onnx.xyxy) > 0.95
        assert np.allclose(
            np.sort(from_openvino.confidence), np.sort(from_onnx.confidence), atol=0.02
        )


def test_openvino_with_fewer_threads_finds_the_same(
    openvino_detector: YoloDetector, assets: dict[str, Path], demo_clip: Path
) -> None:
    one_core = YoloDetector(assets["yolov8n.pt"], backend="openvino", threads=1)
    image = frame_at(demo_clip, 300)
    alone = one_core.detect(image, confidence=0.4, classes=[0])
    assert len(alone) == len(openvino_detector.detect(image, confidence=0.4, classes=[0]))


@pytest.mark.slow
def test_a_camera_on_openvino_raises_the_demo_incidents(demo_clip: Path) -> None:
    from contract.camera import default_data_dir

    detector = DetectorPool(default_data_dir()).get(DetectConfig(backend="openvino"))
    assert detector.backend == "openvino"
    run = evaluate_clip(DATA / "vtest_east_road.json", demo_clip, detector)
    # The same bounds as through ONNX Runtime (recall 1.00, precision 0.88 measured).
    assert run.score.recall >= 0.9, run.score.summary()
    assert run.score.precision >= 0.8, run.score.summary()
    assert {incident.model_backend for incident in run.incidents} == {"openvino"}
